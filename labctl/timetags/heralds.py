"""Heralds from time tags: clicks inside each attempt's detection windows, vectorised.

Every attempt has a sync tag. For a detection round opening ``offset`` after
the sync, a click on a heralding detector belongs to the latest sync at or
before ``click - offset`` and counts if it falls within
``[sync + offset, sync + offset + window]`` (both ends included).

- Single click (`extract_heralds`): one round; an attempt heralds when its
  window holds exactly one click, on either detector.
- Barrett–Kok (`extract_barrett_kok_heralds`): two rounds at offsets o1 < o2;
  an attempt heralds when each round's window holds exactly one click. The
  same detector twice announces Psi+, different detectors Psi-.

Timestamps must be sorted, as a time tagger delivers them (checked cheaply:
see `labctl.timetags._scan`). The work follows the clicks, not the tags: the
sync channel is skipped eight tags at a time and each click finds its sync by
binary search, so no full-size temporary is made. `HeraldStream` (and
`stream_heralds`) process a stream block by block with the same result as one
call on the whole stream, carrying attempts whose windows are still open
across block boundaries.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

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

#: Target codes of a Barrett–Kok herald (as in `labctl.physics.sampling`).
PSI_PLUS, PSI_MINUS = 0, 1

_END = int(np.iinfo(np.int64).max)
_NO_SYNC = -1


@dataclass(frozen=True)
class Heralds:
    """Heralded attempts: sync time (ps), which detector (0 or 1), click time after the sync (ps).

    ``attempts`` counts the syncs processed, ``clicks_in_windows`` the detector
    clicks that fell inside some attempt's window.
    """

    sync_ps: NDArray[np.int64]
    detector: NDArray[np.int8]
    delay_ps: NDArray[np.int64]
    attempts: int
    clicks_in_windows: int

    @property
    def count(self) -> int:
        return len(self.sync_ps)

    @classmethod
    def concatenate(cls, parts: Iterable[Heralds]) -> Heralds:
        """One `Heralds` from consecutive parts (e.g. the blocks of `stream_heralds`)."""
        parts = list(parts)
        return cls(
            sync_ps=np.concatenate([_EMPTY_PS, *(p.sync_ps for p in parts)]),
            detector=np.concatenate([_EMPTY_DETECTOR, *(p.detector for p in parts)]),
            delay_ps=np.concatenate([_EMPTY_PS, *(p.delay_ps for p in parts)]),
            attempts=sum(p.attempts for p in parts),
            clicks_in_windows=sum(p.clicks_in_windows for p in parts))


@dataclass(frozen=True)
class BarrettKokHeralds:
    """Barrett–Kok heralds: sync time (ps); per round (columns 0, 1) detector and click delay.

    ``detectors`` (int8, shape (N, 2)) holds 0 or 1 per round, ``delays_ps``
    (int64, shape (N, 2)) each round's click time after the sync.
    ``clicks_in_windows`` counts clicks inside a window of either round.
    """

    sync_ps: NDArray[np.int64]
    detectors: NDArray[np.int8]
    delays_ps: NDArray[np.int64]
    attempts: int
    clicks_in_windows: int

    @property
    def count(self) -> int:
        return len(self.sync_ps)

    @property
    def target(self) -> NDArray[np.int8]:
        """Announced Bell state per herald: `PSI_PLUS` (same detector) or `PSI_MINUS`."""
        return np.where(self.detectors[:, 0] == self.detectors[:, 1],
                        PSI_PLUS, PSI_MINUS).astype(np.int8)

    @classmethod
    def concatenate(cls, parts: Iterable[BarrettKokHeralds]) -> BarrettKokHeralds:
        """One `BarrettKokHeralds` from consecutive parts."""
        parts = list(parts)
        return cls(
            sync_ps=np.concatenate([_EMPTY_PS, *(p.sync_ps for p in parts)]),
            detectors=np.concatenate([np.zeros((0, 2), np.int8),
                                      *(p.detectors for p in parts)]),
            delays_ps=np.concatenate([np.zeros((0, 2), np.int64),
                                      *(p.delays_ps for p in parts)]),
            attempts=sum(p.attempts for p in parts),
            clicks_in_windows=sum(p.clicks_in_windows for p in parts))


_EMPTY_PS = np.zeros(0, dtype=np.int64)
_EMPTY_DETECTOR = np.zeros(0, dtype=np.int8)


@dataclass(frozen=True)
class _Counted:
    """Attempts finalised by one step of `_WindowCounter`: per round detector and delay."""

    sync_ps: NDArray[np.int64]
    detectors: NDArray[np.int8]
    delays_ps: NDArray[np.int64]
    attempts: int
    clicks_in_windows: int


@dataclass(frozen=True)
class _Singles:
    """One round's attempts with exactly one click in the window, sorted by attempt."""

    attempt: NDArray[np.int64]
    sync_ps: NDArray[np.int64]
    click: NDArray[np.int64]


