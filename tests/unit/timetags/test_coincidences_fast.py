"""The close-gap filter of coincidence counting against the pair-by-pair reference and the search.

`count_coincidences` and `count_coincidences_in_stream` count on the tags
next to a close gap of the merged (or stream) order and fall back to the
plain binary search (`coincidences._per_tag`, the original implementation)
only for out-of-range times or when the filter cannot pay off. These tests
shrink the blocks and chunks so that short hypothesis streams cross many of
them, forbid the fallback where it must not be needed, and compare with the
reference and with the original implementation, errors included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labctl.timetags import _scan, coincidences
from labctl.timetags.coincidences import (
    SAFE_PS,
    channel_pair_times,
    coincidences_per_tag,
    count_coincidences,
    count_coincidences_in_stream,
)
from tests.unit.timetags import reference
from tests.unit.timetags.streams import D0, D1, OTHER, SYNC

#: Tiny blocks, chunks and probes: every branch of the filter on a few dozen tags.
TINY = {"SCAN_BLOCK": 8, "MERGE_CHUNK": 4, "PROBE": 16, "STEPS": 2, "KEY_SPAN": 64}


def forbidden(*args: object) -> None:
    raise AssertionError("the plain search was used")


@contextmanager
def tiny(search: bool = False, **overrides: object) -> Iterator[None]:
    """`TINY` constants, the filter never given up; with ``search=False`` no fallback either."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {**TINY, "CLOSE_SHARE": 2.0, **overrides}.items():
            patch.setattr(coincidences, name, value)
        if not search:
            patch.setattr(coincidences, "_per_tag", forbidden)
        yield


@st.composite
def clustered_times(draw: st.DrawFn, span: int = 400, spread: int = 40) -> list[int]:
    """Sorted times in clusters (ties, several partners per tag) and isolated tags."""
    times: list[int] = []
    for centre in draw(st.lists(st.integers(0, span), max_size=12)):
        offsets = draw(st.lists(st.integers(0, spread), min_size=1, max_size=6))
        times += [centre + offset for offset in offsets]
    return sorted(times)


@st.composite
def tag_streams(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    """Channels and sorted times of a stream: both detectors, another channel, syncs."""
    times = draw(clustered_times(span=600))
    channels = draw(st.lists(st.sampled_from([D0, D0, D1, D1, OTHER, SYNC]),
                             min_size=len(times), max_size=len(times)))
    return channels, times


windows = st.one_of(st.integers(0, 50), st.sampled_from([0, 1, 1000]))
delays = st.one_of(st.integers(-70, 70), st.sampled_from([0, -1, 1, -10**6, 10**6]))
#: Offsets of all times that keep the filter's arithmetic in range (58-bit tagger times).
safe_bases = st.sampled_from([0, 10**6, -(2**58), 2**58 - 1, 2**60 - 10**7])


def expected_pairs(a: list[int], b: list[int], window: int, delay: int) -> int:
    return sum(reference.coincidences_per_tag(a, b, window, delay))


def stream_arrays(channels: list[int], times: list[int],
                  base: int) -> tuple[np.ndarray, np.ndarray]:
    return np.array(channels, dtype=np.uint8), np.array(times, dtype=np.int64) + base


def on_channel(channels: list[int], times: list[int], channel: int) -> list[int]:
    return [t for c, t in zip(channels, times, strict=True) if c == channel]


def outcome(call: Callable[[], object]) -> tuple[str, object]:
    """A call's result, or its `ValueError` message: errors must match too."""
    try:
        return "value", call()
    except ValueError as error:
        return "error", str(error)


def searched_in_stream(channels: object, timestamps: object, window: object,
                       delay: object = 0) -> int:
    """The original in-stream count: extract both channels, binary-search every tag."""
    times_a, times_b = channel_pair_times(channels, timestamps, D0, D1)
    return int(coincidences_per_tag(times_a, times_b, window, delay).sum())


@settings(max_examples=300, deadline=None)
@given(a=clustered_times(), b=clustered_times(), window=windows, delay=delays, base=safe_bases)
def test_two_array_count_matches_the_reference(a, b, window, delay, base):
    expected = expected_pairs(a, b, window, delay)
    times_a = np.array(a, dtype=np.int64) + base
    times_b = np.array(b, dtype=np.int64) + base
    assert count_coincidences(times_a, times_b, window, delay) == expected
    with tiny():
        assert count_coincidences(times_a, times_b, window, delay) == expected
    with tiny(KEY_SPAN=1 << 31):  # every chunk as 32-bit keys
        assert count_coincidences(times_a, times_b, window, delay) == expected
    with tiny(KEY_SPAN=0):  # every chunk as int64 codes
        assert count_coincidences(times_a, times_b, window, delay) == expected


@settings(max_examples=300, deadline=None)
@given(stream=tag_streams(), window=windows, delay=delays, base=safe_bases)
def test_stream_count_matches_the_reference(stream, window, delay, base):
    channels, times = stream
    expected = expected_pairs(on_channel(channels, times, D0),
                              on_channel(channels, times, D1), window, delay)
    ch, t = stream_arrays(channels, times, base)
    assert count_coincidences_in_stream(ch, t, D0, D1, window, delay) == expected
    with tiny():
        assert count_coincidences_in_stream(ch, t, D0, D1, window, delay) == expected
        assert count_coincidences_in_stream(ch.astype(np.int64), t, D0, D1, window,
                                            delay) == expected
    with tiny(search=True, PROBE=0, CLOSE_SHARE=0.0):  # the filter given up at once
        assert count_coincidences_in_stream(ch, t, D0, D1, window, delay) == expected


@settings(max_examples=150, deadline=None)
@given(stream=tag_streams(), window=windows, delay=delays,
       base=st.sampled_from([2**62, -(2**62), 2**60 - 300, -(2**60) + 200]),
       shift=st.sampled_from([0, 2**61, -(2**61)]))
def test_times_beyond_the_safe_range_are_searched(stream, window, delay, base, shift):
    channels, times = stream
    delay += shift
    expected = expected_pairs(on_channel(channels, times, D0),
                              on_channel(channels, times, D1), window, delay)
    ch, t = stream_arrays(channels, times, base)
    with tiny(search=True):
        assert count_coincidences_in_stream(ch, t, D0, D1, window, delay) == expected
        assert count_coincidences(t[ch == D0], t[ch == D1], window, delay) == expected
    assert count_coincidences_in_stream(ch, t, D0, D1, window, delay) == expected


@settings(max_examples=300, deadline=None)
@given(stream=tag_streams(), window=st.one_of(windows, st.sampled_from([-1, 1.5, 2.0])),
       delay=st.one_of(delays, st.sampled_from([0.5, 3.0])),
       swaps=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)), max_size=2),
       reverse=st.booleans())
