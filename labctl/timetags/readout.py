"""Per-herald spin readout from time tags: photons in each herald's readout window.

After a herald, each node reads its spin out optically: a bright state
scatters photons onto the node's readout detector, a dark state (almost)
none. For every herald the readout window is
``[sync + start_ps, sync + start_ps + length_ps]`` (both ends included); the
outcome is bright when the window holds at least ``threshold`` photons.
Two binary searches of the sorted photon times per herald, vectorised.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from labctl.timetags._scan import as_ps, as_times
from labctl.timetags.coincidences import channel_times


@dataclass(frozen=True)
class ReadoutAssignment:
    """Per herald: readout photons counted in its window and the outcome (True: bright)."""

    photons: NDArray[np.int64]
    bright: NDArray[np.bool_]
    threshold: int

    @property
    def count(self) -> int:
        return len(self.photons)

    @property
    def bright_fraction(self) -> float:
        """Share of bright outcomes (nan without heralds)."""
        return float(self.bright.mean()) if len(self.bright) else float("nan")


def photons_in_windows(window_starts_ps: ArrayLike, photon_ps: ArrayLike,
                       length_ps: int) -> NDArray[np.int64]:
    """Number of photons in ``[start, start + length_ps]`` for each window start.

    ``photon_ps`` must be sorted (checked); the starts need not be.
    """
    length = as_ps(length_ps, "length_ps")
    if length <= 0:
        raise ValueError(f"length_ps must be positive, got {length_ps}")
    starts = np.asarray(window_starts_ps)
    if starts.ndim != 1:
        raise ValueError(f"window starts must be 1-D, got shape {starts.shape}")
    if starts.size and starts.dtype.kind not in "iu":
        raise ValueError(f"window starts must be integers (ps), got dtype {starts.dtype}")
    starts = starts.astype(np.int64, copy=False)
    photons = as_times(photon_ps, "photon_ps")
    first = np.searchsorted(photons, starts, side="left")
    after = np.searchsorted(photons, starts + length, side="right")
    return (after - first).astype(np.int64)


def assign_readout(sync_ps: ArrayLike, photon_ps: ArrayLike, start_ps: int, length_ps: int,
                   threshold: int = 1) -> ReadoutAssignment:
    """Readout outcome of each herald (given by its sync time) from one node's photon times.

    Raises `ValueError` for a non-positive length or threshold, or unsorted photon times.
    """
    if isinstance(threshold, bool) or not isinstance(threshold, int | np.integer) \
            or threshold < 1:
        raise ValueError(f"threshold must be a positive integer of photons, got {threshold!r}")
    sync = np.asarray(sync_ps)
    if sync.size and sync.dtype.kind not in "iu":
        raise ValueError(f"sync_ps must be integers (ps), got dtype {sync.dtype}")
    starts = sync.astype(np.int64) + as_ps(start_ps, "start_ps")
    photons = photons_in_windows(starts, photon_ps, length_ps)
    return ReadoutAssignment(photons=photons, bright=photons >= threshold,
                             threshold=int(threshold))


def assign_readout_in_stream(channels: ArrayLike, timestamps_ps: ArrayLike, sync_ps: ArrayLike,
                             readout_channel: int, start_ps: int, length_ps: int,
                             threshold: int = 1) -> ReadoutAssignment:
    """`assign_readout` with the photons of ``readout_channel`` taken from a sorted tag stream."""
    photons = channel_times(channels, timestamps_ps, readout_channel)
    return assign_readout(sync_ps, photons, start_ps, length_ps, threshold)