class _WindowCounter:
    """Counts clicks per attempt and detection round, block by block.

    Attempts are numbered by their sync's rank in the whole stream. After a
    block ending at time T (later tags are at T or after), an attempt is final
    once ``sync + window + max(offsets, 0) < T``: every click of its windows
    has arrived and no later sync can claim them. Syncs that are not final
    and clicks still to be decided are carried to the next block; finishing
    treats every attempt as final.
    """

    def __init__(self, sync_channel: int, detector_channels: tuple[int, int],
                 window_ps: int, offsets_ps: tuple[int, ...]) -> None:
        self._sync = as_channel(sync_channel, "sync_channel")
        if len(detector_channels) != 2:
            raise ValueError(f"detector_channels must name two channels, "
                             f"got {detector_channels!r}")
        self._detectors = (as_channel(detector_channels[0], "detector_channels[0]"),
                           as_channel(detector_channels[1], "detector_channels[1]"))
        if self._detectors[0] == self._detectors[1]:
            raise ValueError(f"detector_channels must be two different channels, "
                             f"got {detector_channels!r}")
        if self._sync in self._detectors:
            raise ValueError(f"sync_channel {self._sync} is also a detector channel")
        self._window = as_ps(window_ps, "window_ps")
        if self._window <= 0:
            raise ValueError(f"window_ps must be positive, got {window_ps}")
        self._offsets = tuple(as_ps(o, "offset_ps") for o in offsets_ps)
        self._reach = self._window + max(0, *self._offsets)
        self._seen = 0          # syncs numbered so far
        self._final = 0         # syncs below this number are final
        self._pending_syncs = _EMPTY_PS    # times of syncs numbered final .. seen-1
        self._pending_clicks = _EMPTY_PS
        self._pending_detectors = _EMPTY_DETECTOR
        self._last: int | None = None
        self._closed = False

    def count(self, channels: ArrayLike, timestamps_ps: ArrayLike, closing: bool) -> _Counted:
        """Process one block; with ``closing``, also finalise every attempt still open."""
        if self._closed:
            raise ValueError("this herald stream is finished; start a new one")
        ch, t = as_stream(channels, timestamps_ps)
        n = len(t)
        if n:
            if self._last is not None and t[0] < self._last:
                raise ValueError(f"timestamps_ps must be sorted across blocks: the block "
                                 f"starts at {t[0]} ps, before the previous block's last "
                                 f"tag at {self._last} ps")
            check_sorted_sample(t, "timestamps_ps")
        elif not closing:
            return self._counted([], 0, 0)
        index = ChannelIndex(ch, self._sync) if n else None
        positions = self._clicks(ch, index)
        new_clicks = t[positions]
        check_sorted(new_clicks, "timestamps_ps")
        check_sorted_at(t, positions, "timestamps_ps")
        clicks = np.concatenate([self._pending_clicks, new_clicks])
        detectors = np.concatenate([self._pending_detectors,
                                    (ch[positions] == self._detectors[1]).astype(np.int8)])
        # where each click's own tag sits: the searches start there
        hints = np.concatenate([np.zeros(len(self._pending_clicks), np.int64), positions + 1])
        end = _END if closing else int(t[-1])
        final = _END if closing else self._final + self._syncs_before(end - self._reach,
                                                                     t, index)
        keep = np.zeros(len(clicks), dtype=np.bool_)
        singles: list[_Singles] = []
        in_windows = 0
        for offset in self._offsets:
            keys = clicks - offset
            attempt, sync_ps = self._owners(keys, hints, t, index)
            inside = (attempt != _NO_SYNC) & (keys - sync_ps <= self._window)
            settled = attempt < final  # no sync (-1) included
            keep |= ~((keys < end) & (settled | ~inside))
            counted = np.flatnonzero(inside & settled)
            in_windows += len(counted)
            singles.append(_single(attempt[counted], sync_ps[counted], counted))
        total = self._seen + (index.count if index is not None else 0)
        final = min(final, total)
        result = self._counted(singles, final - self._final, in_windows, clicks, detectors)
        self._carry(final, t, index)
        self._pending_clicks, self._pending_detectors = clicks[keep], detectors[keep]
        self._seen, self._final = total, final
        if n:
            self._last = int(t[-1])
        self._closed = closing
        return result

    def _clicks(self, ch: NDArray[np.integer], index: ChannelIndex | None) -> NDArray[np.int64]:
        """Positions of the block's clicks."""
        if index is None:
            return _EMPTY_PS
        if index.others is not None:
            on = ch[index.others]
            return index.others[(on == self._detectors[0]) | (on == self._detectors[1])]
        return positions_in(ch, self._detectors)

    def _syncs_before(self, time_ps: int, t: NDArray[np.int64],
                      index: ChannelIndex | None) -> int:
        """Number of carried and new syncs earlier than ``time_ps``."""
        carried = int(np.searchsorted(self._pending_syncs, time_ps, side="left"))
        if carried < len(self._pending_syncs) or index is None:
            return carried
        position = np.searchsorted(t, np.array([time_ps], dtype=np.int64), side="left")
        return carried + int(index.count_before(position)[0])

    def _owners(self, keys: NDArray[np.int64], hints: NDArray[np.int64], t: NDArray[np.int64],
                index: ChannelIndex | None) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Number and time of the latest sync at or before each key (-1 and the key if none)."""
        attempt = np.full(len(keys), _NO_SYNC, dtype=np.int64)
        sync_ps = keys.copy()
        unresolved = np.ones(len(keys), dtype=np.bool_)
        if index is not None and len(keys):
            before = index.count_before(search_right(t, keys, hints))
            found = np.flatnonzero(before > 0)
            ranks = before[found] - 1
            attempt[found] = self._seen + ranks
            sync_ps[found] = t[index.position(ranks)]
            unresolved[found] = False
            if np.any(sync_ps[found] > keys[found]):
                raise ValueError("timestamps_ps must be sorted (non-decreasing): a sync "
                                 "found before a click is later than it")
        if len(self._pending_syncs) and unresolved.any():
            rest = np.flatnonzero(unresolved)
            ranks = np.searchsorted(self._pending_syncs, keys[rest], side="right") - 1
            known = ranks >= 0
            attempt[rest[known]] = self._final + ranks[known]
            sync_ps[rest[known]] = self._pending_syncs[ranks[known]]
        return attempt, sync_ps

    def _carry(self, final: int, t: NDArray[np.int64], index: ChannelIndex | None) -> None:
        """Keep the times of the syncs numbered ``final`` onwards for the next block."""
        kept = self._pending_syncs[max(0, final - self._final):]
        if index is not None and final < self._seen + index.count:
            ranks = np.arange(max(0, final - self._seen), index.count, dtype=np.int64)
            kept = np.concatenate([kept, t[index.position(ranks)]])
        self._pending_syncs = kept

    def _counted(self, singles: list[_Singles], attempts: int, in_windows: int,
                 clicks: NDArray[np.int64] = _EMPTY_PS,
                 detectors: NDArray[np.int8] = _EMPTY_DETECTOR) -> _Counted:
        """Attempts with exactly one click in every round's window."""
        rounds = len(self._offsets)
        if not singles:
            return _Counted(_EMPTY_PS, np.zeros((0, rounds), np.int8),
                            np.zeros((0, rounds), np.int64), attempts, in_windows)
        common = singles[0].attempt
        for other in singles[1:]:
            common = np.intersect1d(common, other.attempt, assume_unique=True)
        picks = [s.click[np.searchsorted(s.attempt, common)] for s in singles]
        sync_ps = singles[0].sync_ps[np.searchsorted(singles[0].attempt, common)]
        return _Counted(
            sync_ps=sync_ps,
            detectors=np.stack([detectors[p] for p in picks], axis=1),
            delays_ps=np.stack([clicks[p] - sync_ps for p in picks], axis=1),
            attempts=attempts, clicks_in_windows=in_windows)