def test_unsorted_streams_and_bad_arguments_behave_as_before(stream, window, delay, swaps,
                                                             reverse):
    channels, times = stream
    ch, t = stream_arrays(channels, times, 0)
    if reverse:
        t = t[::-1].copy()
    for i, j in swaps:
        if len(t):
            i, j = i % len(t), j % len(t)
            t[[i, j]] = t[[j, i]]
    before = outcome(lambda: searched_in_stream(ch, t, window, delay))
    assert outcome(lambda: count_coincidences_in_stream(ch, t, D0, D1, window, delay)) == before
    with tiny(search=True):
        assert outcome(lambda: count_coincidences_in_stream(ch, t, D0, D1, window,
                                                            delay)) == before
    with tiny(search=True), pytest.MonkeyPatch.context() as patch:
        patch.setattr(_scan, "SAMPLE", 2)  # the cheap sample check misses most falls
        before = outcome(lambda: searched_in_stream(ch, t, window, delay))
        assert outcome(lambda: count_coincidences_in_stream(ch, t, D0, D1, window,
                                                            delay)) == before
    a, b = t[ch == D0], t[ch == D1]
    assert outcome(lambda: count_coincidences(a, b, window, delay)) == \
        outcome(lambda: int(coincidences_per_tag(a, b, window, delay).sum()))


def dense_stream(rng: np.random.Generator, n: int, spacing: int,
                 channels: tuple[int, ...] = (D0, D1)) -> tuple[np.ndarray, np.ndarray]:
    """Random tags on ``channels`` with a tenth in near-coincident pairs (the benchmark's shape)."""
    t = rng.integers(0, n * spacing, n)
    partner = np.flatnonzero(rng.random(n) < 0.1)
    t[partner[1::2]] = t[partner[0::2][:len(partner[1::2])]] \
        + rng.integers(-500, 500, len(partner[1::2]))
    order = np.argsort(t, kind="stable")
    return rng.choice(channels, n).astype(np.uint8), np.maximum(t[order], 0)


