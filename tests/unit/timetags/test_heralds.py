"""Herald extraction (single click and Barrett–Kok) against the tag-by-tag reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labctl.physics.link import LinkParameters
from labctl.physics.sampling import Timing, sample_attempts
from labctl.timetags import _scan
from labctl.timetags.heralds import (
    PSI_MINUS,
    PSI_PLUS,
    Heralds,
    extract_barrett_kok_heralds,
    extract_heralds,
)
from tests.unit.timetags import reference
from tests.unit.timetags.streams import D0, D1, OTHER, SYNC, attempt_stream, random_stream


def as_tuples(heralds: Heralds):
    return list(zip(heralds.sync_ps.tolist(), heralds.detector.tolist(),
                    heralds.delay_ps.tolist(), strict=True))


def bk_tuples(heralds):
    return [(s, tuple(d), tuple(x)) for s, d, x in zip(
        heralds.sync_ps.tolist(), heralds.detectors.tolist(), heralds.delays_ps.tolist(),
        strict=True)]


def assert_single_click(ch, t, window, offset):
    got = extract_heralds(ch, t, SYNC, (D0, D1), window, offset)
    heralds, attempts, clicks = reference.single_click_heralds(
        ch.tolist(), t.tolist(), SYNC, (D0, D1), window, offset)
    assert as_tuples(got) == heralds
    assert (got.attempts, got.clicks_in_windows) == (attempts, clicks)
    assert got.sync_ps.dtype == np.int64 and got.detector.dtype == np.int8
    return got


def previous_extract_heralds(channels, timestamps, sync_channel, detector_channels, window,
                             offset):
    """The implementation this module replaced (sorts the syncs, one bincount per attempt)."""
    syncs = np.sort(timestamps[channels == sync_channel])
    is_click = np.isin(channels, detector_channels)
    clicks = timestamps[is_click]
    detector = (channels[is_click] == detector_channels[1]).astype(np.int8)
    if len(syncs) == 0 or len(clicks) == 0:
        return [], len(syncs), 0
    owner = np.searchsorted(syncs, clicks - offset, side="right") - 1
    delay = clicks - offset - syncs[np.maximum(owner, 0)]
    inside = (owner >= 0) & (delay >= 0) & (delay <= window)
    owner, detector, delay = owner[inside], detector[inside], delay[inside]
    chosen = (np.bincount(owner, minlength=len(syncs)) == 1)[owner]
    heralds = list(zip(syncs[owner[chosen]].tolist(), detector[chosen].tolist(),
                       (delay[chosen] + offset).tolist(), strict=True))
    return heralds, len(syncs), int(inside.sum())


@pytest.mark.parametrize("sync_share", [0.2, 0.5, 0.8])
def test_single_click_matches_the_reference_on_random_streams(sync_share):
    rng = np.random.default_rng(11)
    for _ in range(150):
        ch, t = random_stream(rng, int(rng.integers(0, 80)), sync_share)
        assert_single_click(ch, t, int(rng.integers(1, 30)), int(rng.integers(-15, 25)))


@settings(max_examples=150, deadline=None)
@given(tags=st.lists(st.tuples(st.sampled_from([SYNC, D0, D1, OTHER]),
                               st.integers(0, 60)), max_size=40),
       window=st.integers(1, 20), offset=st.integers(-10, 20))
def test_single_click_matches_the_reference_hypothesis(tags, window, offset):
    tags = sorted(tags, key=lambda tag: tag[1])
    ch = np.array([c for c, _ in tags], dtype=np.uint8)
    t = np.array([x for _, x in tags], dtype=np.int64)
    assert_single_click(ch, t, window, offset)


@pytest.mark.parametrize("attempts", [1000, 4099])  # 4099: a stream length not a multiple of 8
def test_single_click_matches_the_previous_implementation_on_long_streams(attempts):
    rng = np.random.default_rng(5)
    ch, t = attempt_stream(rng, attempts, period=1000, offsets=[100], window=50,
                           click_rate=0.05, dark=40)
    got = extract_heralds(ch, t, SYNC, (D0, D1), 50, 100)
    heralds, n_syncs, clicks = previous_extract_heralds(ch, t, SYNC, (D0, D1), 50, 100)
    assert as_tuples(got) == heralds
    assert (got.attempts, got.clicks_in_windows) == (n_syncs, clicks)
    assert got.count > 10


@pytest.mark.parametrize("block", [64, _scan.BLOCK])
def test_dense_detector_blocks_take_the_byte_compare_path(block, monkeypatch):
    # mostly syncs overall, but a stretch where every tag is a click
    monkeypatch.setattr(_scan, "BLOCK", block)
    rng = np.random.default_rng(2)
    ch, t = attempt_stream(rng, 20_000, period=100, offsets=[10], window=20, click_rate=0.01)
    burst = np.arange(10_000, 11_000)
    ch[burst] = rng.choice([D0, D1], len(burst))
    got = extract_heralds(ch, t, SYNC, (D0, D1), 20, 10)
    assert as_tuples(got) == previous_extract_heralds(ch, t, SYNC, (D0, D1), 20, 10)[0]


def test_empty_stream_and_streams_without_syncs_or_clicks():
    empty = extract_heralds(np.zeros(0, np.uint8), np.zeros(0, np.int64), SYNC, (D0, D1), 10)
    assert (empty.count, empty.attempts, empty.clicks_in_windows) == (0, 0, 0)
    assert extract_heralds([], [], SYNC, (D0, D1), 10).count == 0
    only_clicks = extract_heralds(np.array([D0, D1, D0]), np.array([1, 2, 3]), SYNC, (D0, D1), 10)
    assert (only_clicks.count, only_clicks.attempts) == (0, 0)
    only_syncs = extract_heralds(np.full(5, SYNC), np.arange(5), SYNC, (D0, D1), 10)
    assert (only_syncs.count, only_syncs.attempts, only_syncs.clicks_in_windows) == (0, 5, 0)


def test_clicks_before_the_first_sync_belong_to_no_attempt():
    got = extract_heralds(np.array([D0, D1, SYNC, D0]), np.array([0, 5, 10, 12]),
                          SYNC, (D0, D1), 5)
    assert as_tuples(got) == [(10, 0, 2)]
    assert got.clicks_in_windows == 1


@pytest.mark.parametrize(("click", "inside"), [(109, False), (110, True), (115, True),
                                               (120, True), (121, False)])
def test_window_edges_are_included(click, inside):
    # sync at 100, offset 10, window 10: the window is [110, 120]
    got = extract_heralds(np.array([SYNC, D1]), np.array([100, click]), SYNC, (D0, D1), 10, 10)
    assert as_tuples(got) == ([(100, 1, click - 100)] if inside else [])
    assert got.clicks_in_windows == int(inside)


@pytest.mark.parametrize("second", [D0, D1])
def test_two_clicks_in_one_window_are_no_herald(second):
    ch = np.array([SYNC, D0, second, SYNC, D1])
    t = np.array([0, 3, 4, 100, 102])
    got = extract_heralds(ch, t, SYNC, (D0, D1), 10)
    assert as_tuples(got) == [(100, 1, 2)]
    assert got.clicks_in_windows == 3


def test_a_click_belongs_to_the_latest_sync_even_with_overlapping_windows():
    # windows of 50 from syncs at 0 and 20 overlap; the click at 30 is the second's
    got = extract_heralds(np.array([SYNC, SYNC, D0]), np.array([0, 20, 30]), SYNC, (D0, D1), 50)
    assert as_tuples(got) == [(20, 0, 10)]


def test_negative_offset_looks_before_the_sync():
    got = extract_heralds(np.array([D1, SYNC]), np.array([95, 100]), SYNC, (D0, D1), 10, -10)
    assert as_tuples(got) == [(100, 1, -5)]


def test_int_channels_and_unsigned_timestamps_are_accepted():
    got = extract_heralds(np.array([SYNC, D0], dtype=np.int64),
                          np.array([0, 5], dtype=np.uint64), SYNC, (D0, D1), 10)
    assert as_tuples(got) == [(0, 0, 5)]


def test_barrett_kok_matches_the_reference_on_random_streams():
    rng = np.random.default_rng(3)
    for _ in range(200):
        ch, t = random_stream(rng, int(rng.integers(0, 80)), float(rng.uniform(0.2, 0.8)))
        window = int(rng.integers(1, 15))
        first = int(rng.integers(-10, 10))
        offsets = (first, first + window + int(rng.integers(1, 20)))
        got = extract_barrett_kok_heralds(ch, t, SYNC, (D0, D1), window, offsets)
        heralds, attempts, clicks = reference.barrett_kok_heralds(
            ch.tolist(), t.tolist(), SYNC, (D0, D1), window, offsets)
        assert bk_tuples(got) == heralds
        assert (got.attempts, got.clicks_in_windows) == (attempts, clicks)


def test_barrett_kok_matches_the_reference_on_attempt_streams():
    rng = np.random.default_rng(4)
    ch, t = attempt_stream(rng, 300, period=200, offsets=[10, 80], window=30,
                           click_rate=0.8, dark=20)
    got = extract_barrett_kok_heralds(ch, t, SYNC, (D0, D1), 30, (10, 80))
    heralds, attempts, clicks = reference.barrett_kok_heralds(
        ch.tolist(), t.tolist(), SYNC, (D0, D1), 30, (10, 80))
    assert bk_tuples(got) == heralds
    assert (got.attempts, got.clicks_in_windows) == (attempts, clicks)
    assert got.count > 5


def test_barrett_kok_same_detector_is_psi_plus_different_is_psi_minus():
    # rounds [10, 20] and [50, 60] after syncs at 0, 100, 200, 300
    ch = np.array([SYNC, D0, D0, SYNC, D0, D1, SYNC, D1, SYNC, D1, D1, D0])
    t = np.array([0, 12, 55, 100, 110, 160, 200, 215, 300, 310, 312, 355])
    got = extract_barrett_kok_heralds(ch, t, SYNC, (D0, D1), 10, (10, 50))
    # attempt 200 lacks a round-2 click, attempt 300 has two round-1 clicks
    assert bk_tuples(got) == [(0, (0, 0), (12, 55)), (100, (0, 1), (10, 60))]
    assert got.target.tolist() == [PSI_PLUS, PSI_MINUS]
    assert got.target.dtype == np.int8
    assert (got.attempts, got.clicks_in_windows) == (4, 8)


def test_barrett_kok_heralds_and_targets_agree_with_the_physics_sampler():
    params = LinkParameters(protocol="barrett-kok", eta_a=0.3, eta_b=0.3,
                            dark_count_rate=1e4)
    sampled = sample_attempts(params, 200_000, np.random.default_rng(8),
                              Timing(jitter=0.0))
    period, offsets = 5_500_000, (100_000, 2_000_000)
    window = round(params.window * 1e12)
    sync_ps = np.arange(sampled.n_attempts, dtype=np.int64) * period
    attempt = sampled.attempt[sampled.click_event]
    clicks = (attempt * period + np.array(offsets)[sampled.click_round]
              + np.round(sampled.click_time * 1e12).astype(np.int64))
    t = np.concatenate([sync_ps, clicks])
    ch = np.concatenate([np.full(len(sync_ps), SYNC),
                         np.where(sampled.click_detector == 0, D0, D1)]).astype(np.uint8)
    order = np.argsort(t, kind="stable")
    got = extract_barrett_kok_heralds(ch[order], t[order], SYNC, (D0, D1), window, offsets)
    heralded = sampled.heralded
    assert got.count == sampled.n_heralds > 20
    np.testing.assert_array_equal(got.sync_ps, sampled.attempt[heralded] * period)
    np.testing.assert_array_equal(got.target, sampled.target[heralded])
    assert got.attempts == sampled.n_attempts


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"window_ps": 0}, "window_ps must be positive"),
    ({"window_ps": -5}, "window_ps must be positive"),
    ({"window_ps": 2.5}, "window_ps must be an integer"),
    ({"offset_ps": float("nan")}, "offset_ps must be an integer"),
    ({"detector_channels": (D0, D0)}, "two different channels"),
    ({"detector_channels": (D0,)}, "must name two channels"),
    ({"detector_channels": (SYNC, D1)}, "is also a detector channel"),
    ({"sync_channel": 0}, "sync_channel must be a channel number"),
    ({"sync_channel": 64}, "sync_channel must be a channel number"),
])
def test_bad_parameters_are_refused(kwargs, message):
    args = {"sync_channel": SYNC, "detector_channels": (D0, D1), "window_ps": 10,
            "offset_ps": 0} | kwargs
    with pytest.raises(ValueError, match=message):
        extract_heralds(np.array([SYNC]), np.array([0]), **args)


def test_overlapping_barrett_kok_rounds_are_refused():
    with pytest.raises(ValueError, match="rounds overlap"):
        extract_barrett_kok_heralds([SYNC], [0], SYNC, (D0, D1), 10, (0, 10))
    with pytest.raises(ValueError, match="rounds overlap"):
        extract_barrett_kok_heralds([SYNC], [0], SYNC, (D0, D1), 10, (50, 0))
    with pytest.raises(ValueError, match="two offsets"):
        extract_barrett_kok_heralds([SYNC], [0], SYNC, (D0, D1), 10, (0,))


def test_bad_streams_are_refused():
    with pytest.raises(ValueError, match="differ in length"):
        extract_heralds(np.array([SYNC, D0]), np.array([0]), SYNC, (D0, D1), 10)
    with pytest.raises(ValueError, match="1-D"):
        extract_heralds(np.array([[SYNC]]), np.array([[0]]), SYNC, (D0, D1), 10)
    with pytest.raises(ValueError, match="integers"):
        extract_heralds(np.array([SYNC]), np.array([0.5]), SYNC, (D0, D1), 10)


def test_a_reversed_stream_is_refused():
    rng = np.random.default_rng(1)
    ch, t = attempt_stream(rng, 5000, period=100, offsets=[10], window=20, click_rate=0.05)
    with pytest.raises(ValueError, match="must be sorted"):
        extract_heralds(ch[::-1].copy(), t[::-1].copy(), SYNC, (D0, D1), 20, 10)


def test_a_tag_out_of_order_next_to_a_click_is_refused():
    rng = np.random.default_rng(1)
    ch, t = attempt_stream(rng, 5000, period=100, offsets=[10], window=20, click_rate=0.05)
    clicks = np.flatnonzero(ch != SYNC)
    t = t.copy()
    t[clicks[100] - 1] = t[clicks[100]] + 1  # the sync before a click is later than it
    with pytest.raises(ValueError, match="must be sorted"):
        extract_heralds(ch, t, SYNC, (D0, D1), 20, 10)


def test_a_sync_out_of_order_the_sample_misses_is_refused_when_used():
    n = 163_840  # the sampled check reads every 10th tag
    ch = np.full(n, SYNC, dtype=np.uint8)
    t = np.arange(n, dtype=np.int64) * 10
    i = 50_003
    t[i] += 25  # this sync is later than the two tags after it
    ch[i + 1], ch[i + 2] = OTHER, D0
    with pytest.raises(ValueError, match="later than it"):
        extract_heralds(ch, t, SYNC, (D0, D1), 5)
