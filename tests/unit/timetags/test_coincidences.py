"""Coincidence counts and correlation histograms against the pair-by-pair reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labctl.timetags import _scan, coincidences
from labctl.timetags.coincidences import (
    channel_pair_times,
    channel_times,
    coincidences_per_tag,
    correlation_histogram,
    correlation_histogram_in_stream,
    count_coincidences,
    count_coincidences_in_stream,
)
from tests.unit.timetags import reference
from tests.unit.timetags.streams import D0, D1, SYNC, attempt_stream

sorted_times = st.lists(st.integers(0, 200), max_size=30).map(sorted)


@settings(max_examples=200, deadline=None)
@given(a=sorted_times, b=sorted_times, window=st.integers(0, 20), delay=st.integers(-30, 30))
def test_coincidences_per_tag_match_the_reference(a, b, window, delay):
    got = coincidences_per_tag(np.array(a, dtype=np.int64), np.array(b, dtype=np.int64),
                               window, delay)
    expected = reference.coincidences_per_tag(a, b, window, delay)
    assert got.tolist() == expected
    assert count_coincidences(a, b, window, delay) == sum(expected)


@settings(max_examples=200, deadline=None)
@given(a=sorted_times, b=sorted_times, low=st.integers(-60, 10), width=st.integers(1, 7),
       bins=st.integers(1, 25))
def test_correlation_histogram_matches_the_reference(a, b, low, width, bins):
    high = low + width * bins
    got = correlation_histogram(a, b, width, (low, high))
    assert got.counts.tolist() == reference.correlation_counts(a, b, width, low, high)
    assert got.edges_ps.tolist() == list(range(low, high + 1, width))


def test_several_partners_per_tag_are_all_counted():
    a = np.array([100, 101, 500])
    b = np.array([95, 98, 100, 100, 103, 106, 498])
    assert coincidences_per_tag(a, b, 5).tolist() == [5, 5, 1]
    assert count_coincidences(a, b, 5) == 11
    assert count_coincidences(a, b, 0) == 2  # exact ties count, both copies
    assert count_coincidences(a, b, 2, delay_ps=-2) == 7  # 98, 100, 100 twice; 498
    histogram = correlation_histogram(a, b, 5, (-10, 10))
    assert histogram.counts.tolist() == [1, 6, 4, 2]  # [-10,-5), [-5,0), [0,5), [5,10)


def test_window_edges_are_included():
    a = np.array([100])
    assert count_coincidences(a, np.array([90, 110]), 10) == 2
    assert count_coincidences(a, np.array([89, 111]), 10) == 0
    assert count_coincidences(a, np.array([120, 140]), 10, delay_ps=30) == 2


def test_empty_inputs():
    empty = np.zeros(0, dtype=np.int64)
    assert count_coincidences(empty, [1, 2], 5) == 0
    assert count_coincidences([1, 2], empty, 5) == 0
    assert coincidences_per_tag([1, 2], [], 5).tolist() == [0, 0]
    assert correlation_histogram([], [1], 2, (0, 10)).counts.tolist() == [0] * 5


def test_blocked_searches_and_pair_chunks_match_the_reference(monkeypatch):
    monkeypatch.setattr(_scan, "KEY_BLOCK", 8)
    monkeypatch.setattr(coincidences, "PAIR_CHUNK", 16)
    rng = np.random.default_rng(31)
    for _ in range(20):
        a = np.sort(rng.integers(0, 3000, int(rng.integers(0, 300))))
        b = np.sort(rng.integers(0, 3000, int(rng.integers(0, 300))))
        window, delay = int(rng.integers(0, 30)), int(rng.integers(-30, 30))
        assert coincidences_per_tag(a, b, window, delay).tolist() == \
            reference.coincidences_per_tag(a.tolist(), b.tolist(), window, delay)
        assert correlation_histogram(a, b, 5, (-100, 100)).counts.tolist() == \
            reference.correlation_counts(a.tolist(), b.tolist(), 5, -100, 100)


def test_one_start_with_more_pairs_than_a_chunk(monkeypatch):
    monkeypatch.setattr(coincidences, "PAIR_CHUNK", 4)
    b = np.arange(0, 100)
    histogram = correlation_histogram([50], b, 10, (-50, 50))
    assert histogram.counts.tolist() == [10] * 10


@pytest.mark.parametrize("sync_share", [0.0, 0.5, 0.99])
def test_stream_versions_pick_the_channels(sync_share):
    rng = np.random.default_rng(32)
    n = 20_000
    ch = np.where(rng.random(n) < sync_share, SYNC, rng.choice([D0, D1, 4], n)).astype(np.uint8)
    t = np.sort(rng.integers(0, 50 * n, n))
    a, b = t[ch == D0], t[ch == D1]
    assert channel_times(ch, t, D0).tolist() == a.tolist()
    pair = channel_pair_times(ch, t, D0, D1)
    assert pair[0].tolist() == a.tolist() and pair[1].tolist() == b.tolist()
    assert count_coincidences_in_stream(ch, t, D0, D1, 40, 7) == reference_count(a, b, 40, 7)
    histogram = correlation_histogram_in_stream(ch, t, D0, D1, 10, (-200, 200))
    assert histogram.counts.tolist() == reference_histogram(a, b, 10, -200, 200)


def reference_count(a, b, window, delay):
    """Pairs by brute force, in blocks of a (numpy, for streams too long for pure Python)."""
    total = 0
    for start in range(0, len(a), 500):
        block = a[start:start + 500]
        total += int(np.count_nonzero(np.abs(b[None, :] - block[:, None] - delay) <= window))
    return total


def reference_histogram(a, b, width, low, high):
    counts = np.zeros((high - low) // width, dtype=np.int64)
    for start in range(0, len(a), 500):
        differences = (b[None, :] - a[start:start + 500, None]).ravel()
        inside = differences[(differences >= low) & (differences < high)]
        counts += np.bincount((inside - low) // width, minlength=len(counts))
    return counts.tolist()


def test_herald_stream_coincidences():
    rng = np.random.default_rng(33)
    ch, t = attempt_stream(rng, 5000, period=1000, offsets=[100], window=50,
                           click_rate=0.3, dark=100)
    a, b = t[ch == D0], t[ch == D1]
    assert count_coincidences_in_stream(ch, t, D0, D1, 20) == reference_count(a, b, 20, 0) > 0


@pytest.mark.parametrize(("call", "message"), [
    (lambda: count_coincidences([1], [2], -1), "window_ps must not be negative"),
    (lambda: count_coincidences([1], [2], 1.5), "window_ps must be an integer"),
    (lambda: count_coincidences([2, 1], [2], 1), "times_a must be sorted"),
    (lambda: count_coincidences([1], [3, 2], 1), "times_b must be sorted"),
    (lambda: count_coincidences([1.0], [2], 1), "times_a must be integers"),
    (lambda: correlation_histogram([1], [2], 0, (0, 10)), "bin_width_ps must be positive"),
    (lambda: correlation_histogram([1], [2], 3, (0, 10)), "whole number"),
    (lambda: correlation_histogram([1], [2], 5, (10, 0)), "high > low"),
    (lambda: count_coincidences_in_stream([D0], [0], D0, D0, 5), "both 2"),
    (lambda: channel_times([D0], [0], 0), "channel must be a channel number"),
])
def test_bad_input_is_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_an_unsorted_stream_is_refused():
    rng = np.random.default_rng(34)
    t = np.sort(rng.integers(0, 10**6, 10_000))
    ch = rng.choice([D0, D1], 10_000).astype(np.uint8)
    with pytest.raises(ValueError, match="must be sorted"):
        count_coincidences_in_stream(ch, t[::-1].copy(), D0, D1, 5)
    t = t.copy()
    t[[10, 20]] = t[[20, 10]]  # one swapped pair: found in the extracted channel times
    ch[[10, 20]] = D0
    with pytest.raises(ValueError, match="must be sorted"):
        count_coincidences_in_stream(ch, t, D0, D1, 5)
