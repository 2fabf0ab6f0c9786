"""Scanning tag streams without full-size temporaries (private helpers of `labctl.timetags`).

A stream is two parallel 1-D arrays: channels (uint8, as a tagger capability
decodes them) and timestamps (int64 ps, non-decreasing). Channel scans run in
cache-sized blocks; the stream's dominant channel (the sync, one tag per
attempt) is skipped eight tags at a time by comparing the uint8 channel array
as uint64 words, so a scan costs about one read of the channel bytes.
`ChannelIndex` answers "how many tags of channel X come before position p"
and "where is the k-th tag of X" without extracting X's tags when X is the
dominant channel. Sortedness is checked cheaply, not proven: on a strided
sample of the stream, around every tag used (each click against its
neighbours, the sync found for it against the click), and in full on
extracted subsets such as one channel's times.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: Elements (uint64 words or channel bytes) per scan block: the block stays in L2.
BLOCK = 1 << 16
#: About this many evenly spaced tags are read to check a stream's order and to
#: guess its dominant channel.
SAMPLE = 1 << 14
#: Above this share of a sample, a channel is dominant (scanned as the complement).
DOMINANT_SHARE = 0.5
_LANES = np.arange(8, dtype=np.int64)
_REPEAT_BYTE = 0x0101010101010101


def as_ps(value: object, name: str) -> int:
    """``value`` as an integer number of ps; `ValueError` naming ``name`` otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer number of ps, got {value!r}")
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer():
        return int(float(value))
    raise ValueError(f"{name} must be an integer number of ps, got {value!r}")


def as_channel(value: object, name: str) -> int:
    """``value`` as a channel number 1..63; `ValueError` naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) \
            or not 1 <= int(value) <= 63:
        raise ValueError(f"{name} must be a channel number 1..63, got {value!r}")
    return int(value)


def as_stream(channels: ArrayLike, timestamps_ps: ArrayLike,
              ) -> tuple[NDArray[np.integer], NDArray[np.int64]]:
    """Validate a tag stream: 1-D integer arrays of equal length; timestamps as int64."""
    ch = np.asarray(channels)
    t = np.asarray(timestamps_ps)
    if ch.ndim != 1 or t.ndim != 1:
        raise ValueError(f"channels and timestamps_ps must be 1-D, got shapes "
                         f"{ch.shape} and {t.shape}")
    if len(ch) != len(t):
        raise ValueError(f"channels ({len(ch)}) and timestamps_ps ({len(t)}) differ in length")
    if ch.size == 0:
        ch = ch.astype(np.uint8)
    elif ch.dtype.kind not in "iu":
        raise ValueError(f"channels must be integers, got dtype {ch.dtype}")
    if t.size == 0:
        t = t.astype(np.int64)
    elif t.dtype.kind not in "iu":
        raise ValueError(f"timestamps_ps must be integers (ps), got dtype {t.dtype}")
    return ch, t.astype(np.int64, copy=False)


def as_times(values: ArrayLike, name: str) -> NDArray[np.int64]:
    """A 1-D integer array of times (ps) as int64, checked to be non-decreasing in full."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    if array.size == 0:
        return array.astype(np.int64)
    if array.dtype.kind not in "iu":
        raise ValueError(f"{name} must be integers (ps), got dtype {array.dtype}")
    array = array.astype(np.int64, copy=False)
    check_sorted(array, name)
    return array


def check_sorted(values: NDArray[np.int64], name: str) -> None:
    """`ValueError` unless ``values`` is non-decreasing (full check: use on small arrays)."""
    if len(values) > 1:
        falls = np.flatnonzero(values[1:] < values[:-1])
        if len(falls):
            i = int(falls[0])
            raise ValueError(f"{name} must be sorted (non-decreasing): element {i + 1} "
                             f"({values[i + 1]}) is below element {i} ({values[i]})")