@pytest.mark.parametrize("window", [0, 1, 100, 1000, 30_000, 10**6])
@pytest.mark.parametrize("delay", [0, 1, -1, 700, -5000, 95_000, -(10**7)])
@pytest.mark.parametrize("others", [(D0, D1), (D0, D1, OTHER), (SYNC, SYNC, SYNC, D0, D1)])
def test_dense_streams_count_as_the_search_does(window, delay, others):
    rng = np.random.default_rng(abs(window + 7 * delay) + len(others))
    ch, t = dense_stream(rng, 30_000, 20_000, others)
    a, b = channel_pair_times(ch, t, D0, D1)
    expected = int(coincidences_per_tag(a, b, window, delay).sum())
    assert count_coincidences_in_stream(ch, t, D0, D1, window, delay) == expected
    assert count_coincidences(a, b, window, delay) == expected
    assert count_coincidences(b, a, window, -delay) == expected
    with tiny(search=True, SCAN_BLOCK=256, MERGE_CHUNK=64, PROBE=1024, KEY_SPAN=1 << 20):
        assert count_coincidences_in_stream(ch, t, D0, D1, window, delay) == expected
        assert count_coincidences(a, b, window, delay) == expected


@pytest.mark.parametrize("channel", [OTHER, D0, D1])
@pytest.mark.parametrize("delay", [0, 300])
def test_one_swapped_pair_in_a_long_stream(channel, delay):
    rng = np.random.default_rng(41)
    ch, t = dense_stream(rng, 100_000, 20_000, (D0, D1, OTHER))
    t = t.copy()
    i = 50_001 + int(np.argmax(t[50_001:] > t[50_000]))  # swap with a different time
    ch[[50_000, i]] = channel
    t[[50_000, i]] = t[[i, 50_000]]
    before = outcome(lambda: searched_in_stream(ch, t, 1000, delay))
    assert (before[0] == "error") == (channel != OTHER)
    assert outcome(lambda: count_coincidences_in_stream(ch, t, D0, D1, 1000, delay)) == before


def test_ties_and_window_zero():
    a = np.array([5, 5, 7, 20])
    b = np.array([5, 7, 7, 21])
    assert count_coincidences(a, b, 0) == 4  # 5: two a with one b; 7: one a with two b
    assert count_coincidences(a, b, 0, delay_ps=1) == 1  # 20 -> 21
    assert count_coincidences(a, b, 1) == 5  # 5 and 7 are two apart
    ch = np.array([D0, D1, D0, D0, D1, D1, D0, D1], dtype=np.uint8)
    t = np.array([5, 5, 5, 7, 7, 7, 20, 21])
    assert count_coincidences_in_stream(ch, t, D0, D1, 0) == 4
    assert count_coincidences_in_stream(ch, t, D1, D0, 0, delay_ps=-1) == 1


def test_empty_and_single_channel_streams():
    t = np.arange(0, 1000, 10)
    only_a = np.full(len(t), D0, dtype=np.uint8)
    assert count_coincidences_in_stream(only_a, t, D0, D1, 100) == 0
    assert count_coincidences_in_stream(only_a, t, D0, D1, 100, 5) == 0
    assert count_coincidences_in_stream(only_a[:0], t[:0], D0, D1, 100) == 0
    assert count_coincidences_in_stream(only_a[:1], t[:1], D0, D1, 100) == 0
    assert count_coincidences([], [], 3) == 0


def test_many_partners_per_tag_are_counted_past_the_steps():
    rng = np.random.default_rng(40)
    a = np.sort(rng.integers(0, 200, 300))
    b = np.sort(rng.integers(0, 200, 300))
    expected = expected_pairs(a.tolist(), b.tolist(), 15, 3)
    with tiny():
        assert count_coincidences(a, b, 15, 3) == expected
        ch = np.repeat(np.array([D0, D1], dtype=np.uint8), 300)
        t = np.concatenate([a, b])
        order = np.argsort(t, kind="stable")
        assert count_coincidences_in_stream(ch[order], t[order], D0, D1, 15, 3) == expected
    assert count_coincidences(a, b, 15, 3) == expected  # the filter gives up: plain search


def test_58_bit_tagger_times_are_filtered_not_searched():
    t = np.array([2**58 - 10, 2**58 - 3, 2**58, 2**58 + 1, 2**58 + 2**40])
    ch = np.array([D0, D1, D0, D1, D1], dtype=np.uint8)
    assert t[-1] + 2**40 < SAFE_PS
    with tiny():
        assert count_coincidences_in_stream(ch, t, D0, D1, 3) == 2
        assert count_coincidences_in_stream(ch, t, D0, D1, 3, delay_ps=2**40 - 2) == 1
        assert count_coincidences(t[ch == D0], t[ch == D1], 7, delay_ps=-(2**40)) == 0
