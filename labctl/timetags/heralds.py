"""Heralds from time tags: clicks inside each attempt's detection window, vectorised.

Every attempt has a sync tag (the opening of its detection window); a click
on a heralding detector belongs to the latest sync before it and counts if
it falls within ``[sync + offset, sync + offset + window]``. An attempt with
exactly one click in its window heralds on that detector (single click); a
click on both detectors in one window is not a herald. No Python loop per
tag: sorting, `numpy.searchsorted` and `numpy.bincount` do the work.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Heralds:
    """Heralded attempts: sync time (ps), which detector (0 or 1), click time in window (ps)."""

    sync_ps: NDArray[np.int64]
    detector: NDArray[np.int8]
    delay_ps: NDArray[np.int64]
    attempts: int
    clicks_in_windows: int

    @property
    def count(self) -> int:
        return len(self.sync_ps)


def extract_heralds(channels: NDArray[np.integer], timestamps_ps: NDArray[np.integer],
                    sync_channel: int, detector_channels: tuple[int, int],
                    window_ps: int, offset_ps: int = 0) -> Heralds:
    """Single-click heralds: attempts whose window holds a click on exactly one detector."""
    if window_ps <= 0:
        raise ValueError(f"window_ps must be positive, got {window_ps}")
    channels = np.asarray(channels)
    timestamps = np.asarray(timestamps_ps, dtype=np.int64)
    syncs = np.sort(timestamps[channels == sync_channel])
    is_click = np.isin(channels, detector_channels)
    clicks = timestamps[is_click]
    detector = (channels[is_click] == detector_channels[1]).astype(np.int8)
    if len(syncs) == 0 or len(clicks) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Heralds(empty, np.zeros(0, dtype=np.int8), empty, len(syncs), 0)
    owner = np.searchsorted(syncs, clicks - offset_ps, side="right") - 1
    valid = owner >= 0
    delay = clicks - offset_ps - syncs[np.maximum(owner, 0)]
    inside = valid & (delay >= 0) & (delay <= window_ps)
    owner, detector, delay = owner[inside], detector[inside], delay[inside]
    per_attempt = np.bincount(owner, minlength=len(syncs))
    single = per_attempt == 1
    chosen = single[owner]
    return Heralds(sync_ps=syncs[owner[chosen]], detector=detector[chosen],
                   delay_ps=delay[chosen] + offset_ps, attempts=len(syncs),
                   clicks_in_windows=int(inside.sum()))