def _single(attempt: NDArray[np.int64], sync_ps: NDArray[np.int64],
            click: NDArray[np.int64]) -> _Singles:
    """The attempts (sorted, with repeats) that occur exactly once, with their click."""
    once = np.ones(len(attempt), dtype=np.bool_)
    if len(attempt) > 1:
        repeated = attempt[1:] == attempt[:-1]
        once[1:] &= ~repeated
        once[:-1] &= ~repeated
    return _Singles(attempt[once], sync_ps[once], click[once])


class HeraldStream:
    """Single-click herald extraction over a stream delivered in blocks.

    ``feed`` returns the heralds of the attempts that became final with the
    block; ``finish`` those still open at the end. Concatenated, they equal
    `extract_heralds` of the whole stream.
    """

    def __init__(self, sync_channel: int, detector_channels: tuple[int, int],
                 window_ps: int, offset_ps: int = 0) -> None:
        self._counter = _WindowCounter(sync_channel, detector_channels, window_ps, (offset_ps,))

    def feed(self, channels: ArrayLike, timestamps_ps: ArrayLike) -> Heralds:
        """Process the next block (sorted, not earlier than the previous block)."""
        return _single_click(self._counter.count(channels, timestamps_ps, closing=False))

    def finish(self) -> Heralds:
        """Finalise the attempts still open; the stream accepts no further blocks."""
        return _single_click(self._counter.count(_EMPTY_DETECTOR, _EMPTY_PS, closing=True))


