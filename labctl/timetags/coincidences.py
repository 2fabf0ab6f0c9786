"""Coincidences between two channels and their correlation (g2 / HOM) histogram, vectorised.

A pair is any tag ``a`` of one channel and ``b`` of the other; every pair is
counted, so a tag with several partners contributes several pairs.
`count_coincidences` counts pairs with ``|t_b - t_a - delay| <= window``
(both ends included); `correlation_histogram` bins ``t_b - t_a`` of all pairs
within a range (start-multi-stop).

`coincidences_per_tag` and `correlation_histogram` search the sorted times of
one channel for the window edges of the other (`numpy.searchsorted`): about
two binary searches per tag plus one step per pair, with no Python loop per
tag; pairs are generated in bounded chunks.

Counting uses that a window much shorter than the tag spacing leaves most
tags without a partner. In the time-sorted merge of ``a`` and ``b - delay``
every gap between two partners is within the window, so the pairs are
exactly the pairs among the tags next to a close gap, usually a few percent
of them. `count_coincidences` merges the two runs chunk by chunk (each chunk
sorted as 32-bit keys: twice the offset from the chunk's start plus the
channel bit) and keeps the tags next to close gaps.
`count_coincidences_in_stream` needs neither merge nor channel separation:
the stream is sorted already, so it scans its gaps in cache-sized blocks for
those within ``window + |delay|`` (any pair's gaps are) and separates only
the tags next to one. The tags kept are counted exactly: partners one
position on, then two, and so on. When too many gaps are close for the
filter to pay off (a wide window, a delay beyond the tag spacing) or a sync
channel dominates the stream (its few clicks are cheaper to extract), the
channels are separated as before; times or delays beyond `SAFE_PS`, or an
unsorted stream, go the original way (binary search, full order checks), so
results and errors are the same on every path.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from labctl.timetags._scan import (
    as_channel,
    as_ps,
    as_stream,
    as_times,
    check_sorted_sample,
    dominant_channel,
    search_sorted,
    times_on,
)
from labctl.timetags.histograms import Histogram, bin_edges

#: Pairs generated at once by `correlation_histogram` (bounds its memory to ~100 MB).
PAIR_CHUNK = 1 << 22
#: Tags per block of the gap scan of `count_coincidences_in_stream` (the block stays in L2).
SCAN_BLOCK = 1 << 16
#: Tags of each channel between two chunk boundaries of the merge in `count_coincidences`.
MERGE_CHUNK = 1 << 13
#: Partner offsets counted one step at a time; later partners are found by binary search.
STEPS = 8
#: Gaps looked at before `CLOSE_SHARE` is judged.
PROBE = 1 << 17
#: Above this share of gaps within the window the filter cannot pay off: plain search.
CLOSE_SHARE = 0.25
#: A merge chunk spanning less than this (ps) is sorted as 32-bit keys (2 offset + channel).
KEY_SPAN = 1 << 31
#: Times (shifted by the delay too), delays and windows within +-SAFE_PS ps keep the
#: filter's arithmetic (doubled times, their differences) inside int64.
SAFE_PS = 1 << 60


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
    ch, t, a, b = _stream_pair(channels, timestamps_ps, channel_a, channel_b)
    return _pair_times(ch, t, a, b)


def _stream_pair(channels: ArrayLike, timestamps_ps: ArrayLike, channel_a: int,
                 channel_b: int) -> tuple[NDArray[np.integer], NDArray[np.int64], int, int]:
    """A validated stream (sample-checked order) and two distinct channel numbers."""
    a = as_channel(channel_a, "channel_a")
    b = as_channel(channel_b, "channel_b")
    if a == b:
        raise ValueError(f"channel_a and channel_b are both {a}")
    ch, t = as_stream(channels, timestamps_ps)
    check_sorted_sample(t, "timestamps_ps")
    return ch, t, a, b


def _pair_times(ch: NDArray[np.integer], t: NDArray[np.int64], a: int,
                b: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Channels ``a`` and ``b``'s times of a validated stream, each checked sorted in full."""
    times_a, times_b = times_on(ch, t, (a, b))
    return as_times(times_a, "timestamps_ps"), as_times(times_b, "timestamps_ps")


