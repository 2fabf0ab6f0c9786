"""Merging per-channel time tags into one stream in time order, without a sort.

A tagger's inputs (or a simulation's sources) give each channel's tags in
time order; the stream of all of them is their merge, with ties in channel
order (lower input number first, as a stable sort of the channels
concatenated in order gives). `merge_time_ordered` places the smaller
channels into the largest by binary search: O(N) copies and O(m log N) for
the m tags of the smaller channels, instead of an O(N log N) sort — a
heralding station's stream is almost all syncs on one input.
`merge_channels` is the same for a tagger's streams, checked first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

#: Largest timestamp a merged stream holds (its tags are int64 ps).
MAX_TIMESTAMP = (1 << 63) - 1


def merge_time_ordered(streams: Mapping[int, NDArray[Any]]
                       ) -> tuple[NDArray[np.uint8], NDArray[Any]]:
    """``(channels, times)`` of streams each in time order (channel numbers 0..255).

    The times keep the streams' common dtype. Equal times: lower channel
    first, and one channel's own tags in their order.
    """
    if not streams:
        return np.zeros(0, dtype=np.uint8), np.zeros(0, dtype=np.int64)
    largest = max(sorted(streams), key=lambda c: streams[c].size)
    big = streams[largest]
    rest = {c: t for c, t in streams.items() if c != largest}
    if not rest:
        return np.full(big.size, largest, dtype=np.uint8), big
    rest_channels, rest_times = merge_time_ordered(rest)
    # a tag of a lower channel goes before equal times of the largest, a higher one after
    before = np.searchsorted(big, rest_times, side="left")
    after = np.searchsorted(big, rest_times, side="right")
    at = np.where(rest_channels < largest, before, after) + np.arange(rest_times.size)
    times = np.empty(big.size + rest_times.size, dtype=np.result_type(big, rest_times))
    channels = np.full(times.size, largest, dtype=np.uint8)
    keep = np.ones(times.size, dtype=bool)
    keep[at] = False
    times[at] = rest_times
    times[keep] = big
    channels[at] = rest_channels
    return channels, times


def merge_channels(streams: Mapping[int, NDArray[np.integer]]
                   ) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """A tagger's per-channel integer timestamps merged into ``(channels, int64 times)``.

    A stream out of time order is merged by a stable sort instead. Raises
    `ValueError` for a timestamp beyond `MAX_TIMESTAMP` or a channel outside
    1..255.
    """
    if not streams:
        return np.zeros(0, dtype=np.uint8), np.zeros(0, dtype=np.int64)
    for channel, times in streams.items():
        if not 1 <= channel <= 255:
            raise ValueError(f"channel {channel} is not within 1..255")
        if times.size and int(times.max()) > MAX_TIMESTAMP:
            raise ValueError(f"channel {channel}: timestamp {int(times.max())} exceeds "
                             f"{MAX_TIMESTAMP}")
    order = sorted(streams)
    columns = {c: np.asarray(streams[c]).astype(np.int64, copy=False) for c in order}
    if all(in_time_order(times) for times in columns.values()):
        channels, merged = merge_time_ordered(columns)
        return channels, np.ascontiguousarray(merged, dtype=np.int64)
    times = np.concatenate(list(columns.values()))
    labels = np.repeat(np.asarray(order, dtype=np.uint8), [c.size for c in columns.values()])
    index = np.argsort(times, kind="stable")
    return labels[index], np.asarray(times[index], dtype=np.int64)


def in_time_order(times: NDArray[Any]) -> bool:
    """Is every time at least the one before it?"""
    return bool(times.size < 2 or np.all(times[1:] >= times[:-1]))
