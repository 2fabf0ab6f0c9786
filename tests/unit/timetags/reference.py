"""Pure-Python reference implementations of the time-tag analyses, one tag at a time.

Slow and obviously correct: each follows the definition in the module under
test literally, so the vectorised code is checked against the definition.
"""

from __future__ import annotations

from collections.abc import Sequence


def window_clicks(channels: Sequence[int], timestamps: Sequence[int], sync: int,
                  detectors: tuple[int, int], window: int,
                  offsets: Sequence[int]) -> tuple[list[int], dict[int, list[list[tuple]]]]:
    """Sync times, and per sync index and round the (detector, click - sync) inside its window.

    A click belongs, for round r, to the latest sync s with s <= click - offsets[r],
    and counts if click - offsets[r] - s <= window.
    """
    syncs = [t for c, t in zip(channels, timestamps, strict=True) if c == sync]
    per_sync: dict[int, list[list[tuple]]] = {}
    for c, t in zip(channels, timestamps, strict=True):
        if c not in detectors:
            continue
        for r, offset in enumerate(offsets):
            owner = None
            for i, s in enumerate(syncs):
                if s <= t - offset:
                    owner = i
            if owner is not None and t - offset - syncs[owner] <= window:
                rounds = per_sync.setdefault(owner, [[] for _ in offsets])
                rounds[r].append((detectors.index(c), t - syncs[owner]))
    return syncs, per_sync


def single_click_heralds(channels, timestamps, sync, detectors, window, offset):
    """(heralds as [(sync, detector, delay)], attempts, clicks in windows)."""
    syncs, per_sync = window_clicks(channels, timestamps, sync, detectors, window, [offset])
    heralds = [(syncs[i], rounds[0][0][0], rounds[0][0][1])
               for i, rounds in sorted(per_sync.items()) if len(rounds[0]) == 1]
    clicks = sum(len(rounds[0]) for rounds in per_sync.values())
    return heralds, len(syncs), clicks


def barrett_kok_heralds(channels, timestamps, sync, detectors, window, offsets):
    """(heralds as [(sync, (d1, d2), (delay1, delay2))], attempts, clicks in windows)."""
    syncs, per_sync = window_clicks(channels, timestamps, sync, detectors, window, offsets)
    heralds = [(syncs[i], (r[0][0][0], r[1][0][0]), (r[0][0][1], r[1][0][1]))
               for i, r in sorted(per_sync.items()) if len(r[0]) == 1 and len(r[1]) == 1]
    clicks = sum(len(r[0]) + len(r[1]) for r in per_sync.values())
    return heralds, len(syncs), clicks


def coincidences_per_tag(times_a, times_b, window, delay):
    return [sum(1 for b in times_b if abs(b - a - delay) <= window) for a in times_a]


def correlation_counts(times_a, times_b, bin_width, low, high):
    counts = [0] * ((high - low) // bin_width)
    for a in times_a:
        for b in times_b:
            if low <= b - a < high:
                counts[(b - a - low) // bin_width] += 1
    return counts


def start_stop_counts(channels, timestamps, start, stop, bin_width, low, high):
    """Each stop against the latest start at or before it in time."""
    counts = [0] * ((high - low) // bin_width)
    starts = [t for c, t in zip(channels, timestamps, strict=True) if c == start]
    for c, t in zip(channels, timestamps, strict=True):
        if c != stop:
            continue
        earlier = [s for s in starts if s <= t]
        if earlier and low <= t - earlier[-1] < high:
            counts[(t - earlier[-1] - low) // bin_width] += 1
    return counts


def readout_photons(sync_times, photon_times, start, length):
    return [sum(1 for p in photon_times if s + start <= p <= s + start + length)
            for s in sync_times]