class BarrettKokStream:
    """Barrett–Kok herald extraction over a stream delivered in blocks (see `HeraldStream`)."""

    def __init__(self, sync_channel: int, detector_channels: tuple[int, int],
                 window_ps: int, offsets_ps: tuple[int, int]) -> None:
        self._counter = _WindowCounter(sync_channel, detector_channels, window_ps,
                                       _barrett_kok_offsets(offsets_ps, window_ps))

    def feed(self, channels: ArrayLike, timestamps_ps: ArrayLike) -> BarrettKokHeralds:
        """Process the next block (sorted, not earlier than the previous block)."""
        return _barrett_kok(self._counter.count(channels, timestamps_ps, closing=False))

    def finish(self) -> BarrettKokHeralds:
        """Finalise the attempts still open; the stream accepts no further blocks."""
        return _barrett_kok(self._counter.count(_EMPTY_DETECTOR, _EMPTY_PS, closing=True))


def extract_heralds(channels: NDArray[np.integer], timestamps_ps: NDArray[np.integer],
                    sync_channel: int, detector_channels: tuple[int, int],
                    window_ps: int, offset_ps: int = 0) -> Heralds:
    """Single-click heralds: attempts whose window holds exactly one click (either detector).

    ``timestamps_ps`` must be sorted. Raises `ValueError` for a window that is
    not positive, bad channel numbers, or timestamps found out of order.
    """
    counter = _WindowCounter(sync_channel, detector_channels, window_ps, (offset_ps,))
    return _single_click(counter.count(channels, timestamps_ps, closing=True))