def coincidences_per_tag(times_a: ArrayLike, times_b: ArrayLike, window_ps: int,
                         delay_ps: int = 0) -> NDArray[np.int64]:
    """For each tag of ``a``, the number of ``b`` tags with ``|t_b - t_a - delay| <= window``.

    Both time arrays must be sorted (checked). Raises `ValueError` for a
    negative window.
    """
    window, delay = _window_delay(window_ps, delay_ps)
    a = as_times(times_a, "times_a")
    b = as_times(times_b, "times_b")
    return _per_tag(a, b, window, delay)


def _window_delay(window_ps: int, delay_ps: int) -> tuple[int, int]:
    """Window and delay as ints; `ValueError` for a non-integer value or a negative window."""
    window = as_ps(window_ps, "window_ps")
    if window < 0:
        raise ValueError(f"window_ps must not be negative, got {window_ps}")
    return window, as_ps(delay_ps, "delay_ps")


def _per_tag(a: NDArray[np.int64], b: NDArray[np.int64], window: int,
             delay: int) -> NDArray[np.int64]:
    """Partners per ``a`` tag by binary search of both window edges (validated inputs)."""
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
    window, delay = _window_delay(window_ps, delay_ps)
    a = as_times(times_a, "times_a")
    b = as_times(times_b, "times_b")
    return _count_sorted(a, b, window, delay)


def count_coincidences_in_stream(channels: ArrayLike, timestamps_ps: ArrayLike,
                                 channel_a: int, channel_b: int, window_ps: int,
                                 delay_ps: int = 0) -> int:
    """`count_coincidences` between two channels of a sorted tag stream.

    Unless another channel dominates the stream (then its few ``a`` and ``b``
    tags are extracted), the stream's gaps are scanned for those within
    ``window + |delay|``; only the tags next to one are separated by channel
    and counted.
    """
    ch, t, a, b = _stream_pair(channels, timestamps_ps, channel_a, channel_b)
    try:
        window, delay = _window_delay(window_ps, delay_ps)
    except ValueError:  # raised by count_coincidences, after the full order checks
        return count_coincidences(*_pair_times(ch, t, a, b), window_ps, delay_ps)
    common = dominant_channel(ch)
    near = None
    if (common is None or common in (a, b)) and window + abs(delay) <= SAFE_PS:
        near = _close_in_stream(t, window + abs(delay))
    if near is None:  # also for an unsorted stream: the full checks raise as they should
        return _count_sorted(*_pair_times(ch, t, a, b), window, delay)
    on = ch[near[0]]
    times = near[1]
    if delay == 0:
        mine = (on == a) | (on == b)
        return _cross_pairs(times[mine], on[mine] == b, window)
    return _count_sorted(times[on == a], times[on == b], window, delay)


def _count_sorted(a: NDArray[np.int64], b: NDArray[np.int64], window: int, delay: int) -> int:
    """`count_coincidences` on validated sorted times: close-gap filter, else plain search."""
    if len(a) == 0 or len(b) == 0:
        return 0
    ends = (int(a[0]), int(a[-1]), int(b[0]) - delay, int(b[-1]) - delay)
    if window <= SAFE_PS and abs(delay) <= SAFE_PS and max(map(abs, ends)) <= SAFE_PS:
        close = _close_in_merge(a, b, window, delay)
        if close is not None:
            return _cross_pairs(close[0], close[1], window)
    return int(_per_tag(a, b, window, delay).sum())


