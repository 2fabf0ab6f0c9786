"""Coincidences between two channels and their correlation (g2 / HOM) histogram, vectorised.

A pair is any tag ``a`` of one channel and ``b`` of the other; every pair is
counted, so a tag with several partners contributes several pairs.
`count_coincidences` counts pairs with ``|t_b - t_a - delay| <= window``
(both ends included); `correlation_histogram` bins ``t_b - t_a`` of all pairs
within a range (start-multi-stop). Both search the sorted times of one
channel for the window edges of the other (`numpy.searchsorted`), so the cost
is about two binary searches per tag plus one step per pair, with no Python
loop per tag; pairs are generated in bounded chunks.
"""

from __future__ import annotations

import itertools

import numpy as np
from numpy.typing import ArrayLike, NDArray

from labctl.timetags._scan import (
    as_channel,
    as_ps,
    as_stream,
    as_times,
    check_sorted_sample,
    search_sorted,
    times_on,
)
from labctl.timetags.histograms import Histogram, bin_edges

#: Pairs generated at once by `correlation_histogram` (bounds its memory to ~100 MB).
PAIR_CHUNK = 1 << 22


def channel_times(channels: ArrayLike, timestamps_ps: ArrayLike,
                  channel: int) -> NDArray[np.int64]:
    """The (sorted) timestamps of one channel's tags in a sorted stream."""
    wanted = as_channel(channel, "channel")
    ch, t = as_stream(channels, timestamps_ps)
    check_sorted_sample(t, "timestamps_ps")
    return as_times(times_on(ch, t, (wanted,))[0], "timestamps_ps")


def channel_pair_times(channels: ArrayLike, timestamps_ps: ArrayLike, channel_a: int,
                       channel_b: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The (sorted) timestamps of two channels' tags, found in one scan of the stream."""
    a = as_channel(channel_a, "channel_a")
    b = as_channel(channel_b, "channel_b")
    if a == b:
        raise ValueError(f"channel_a and channel_b are both {a}")
    ch, t = as_stream(channels, timestamps_ps)
    check_sorted_sample(t, "timestamps_ps")
    times_a, times_b = times_on(ch, t, (a, b))
    return as_times(times_a, "timestamps_ps"), as_times(times_b, "timestamps_ps")


def coincidences_per_tag(times_a: ArrayLike, times_b: ArrayLike, window_ps: int,
                         delay_ps: int = 0) -> NDArray[np.int64]:
    """For each tag of ``a``, the number of ``b`` tags with ``|t_b - t_a - delay| <= window``.

    Both time arrays must be sorted (checked). Raises `ValueError` for a
    negative window.
    """
    window = as_ps(window_ps, "window_ps")
    if window < 0:
        raise ValueError(f"window_ps must not be negative, got {window_ps}")
    delay = as_ps(delay_ps, "delay_ps")
    a = as_times(times_a, "times_a")
    b = as_times(times_b, "times_b")
    counts = np.zeros(len(a), dtype=np.int64)
    if len(a) == 0 or len(b) == 0:
        return counts
    first = search_sorted(b, a + (delay - window), "left")
    # most tags have no partner: only those whose first candidate is in the window
    # need the second search
    candidate = b[np.minimum(first, len(b) - 1)]
    busy = np.flatnonzero((candidate <= a + (delay + window)) & (first < len(b)))
    last = search_sorted(b, a[busy] + (delay + window), "right")
    counts[busy] = last - first[busy]
    return counts


def count_coincidences(times_a: ArrayLike, times_b: ArrayLike, window_ps: int,
                       delay_ps: int = 0) -> int:
    """Number of pairs (a, b) with ``|t_b - t_a - delay_ps| <= window_ps`` (sorted inputs)."""
    return int(coincidences_per_tag(times_a, times_b, window_ps, delay_ps).sum())


def count_coincidences_in_stream(channels: ArrayLike, timestamps_ps: ArrayLike,
                                 channel_a: int, channel_b: int, window_ps: int,
                                 delay_ps: int = 0) -> int:
    """`count_coincidences` between two channels of a sorted tag stream."""
    times_a, times_b = channel_pair_times(channels, timestamps_ps, channel_a, channel_b)
    return count_coincidences(times_a, times_b, window_ps, delay_ps)


def correlation_histogram(times_a: ArrayLike, times_b: ArrayLike, bin_width_ps: int,
                          range_ps: tuple[int, int]) -> Histogram:
    """Histogram of ``t_b - t_a`` over all pairs with ``range_ps[0] <= t_b - t_a < range_ps[1]``.

    Start-multi-stop: every ``a`` is a start, every ``b`` in range a stop; the
    g2 or HOM histogram of two detectors. Both arrays must be sorted (checked).
    """
    edges = bin_edges(bin_width_ps, range_ps)
    low, high = int(edges[0]), int(edges[-1])
    width, bins = int(edges[1] - edges[0]), len(edges) - 1
    a = as_times(times_a, "times_a")
    b = as_times(times_b, "times_b")
    counts = np.zeros(bins, dtype=np.int64)
    if len(a) == 0 or len(b) == 0:
        return Histogram(counts, edges)
    first = search_sorted(b, a + low, "left")
    stop = search_sorted(b, a + high, "left")
    busy = np.flatnonzero(stop > first)
    first, per_start = first[busy], stop[busy] - first[busy]
    # chunks of starts generating about PAIR_CHUNK pairs each (at least one start)
    ends = np.cumsum(per_start)
    marks = np.arange(PAIR_CHUNK, int(ends[-1]) if len(ends) else 0, PAIR_CHUNK)
    bounds = np.unique(np.concatenate([[0], np.searchsorted(ends, marks, side="right"),
                                       [len(busy)]]))
    for lo, hi in itertools.pairwise(bounds):
        n_pairs = per_start[lo:hi]
        which = np.repeat(np.arange(lo, hi), n_pairs)
        step = np.arange(len(which)) - np.repeat(np.cumsum(n_pairs) - n_pairs, n_pairs)
        differences = b[first[which] + step] - a[busy[which]] - low
        counts += np.bincount(differences // width, minlength=bins)
    return Histogram(counts, edges)


def correlation_histogram_in_stream(channels: ArrayLike, timestamps_ps: ArrayLike,
                                    channel_a: int, channel_b: int, bin_width_ps: int,
                                    range_ps: tuple[int, int]) -> Histogram:
    """`correlation_histogram` between two channels of a sorted tag stream."""
    times_a, times_b = channel_pair_times(channels, timestamps_ps, channel_a, channel_b)
    return correlation_histogram(times_a, times_b, bin_width_ps, range_ps)