def extract_barrett_kok_heralds(channels: NDArray[np.integer],
                                timestamps_ps: NDArray[np.integer], sync_channel: int,
                                detector_channels: tuple[int, int], window_ps: int,
                                offsets_ps: tuple[int, int]) -> BarrettKokHeralds:
    """Barrett–Kok heralds: exactly one click in each of two windows per sync.

    Round r's window is ``[sync + offsets_ps[r], sync + offsets_ps[r] + window_ps]``;
    the rounds must not overlap (``offsets_ps[0] + window_ps < offsets_ps[1]``).
    """
    counter = _WindowCounter(sync_channel, detector_channels, window_ps,
                             _barrett_kok_offsets(offsets_ps, window_ps))
    return _barrett_kok(counter.count(channels, timestamps_ps, closing=True))


def stream_heralds(blocks: Iterable[tuple[ArrayLike, ArrayLike]], sync_channel: int,
                   detector_channels: tuple[int, int], window_ps: int,
                   offset_ps: int = 0) -> Iterator[Heralds]:
    """Heralds of a stream given as ``(channels, timestamps_ps)`` blocks: one part per block,
    then one for the attempts open at the end (`Heralds.concatenate` joins them)."""
    stream = HeraldStream(sync_channel, detector_channels, window_ps, offset_ps)
    for channels, timestamps in blocks:
        yield stream.feed(channels, timestamps)
    yield stream.finish()


def stream_barrett_kok_heralds(blocks: Iterable[tuple[ArrayLike, ArrayLike]],
                               sync_channel: int, detector_channels: tuple[int, int],
                               window_ps: int, offsets_ps: tuple[int, int],
                               ) -> Iterator[BarrettKokHeralds]:
    """Barrett–Kok heralds of a stream given in blocks (see `stream_heralds`)."""
    stream = BarrettKokStream(sync_channel, detector_channels, window_ps, offsets_ps)
    for channels, timestamps in blocks:
        yield stream.feed(channels, timestamps)
    yield stream.finish()


def _barrett_kok_offsets(offsets_ps: tuple[int, int], window_ps: int) -> tuple[int, int]:
    if len(offsets_ps) != 2:
        raise ValueError(f"offsets_ps must hold two offsets (one per round), got {offsets_ps!r}")
    first, second = as_ps(offsets_ps[0], "offsets_ps[0]"), as_ps(offsets_ps[1], "offsets_ps[1]")
    window = as_ps(window_ps, "window_ps")
    if window > 0 and not first + window < second:
        raise ValueError(f"Barrett–Kok rounds overlap or are out of order: the second window "
                         f"must open after the first closes (offsets {first} and {second} ps, "
                         f"window {window} ps)")
    return first, second


def _single_click(counted: _Counted) -> Heralds:
    return Heralds(sync_ps=counted.sync_ps,
                   detector=np.ascontiguousarray(counted.detectors[:, 0]),
                   delay_ps=np.ascontiguousarray(counted.delays_ps[:, 0]),
                   attempts=counted.attempts,
                   clicks_in_windows=counted.clicks_in_windows)


def _barrett_kok(counted: _Counted) -> BarrettKokHeralds:
    return BarrettKokHeralds(sync_ps=counted.sync_ps, detectors=counted.detectors,
                             delays_ps=counted.delays_ps, attempts=counted.attempts,
                             clicks_in_windows=counted.clicks_in_windows)