def check_sorted_sample(timestamps: NDArray[np.int64], name: str) -> None:
    """`ValueError` if an evenly spaced sample of ``timestamps`` (and its last tag) falls.

    Cheap (about `SAMPLE` reads), so it catches blocks in the wrong order or a
    reversed stream, not a single swapped pair; the lookups check the tags they use.
    """
    n = len(timestamps)
    if n < 2:
        return
    step = max(1, n // SAMPLE)
    positions = np.append(np.arange(0, n, step), n - 1)
    sample = timestamps[positions]
    falls = np.flatnonzero(sample[1:] < sample[:-1])
    if len(falls):
        i, j = int(positions[falls[0]]), int(positions[falls[0] + 1])
        raise ValueError(f"{name} must be sorted (non-decreasing): tag {j} ({timestamps[j]}) "
                         f"is below tag {i} ({timestamps[i]})")


def check_sorted_at(timestamps: NDArray[np.int64], positions: NDArray[np.int64],
                    name: str) -> None:
    """`ValueError` if a tag at ``positions`` is out of order with a neighbour (cheap)."""
    n = len(timestamps)
    if n < 2 or len(positions) == 0:
        return
    inner = positions[positions > 0]
    if np.any(timestamps[inner - 1] > timestamps[inner]):
        raise ValueError(f"{name} must be sorted (non-decreasing): a tag before a looked-up "
                         f"tag is later than it")
    inner = positions[positions < n - 1]
    if np.any(timestamps[inner + 1] < timestamps[inner]):
        raise ValueError(f"{name} must be sorted (non-decreasing): a tag after a looked-up "
                         f"tag is earlier than it")


def search_right(timestamps: NDArray[np.int64], keys: NDArray[np.int64],
                 hints: NDArray[np.int64] | None = None) -> NDArray[np.int64]:
    """Number of tags with time <= each key (``np.searchsorted(..., side="right")``).

    With ``hints`` (a guess of each answer, e.g. the position of the tag the
    key was computed from), the search gallops out from the hint and then
    bisects the bracket, all keys at once: a few cache lines per key instead
    of a binary search through the whole stream.
    """
    if hints is None or len(timestamps) == 0 or len(keys) == 0:
        return np.searchsorted(timestamps, keys, side="right").astype(np.int64)
    return _gallop_right(timestamps, keys, np.clip(hints, 0, len(timestamps)))


def _gallop_right(t: NDArray[np.int64], keys: NDArray[np.int64],
                  hints: NDArray[np.int64]) -> NDArray[np.int64]:
    """Vectorised exponential search from ``hints``, then bisection (see `search_right`).

    Invariant of the bracket [low, high]: the answer p satisfies low <= p <= high,
    i.e. ``low == 0 or t[low - 1] <= key`` and ``high == n or t[high] > key``.
    """
    n = len(t)
    low = hints.astype(np.int64, copy=True)
    high = low.copy()
    # gallop down until t[low - 1] <= key
    todo = np.flatnonzero(low > 0)
    todo = todo[t[low[todo] - 1] > keys[todo]]
    step = 1
    while len(todo):
        high[todo] = low[todo] - 1
        low[todo] = np.maximum(low[todo] - step, 0)
        step *= 2
        todo = todo[low[todo] > 0]
        todo = todo[t[low[todo] - 1] > keys[todo]]
    # gallop up until t[high] > key
    todo = np.flatnonzero(high < n)
    todo = todo[t[high[todo]] <= keys[todo]]
    step = 1
    while len(todo):
        low[todo] = high[todo] + 1
        high[todo] = np.minimum(high[todo] + step, n)
        step *= 2
        todo = todo[high[todo] < n]
        todo = todo[t[high[todo]] <= keys[todo]]
    # bisect
    todo = np.flatnonzero(low < high)
    while len(todo):
        lo, hi = low[todo], high[todo]
        middle = (lo + hi) // 2
        right = t[middle] <= keys[todo]
        low[todo] = np.where(right, middle + 1, lo)
        high[todo] = np.where(right, hi, middle)
        todo = todo[low[todo] < high[todo]]
    return low


def dominant_channel(channels: NDArray[np.integer]) -> int | None:
    """The channel holding more than `DOMINANT_SHARE` of an evenly spaced sample, if any."""
    n = len(channels)
    if n == 0:
        return None
    sample = channels[:: max(1, n // SAMPLE)]
    values, counts = np.unique(sample, return_counts=True)
    best = int(np.argmax(counts))
    return int(values[best]) if counts[best] > DOMINANT_SHARE * len(sample) else None


def positions_not_equal(channels: NDArray[np.integer], channel: int) -> NDArray[np.int64]:
    """Positions of the tags not on ``channel``, in order.

    For a uint8 array, blocks of uint64 words equal to eight copies of
    ``channel`` are skipped whole; blocks where the other channels are dense
    fall back to a byte compare. Memory: one block-sized mask plus the result.
    """
    n = len(channels)
    if channels.dtype.itemsize != 1 or not channels.flags.c_contiguous or n < 64:
        return _scan(channels, lambda block, out: np.not_equal(block, channel, out=out))
    head = n - n % 8
    words = channels[:head].view(np.uint64)
    pattern = np.uint64((channel & 0xFF) * _REPEAT_BYTE)
    mask = np.empty(BLOCK, dtype=np.bool_)
    parts: list[NDArray[np.int64]] = []
    for start in range(0, len(words), BLOCK):
        block = words[start:start + BLOCK]
        hits = np.flatnonzero(np.not_equal(block, pattern, out=mask[:len(block)]))
        if len(hits) == 0:
            continue
        first = start * 8
        if len(hits) * 8 > len(block):
            byte_block = channels[first:first + len(block) * 8]
            parts.append(np.flatnonzero(byte_block != channel) + first)
        else:
            candidates = ((hits + start) * 8)[:, None] + _LANES
            candidates = candidates.ravel()
            parts.append(candidates[channels[candidates] != channel])
    tail = np.flatnonzero(channels[head:] != channel) + head
    parts.append(tail.astype(np.int64))
    return np.concatenate(parts).astype(np.int64, copy=False)


def positions_in(channels: NDArray[np.integer], wanted: tuple[int, ...]) -> NDArray[np.int64]:
    """Positions of the tags on any channel of ``wanted``, in order (block-wise scan).

    When another channel dominates the stream, only its complement is inspected.
    """
    common = dominant_channel(channels)
    if common is not None and common not in wanted:
        others = positions_not_equal(channels, common)
        return others[np.isin(channels[others], wanted)]

    def select(block: NDArray[np.integer], out: NDArray[np.bool_]) -> NDArray[np.bool_]:
        np.equal(block, wanted[0], out=out)
        for channel in wanted[1:]:
            out |= block == channel
        return out

    return _scan(channels, select)


def times_on(channels: NDArray[np.integer], timestamps: NDArray[np.int64],
             wanted: tuple[int, ...]) -> list[NDArray[np.int64]]:
    """The timestamps of each channel of ``wanted``, in stream order.

    Sparse channels (another channel dominates) are found by `positions_in`;
    dense ones by `numpy.compress` with a byte mask, the faster way when most
    tags are wanted.
    """
    common = dominant_channel(channels)
    if common is not None and common not in wanted:
        positions = positions_in(channels, wanted)
        on = channels[positions]
        return [timestamps[positions[on == channel]] for channel in wanted]
    return [np.compress(channels == channel, timestamps) for channel in wanted]


_Select = Callable[[NDArray[np.integer], NDArray[np.bool_]], NDArray[np.bool_]]


def _scan(channels: NDArray[np.integer], select: _Select) -> NDArray[np.int64]:
    """Positions where ``select(block, out)`` is true, computed block by block."""
    mask = np.empty(BLOCK, dtype=np.bool_)
    parts = [np.zeros(0, dtype=np.int64)]
    for start in range(0, len(channels), BLOCK):
        block = channels[start:start + BLOCK]
        hits = np.flatnonzero(select(block, mask[:len(block)]))
        if len(hits):
            parts.append(hits + start)
    return np.concatenate(parts).astype(np.int64, copy=False)


class ChannelIndex:
    """Where one channel's tags sit in a stream: rank and position queries, vectorised.

    When the channel dominates the stream (the sync), only the positions of
    the other tags are stored; otherwise the channel's own positions.
    """

    def __init__(self, channels: NDArray[np.integer], channel: int) -> None:
        self._n = len(channels)
        self.others: NDArray[np.int64] | None = None
        self._own: NDArray[np.int64] | None = None
        if dominant_channel(channels) == channel:
            self.others = positions_not_equal(channels, channel)
            # tags of the channel before each other tag (non-decreasing)
            self._gaps = self.others - np.arange(len(self.others), dtype=np.int64)
            self.count = self._n - len(self.others)
        else:
            self._own = positions_in(channels, (channel,))
            self.count = len(self._own)

    def count_before(self, positions: NDArray[np.int64]) -> NDArray[np.int64]:
        """Number of the channel's tags at positions below each of ``positions``."""
        if self._own is not None:
            return np.searchsorted(self._own, positions, side="left").astype(np.int64)
        assert self.others is not None
        return positions - np.searchsorted(self.others, positions, side="left")

    def position(self, ranks: NDArray[np.int64]) -> NDArray[np.int64]:
        """Stream position of the channel's tag number ``ranks`` (0-based, < count)."""
        if self._own is not None:
            return self._own[ranks]
        return ranks + np.searchsorted(self._gaps, ranks, side="right")


#: Keys per block of `search_sorted`: the slice of the searched array they need stays in cache.
KEY_BLOCK = 1 << 12


def search_sorted(values: NDArray[np.int64], keys: NDArray[np.int64],
                  side: str) -> NDArray[np.int64]:
    """``np.searchsorted(values, keys, side)`` for sorted keys, block by block.

    Each block of `KEY_BLOCK` keys searches only the slice of ``values`` its
    first and last key bracket, which stays in cache: about twice as fast as
    one call when both arrays are large.
    """
    if len(keys) <= 4 * KEY_BLOCK or len(values) <= KEY_BLOCK:
        return np.searchsorted(values, keys, side=side).astype(np.int64)  # type: ignore[call-overload]
    starts = np.arange(0, len(keys), KEY_BLOCK)
    lows = np.searchsorted(values, keys[starts], side="left")
    highs = np.searchsorted(values, keys[np.minimum(starts + KEY_BLOCK, len(keys)) - 1],
                            side="right")
    result = np.empty(len(keys), dtype=np.int64)
    for start, low, high in zip(starts.tolist(), lows.tolist(), highs.tolist(), strict=True):
        block = keys[start:start + KEY_BLOCK]
        found = np.searchsorted(values[low:high], block, side=side)  # type: ignore[call-overload]
        np.add(found, low, out=result[start:start + len(block)])
    return result
