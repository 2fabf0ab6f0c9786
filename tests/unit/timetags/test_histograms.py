"""Start-stop histograms against the reference, and the onset finder on known shapes."""

from __future__ import annotations

import numpy as np
import pytest

from labctl.timetags.histograms import (
    Histogram,
    bin_edges,
    detector_offset,
    find_onset,
    histogram_of,
    start_stop_histogram,
)
from tests.unit.timetags import reference
from tests.unit.timetags.streams import D0, D1, SYNC, attempt_stream, random_stream


@pytest.mark.parametrize("sync_share", [0.2, 0.5, 0.8])
def test_start_stop_matches_the_reference_on_random_streams(sync_share):
    rng = np.random.default_rng(41)
    for _ in range(100):
        ch, t = random_stream(rng, int(rng.integers(0, 80)), sync_share)
        width = int(rng.integers(1, 6))
        low = int(rng.integers(-5, 10))
        high = low + width * int(rng.integers(1, 20))
        got = start_stop_histogram(ch, t, SYNC, D1, width, (low, high))
        assert got.counts.tolist() == reference.start_stop_counts(
            ch.tolist(), t.tolist(), SYNC, D1, width, low, high)


def test_start_stop_on_a_long_stream_matches_the_reference():
    rng = np.random.default_rng(42)
    ch, t = attempt_stream(rng, 3000, period=500, offsets=[100], window=60,
                           click_rate=0.2, dark=50)
    got = start_stop_histogram(ch, t, SYNC, D0, 10, (0, 500))
    assert got.counts.tolist() == reference.start_stop_counts(
        ch.tolist(), t.tolist(), SYNC, D0, 10, 0, 500)
    assert got.total > 100


def test_a_start_at_the_same_time_as_the_stop_counts_even_after_it_in_the_stream():
    got = start_stop_histogram(np.array([SYNC, D0, SYNC]), np.array([0, 10, 10]), SYNC, D0,
                               5, (0, 20))
    assert got.counts.tolist() == [1, 0, 0, 0]


def test_empty_and_startless_streams_give_empty_histograms():
    assert start_stop_histogram([], [], SYNC, D0, 5, (0, 20)).counts.tolist() == [0] * 4
    assert start_stop_histogram([D0, D0], [1, 2], SYNC, D0, 5, (0, 20)).total == 0


def test_histogram_of_uses_half_open_bins():
    histogram = histogram_of([0, 4, 5, 9, 10, -1], 5, (0, 10))
    assert histogram.counts.tolist() == [2, 2]
    assert histogram.bin_width_ps == 5
    assert histogram.centers_ps.tolist() == [2.5, 7.5]


def test_histograms_over_the_same_bins_add():
    one = histogram_of([1, 6], 5, (0, 10))
    assert (one + one).counts.tolist() == [2, 2]
    with pytest.raises(ValueError, match="different bins"):
        one + histogram_of([1], 5, (0, 15))


def decay_histogram(onset, width=100, bins=200, lifetime=3000.0, background=2, scale=1000):
    edges = bin_edges(width, (0, width * bins))
    centres = edges[:-1] + width / 2
    signal = np.where(centres >= onset, scale * np.exp(-(centres - onset) / lifetime), 0.0)
    return Histogram(np.round(signal).astype(np.int64) + background, edges)


@pytest.mark.parametrize("onset", [2000, 7350, 12000])
def test_find_onset_locates_the_rise_of_a_decay(onset):
    histogram = decay_histogram(onset)
    assert abs(find_onset(histogram, "rise") - onset) <= histogram.bin_width_ps
    assert abs(find_onset(histogram, "peak") - onset) <= histogram.bin_width_ps
    assert abs(find_onset(histogram, "rise", smooth_bins=3) - onset) <= \
        2 * histogram.bin_width_ps


def test_find_onset_exact_positions():
    edges = np.arange(0, 60, 10)
    histogram = Histogram(np.array([0, 1, 9, 5, 1]), edges)
    assert find_onset(histogram, "rise") == 20  # largest step: between bins 1 and 2
    assert find_onset(histogram, "peak") == 25  # centre of bin 2
    # boxes of two bins centred at 10, 20, 30, 40 hold 1, 10, 14, 6: steepest from 10 to 20
    assert find_onset(histogram, "rise", smooth_bins=2) == 15


def test_detector_offset_recovers_a_simulated_offset():
    rng = np.random.default_rng(43)
    period, offset, attempts = 100_000, 23_450, 20_000
    clicks = np.flatnonzero(rng.random(attempts) < 0.3)
    click_t = clicks * period + offset + rng.exponential(2000, len(clicks)).astype(np.int64)
    dark_t = rng.integers(0, attempts * period, 500)
    t = np.concatenate([np.arange(attempts) * period, click_t, dark_t])
    ch = np.concatenate([np.full(attempts, SYNC), np.full(len(click_t), D1),
                         np.full(len(dark_t), D1)]).astype(np.uint8)
    order = np.argsort(t, kind="stable")
    found = detector_offset(ch[order], t[order], SYNC, D1, 100, (0, period))
    assert abs(found - offset) <= 100


@pytest.mark.parametrize(("call", "message"), [
    (lambda: bin_edges(0, (0, 10)), "bin_width_ps must be positive"),
    (lambda: bin_edges(3, (0, 10)), "whole number"),
    (lambda: bin_edges(5, (10, 10)), "high > low"),
    (lambda: bin_edges(5, (0,)), "range_ps must be"),
    (lambda: histogram_of([0.5], 5, (0, 10)), "must be integers"),
    (lambda: find_onset(Histogram(np.zeros(3, np.int64), np.arange(4)), "rise"), "empty"),
    (lambda: find_onset(decay_histogram(100), "middle"), "method must be"),
    (lambda: find_onset(decay_histogram(100), "rise", smooth_bins=0), "smooth_bins"),
    (lambda: find_onset(decay_histogram(100, bins=3), "rise", smooth_bins=3), "too few"),
    (lambda: start_stop_histogram([D0], [0], D0, D0, 5, (0, 10)), "both 2"),
])
def test_bad_input_is_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_an_unsorted_stream_is_refused():
    rng = np.random.default_rng(44)
    ch, t = attempt_stream(rng, 5000, period=100, offsets=[10], window=20, click_rate=0.05)
    with pytest.raises(ValueError, match="must be sorted"):
        start_stop_histogram(ch[::-1].copy(), t[::-1].copy(), SYNC, D0, 5, (0, 100))