def _close_in_merge(a: NDArray[np.int64], b: NDArray[np.int64], window: int, delay: int,
                    ) -> tuple[NDArray[np.int64], NDArray[np.bool_]] | None:
    """Tags of the merge of ``a`` and ``b - delay`` next to a gap within the window.

    Returns their times (``b`` ones shifted) in merged order and which are
    ``b`` tags, or None when more than `CLOSE_SHARE` of the gaps are close.
    Both runs are cut at common times every `MERGE_CHUNK` tags of either and
    each chunk is sorted with the channel in bit 0 of the doubled times: as
    uint32 offsets from the chunk's first time when it spans less than
    `KEY_SPAN` (numpy's vectorised sort), else as int64 (numpy's stable sort
    of two sorted runs is a merge). A gap of the doubled times is within
    ``2 window + 1`` if the gap of the times is within the window.
    Inputs must be non-empty with all times within `SAFE_PS`.
    """
    marks = np.sort(np.concatenate([a[MERGE_CHUNK::MERGE_CHUNK],
                                    b[MERGE_CHUNK::MERGE_CHUNK] - delay]))
    a_cuts = np.concatenate([[0], np.searchsorted(a, marks, "left"), [len(a)]])
    b_cuts = np.concatenate([[0], np.searchsorted(b, marks + delay, "left"), [len(b)]])
    sizes = np.diff(a_cuts) + np.diff(b_cuts)
    lows, fits = _chunk_spans(a, b, a_cuts, b_cuts, delay)
    room = int(np.max(sizes))
    keys = np.empty(room, dtype=np.uint32)
    codes = np.empty(room, dtype=np.int64)
    key_gaps = np.empty(room, dtype=np.uint32)
    code_gaps = np.empty(room, dtype=np.int64)
    close = np.empty(room, dtype=np.bool_)
    limit = 2 * window + 1
    key_limit = min(limit, 2 * KEY_SPAN - 1)
    b_code = 1 - 2 * delay
    parts = _GapParts()
    last: int | None = None  # code of the last tag merged so far
    done = 0
    for a0, a1, b0, b1, low, small in zip(a_cuts[:-1].tolist(), a_cuts[1:].tolist(),
                                          b_cuts[:-1].tolist(), b_cuts[1:].tolist(),
                                          lows, fits, strict=True):
        k = a1 - a0
        m = k + b1 - b0
        if m == 0:
            continue
        if small:  # codes are 2 low + keys
            run: NDArray[Any]
            run, offset = keys[:m], 2 * low
            np.subtract(a[a0:a1], low, out=run[:k], casting="unsafe")
            np.subtract(b[b0:b1], low + delay, out=run[k:], casting="unsafe")
            run <<= 1
            run[k:] |= 1
            run.sort()
            np.subtract(run[1:], run[:-1], out=key_gaps[:m - 1])
            hits = np.less_equal(key_gaps[:m - 1], key_limit, out=close[:m - 1]).nonzero()[0]
        else:
            run, offset = codes[:m], 0
            np.left_shift(a[a0:a1], 1, out=run[:k])
            np.add(np.left_shift(b[b0:b1], 1, out=run[k:]), b_code, out=run[k:])
            run.sort(kind="stable")
            np.subtract(run[1:], run[:-1], out=code_gaps[:m - 1])
            hits = np.less_equal(code_gaps[:m - 1], limit, out=close[:m - 1]).nonzero()[0]
        first = int(run[0]) + offset
        if last is not None and first - last <= limit:  # the gap to the previous chunk
            parts.add(np.array([last]), np.array([first]), np.zeros(1, np.int64), 0, done)
        if len(hits):
            parts.add(run[hits], run[hits + 1], hits, offset, done + 1)
        last = int(run[-1]) + offset
        done += m
        if done >= PROBE and parts.count > CLOSE_SHARE * done:
            return None
    merged = parts.around()
    return merged >> 1, (merged & 1).astype(np.bool_)


def _chunk_spans(a: NDArray[np.int64], b: NDArray[np.int64], a_cuts: NDArray[np.int64],
                 b_cuts: NDArray[np.int64], delay: int) -> tuple[list[int], list[bool]]:
    """Per merge chunk its earliest time and whether it spans less than `KEY_SPAN`."""
    far = 2 * SAFE_PS  # stands in for the ends of a chunk with no tags of one channel
    has_a = a_cuts[1:] > a_cuts[:-1]
    has_b = b_cuts[1:] > b_cuts[:-1]
    a_first = np.where(has_a, a[np.minimum(a_cuts[:-1], len(a) - 1)], far)
    a_last = np.where(has_a, a[np.maximum(a_cuts[1:] - 1, 0)], -far)
    b_first = np.where(has_b, b[np.minimum(b_cuts[:-1], len(b) - 1)] - delay, far)
    b_last = np.where(has_b, b[np.maximum(b_cuts[1:] - 1, 0)] - delay, -far)
    lows = np.minimum(a_first, b_first)
    fits = np.maximum(a_last, b_last) - lows < KEY_SPAN
    return lows.tolist(), fits.tolist()


