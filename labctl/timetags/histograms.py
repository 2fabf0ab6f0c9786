"""Time-difference histograms from time tags: start-stop histograms and their onset.

A `Histogram` has integer bins ``[edges_ps[k], edges_ps[k + 1])`` of equal
width (half-open, also the last). `start_stop_histogram` references each stop
tag (e.g. a detector click) to the latest start tag (e.g. the attempt's sync)
at or before it, the histogram a detection window is placed by;
`find_onset` reads the detector's time offset off it (steepest rise or
peak), and `detector_offset` does both. Correlation (start-multi-stop)
histograms are in `labctl.timetags.coincidences`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from labctl.timetags._scan import (
    ChannelIndex,
    as_channel,
    as_ps,
    as_stream,
    check_sorted,
    check_sorted_at,
    check_sorted_sample,
    positions_in,
    search_right,
)


@dataclass(frozen=True)
class Histogram:
    """Counts per bin and the bin edges (ps, ``len(counts) + 1`` of them, equally spaced)."""

    counts: NDArray[np.int64]
    edges_ps: NDArray[np.int64]

    @property
    def bin_width_ps(self) -> int:
        return int(self.edges_ps[1] - self.edges_ps[0])

    @property
    def centers_ps(self) -> NDArray[np.float64]:
        """Bin centres (ps)."""
        return (self.edges_ps[:-1] + self.edges_ps[1:]) / 2.0

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    def __add__(self, other: Histogram) -> Histogram:
        """Sum of two histograms over the same bins (e.g. of consecutive blocks)."""
        if not np.array_equal(self.edges_ps, other.edges_ps):
            raise ValueError("cannot add histograms with different bins")
        return Histogram(self.counts + other.counts, self.edges_ps)


def bin_edges(bin_width_ps: int, range_ps: tuple[int, int]) -> NDArray[np.int64]:
    """Edges of the bins of width ``bin_width_ps`` covering ``[range_ps[0], range_ps[1])``.

    Raises `ValueError` unless the width is positive and the range a positive
    whole number of bins.
    """
    width = as_ps(bin_width_ps, "bin_width_ps")
    if width <= 0:
        raise ValueError(f"bin_width_ps must be positive, got {bin_width_ps}")
    if len(range_ps) != 2:
        raise ValueError(f"range_ps must be (low, high), got {range_ps!r}")
    low, high = as_ps(range_ps[0], "range_ps[0]"), as_ps(range_ps[1], "range_ps[1]")
    if high <= low:
        raise ValueError(f"range_ps must have high > low, got {range_ps!r}")
    if (high - low) % width:
        raise ValueError(f"range_ps {range_ps!r} is not a whole number of "
                         f"{width} ps bins")
    return low + width * np.arange((high - low) // width + 1, dtype=np.int64)


def histogram_of(differences_ps: ArrayLike, bin_width_ps: int,
                 range_ps: tuple[int, int]) -> Histogram:
    """Histogram of integer time differences; values outside ``[low, high)`` are dropped."""
    edges = bin_edges(bin_width_ps, range_ps)
    values = np.asarray(differences_ps)
    if values.size and values.dtype.kind not in "iu":
        raise ValueError(f"differences_ps must be integers (ps), got dtype {values.dtype}")
    return Histogram(_bin(values.astype(np.int64, copy=False).ravel(), edges), edges)


def _bin(values: NDArray[np.int64], edges: NDArray[np.int64]) -> NDArray[np.int64]:
    """Counts of ``values`` per bin of ``edges`` (half-open bins)."""
    low, width, bins = int(edges[0]), int(edges[1] - edges[0]), len(edges) - 1
    shifted = values - low
    shifted = shifted[(shifted >= 0) & (shifted < bins * width)]
    return np.bincount(shifted // width, minlength=bins).astype(np.int64)


def start_stop_histogram(channels: ArrayLike, timestamps_ps: ArrayLike, start_channel: int,
                         stop_channel: int, bin_width_ps: int,
                         range_ps: tuple[int, int]) -> Histogram:
    """Histogram of ``stop - start`` for every stop tag and the latest start at or before it.

    Stops before the first start are ignored; so are differences outside the
    range. ``timestamps_ps`` must be sorted. The work follows the stop tags:
    with the start channel dominant (syncs), no full-size temporary is made.
    """
    start = as_channel(start_channel, "start_channel")
    stop = as_channel(stop_channel, "stop_channel")
    if start == stop:
        raise ValueError(f"start_channel and stop_channel are both {start}")
    edges = bin_edges(bin_width_ps, range_ps)
    ch, t = as_stream(channels, timestamps_ps)
    if len(t) == 0:
        return Histogram(np.zeros(len(edges) - 1, dtype=np.int64), edges)
    check_sorted_sample(t, "timestamps_ps")
    starts = ChannelIndex(ch, start)
    if starts.others is not None:
        positions = starts.others[ch[starts.others] == stop]
    else:
        positions = positions_in(ch, (stop,))
    stops = t[positions]
    check_sorted(stops, "timestamps_ps")
    check_sorted_at(t, positions, "timestamps_ps")
    before = starts.count_before(search_right(t, stops, positions + 1))
    found = np.flatnonzero(before > 0)
    differences = stops[found] - t[starts.position(before[found] - 1)]
    if np.any(differences < 0):
        raise ValueError("timestamps_ps must be sorted (non-decreasing): a start found "
                         "before a stop is later than it")
    return Histogram(_bin(differences, edges), edges)


def find_onset(histogram: Histogram, method: Literal["rise", "peak"] = "rise",
               smooth_bins: int = 1) -> int:
    """Where the signal in ``histogram`` starts (ps): its steepest rise or its peak.

    ``"rise"``: the time of the largest increase between neighbouring bins of
    the histogram smoothed over ``smooth_bins`` bins (a boxcar), i.e. the
    boundary the rise crosses. ``"peak"``: the centre of the fullest bin
    (rounded down to the ps). The first such bin wins ties. Raises
    `ValueError` for an empty histogram or an unknown method.
    """
    counts = histogram.counts
    if histogram.total == 0:
        raise ValueError("the histogram is empty: no onset to find")
    if isinstance(smooth_bins, bool) or not isinstance(smooth_bins, int | np.integer) \
            or smooth_bins < 1:
        raise ValueError(f"smooth_bins must be a positive integer, got {smooth_bins!r}")
    width = histogram.bin_width_ps
    if method == "peak":
        fullest = int(np.argmax(counts))
        return int(histogram.edges_ps[fullest]) + width // 2
    if method != "rise":
        raise ValueError(f"method must be 'rise' or 'peak', got {method!r}")
    if len(counts) < smooth_bins + 1:
        raise ValueError(f"the histogram has {len(counts)} bins: too few for a rise over "
                         f"{smooth_bins}-bin smoothing")
    # smoothed[j] - smoothed[j - 1] is (counts[j + k - 1] - counts[j - 1]) / k for boxcar k
    cumulative = np.concatenate([[0], np.cumsum(counts)])
    smoothed = cumulative[smooth_bins:] - cumulative[:-smooth_bins]
    j = int(np.argmax(np.diff(smoothed))) + 1
    # the rise between box j-1 and box j is centred on the edge (j - 1 + j + k) / 2
    return int(histogram.edges_ps[0]) + (width * (2 * j + smooth_bins - 1)) // 2


def detector_offset(channels: ArrayLike, timestamps_ps: ArrayLike, sync_channel: int,
                    detector_channel: int, bin_width_ps: int, range_ps: tuple[int, int],
                    method: Literal["rise", "peak"] = "rise", smooth_bins: int = 1) -> int:
    """A detector's time offset from the sync (ps): the onset of its sync-to-click histogram.

    Use it as the ``offset_ps`` of the detection window in `labctl.timetags.heralds`.
    """
    histogram = start_stop_histogram(channels, timestamps_ps, sync_channel, detector_channel,
                                     bin_width_ps, range_ps)
    return find_onset(histogram, method, smooth_bins)