class _GapParts:
    """Close gaps found piece by piece: the items either side, where the gaps are.

    Each piece holds the (possibly offset-encoded) items before and after its
    gaps and the gaps' numbers relative to a start; `around` joins them.
    """

    def __init__(self) -> None:
        self.before: list[NDArray[np.integer]] = []
        self.after: list[NDArray[np.integer]] = []
        self.where: list[NDArray[np.int64]] = []
        self.offsets: list[int] = []
        self.starts: list[int] = []
        self.count = 0

    def add(self, before: NDArray[np.integer], after: NDArray[np.integer],
            where: NDArray[np.int64], offset: int, start: int) -> None:
        """Gaps ``start + where`` between items ``offset + before`` and ``offset + after``."""
        self.before.append(before)
        self.after.append(after)
        self.where.append(where)
        self.offsets.append(offset)
        self.starts.append(start)
        self.count += len(where)

    def around(self) -> NDArray[np.int64]:
        """The items on either side of each gap, in order, each once.

        Gap g lies between items g - 1 and g (only consecutive numbers
        matter): the item before a gap is the one after the previous gap
        when their numbers are consecutive.
        """
        if not self.where:
            return np.zeros(0, dtype=np.int64)
        counts = [len(w) for w in self.where]
        offsets = np.repeat(np.array(self.offsets, dtype=np.int64), counts)
        gap = np.concatenate(self.where) + np.repeat(np.array(self.starts, dtype=np.int64),
                                                     counts)
        items = np.empty(2 * len(gap), dtype=np.int64)
        np.add(np.concatenate(self.before), offsets, out=items[0::2], dtype=np.int64)
        np.add(np.concatenate(self.after), offsets, out=items[1::2], dtype=np.int64)
        fresh = np.ones(len(items), dtype=np.bool_)
        fresh[2::2] = gap[1:] != gap[:-1] + 1
        return items[fresh]


def _close_in_stream(t: NDArray[np.int64], limit: int,
                     ) -> tuple[NDArray[np.int64], NDArray[np.int64]] | None:
    """Positions and times of the tags with a neighbour at most ``limit`` ps away, in order.

    Scans the gaps block by block. None if the stream is not sorted, has
    times beyond `SAFE_PS` or more than `CLOSE_SHARE` of its gaps are close.
    """
    n = len(t)
    gaps = np.empty(SCAN_BLOCK, dtype=np.int64)
    close = np.empty(SCAN_BLOCK, dtype=np.bool_)
    times = _GapParts()
    positions = _GapParts()
    for start in range(0, n - 1, SCAN_BLOCK):
        block = t[start:start + SCAN_BLOCK + 1]
        m = len(block) - 1
        # no wrapped differences: within these bounds a fall shows as a negative gap
        if block.max() > SAFE_PS or block.min() < -SAFE_PS:
            return None
        np.subtract(block[1:], block[:-1], out=gaps[:m])
        hits = np.less_equal(gaps[:m], limit, out=close[:m]).nonzero()[0]
        if len(hits):
            if gaps[hits].min() < 0:
                return None
            after = hits + 1
            times.add(block[hits], block[after], after, 0, start)
            positions.add(hits, after, after, start, start)
        if start + m >= PROBE and times.count > CLOSE_SHARE * (start + m):
            return None
    return positions.around(), times.around()


def _cross_pairs(times: NDArray[np.int64], is_b: NDArray[np.bool_], window: int) -> int:
    """Pairs of an ``a`` and a ``b`` tag at most ``window`` apart in a sorted merged run.

    Counts partners one position on, then two, ... (only tags whose partner
    at that offset is still within the window stay); after `STEPS` offsets
    the remaining tags' later partners are counted by binary search.
    """
    n = len(times)
    if n < 2:
        return 0
    near = np.flatnonzero(times[1:] - times[:-1] <= window)
    total = 0
    step = 1
    while len(near):
        total += int(np.count_nonzero(is_b[near] != is_b[near + step]))
        step += 1
        near = near[:np.searchsorted(near, n - step)]
        near = near[times[near + step] - times[near] <= window]
        if step > STEPS and len(near):
            return total + _cross_pairs_from(times, is_b, window, near, step)
    return total


def _cross_pairs_from(times: NDArray[np.int64], is_b: NDArray[np.bool_], window: int,
                      near: NDArray[np.int64], step: int) -> int:
    """Pairs of each tag of ``near`` with the tags ``step`` or more positions on."""
    b_before = np.concatenate([[0], np.cumsum(is_b)])
    first = near + step
    last = np.searchsorted(times, times[near] + window, side="right")
    b_count = b_before[last] - b_before[first]
    return int(np.where(is_b[near], last - first - b_count, b_count).sum())


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
