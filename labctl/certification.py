"""What `labctl certify` needs from a test battery, and the services it offers one.

A *battery* runs (or reuses) the experiments that measure the parameters the
review's stages are defined by and returns `labctl.stages.Measurements` (one
per pair of end nodes it measured, each with its nodes' memories); it
lives with the experiments and registers under the ``labctl.batteries``
entry-point group, so labctl never names an experiment. labctl gives it the
archive, the station, the engine and the `BatterySettings` from the command
line, and helps it decide which archived runs may stand in for its items
(`reusable_runs`: completed runs of the same station file, profile and
instruments).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from labctl.data.archive import Archive, RunInfo
from labctl.engine.runner import Engine
from labctl.errors import ParameterError
from labctl.plugins import load_plugin
from labctl.stages import Measurements
from labctl.station import StationSpec

ENTRY_POINT_GROUP = "labctl.batteries"
PROTOCOLS = ("single-click", "barrett-kok")


@dataclass(frozen=True)
class BatterySettings:
    """How the battery measures: protocol, α, block length, the memory scans, the link."""

    protocol: str = "single-click"
    alpha: float = 0.05
    block_seconds: float = 120.0
    blocks: int = 3
    #: memory scans up to these numbers of attempts, the next one only if the
    #: memory outlived the previous scan (no converged N_1/e below its end)
    memory_stops: tuple[int, ...] = (4_000, 100_000, 1_000_000)
    #: node-to-node fibre, km (the classical message time of the memory stage)
    fibre_km: float = 0.0

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ParameterError(f"protocol must be single-click or barrett-kok, "
                                 f"got {self.protocol!r}")
        if not 0 < self.alpha < 1:
            raise ParameterError(f"alpha must be within (0, 1), got {self.alpha}")
        if not 0 < self.block_seconds <= 3600:
            raise ParameterError(f"block seconds must be within (0, 3600], "
                                 f"got {self.block_seconds}")
        if self.blocks < 3:
            raise ParameterError(f"blocks must be at least 3, got {self.blocks}")
        if not (self.fibre_km >= 0 and math.isfinite(self.fibre_km)):
            raise ParameterError(f"fibre km must be a non-negative number, got {self.fibre_km}")


@dataclass
class BatteryRecord:
    """What the battery ran (or reused) and what it skipped, item by item."""

    runs: dict[str, list[int]] = field(default_factory=dict)
    results: dict[str, list[Any]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def add(self, item: str, run_id: int, result: Any) -> None:
        self.runs.setdefault(item, []).append(run_id)
        self.results.setdefault(item, []).append(result)


@dataclass(frozen=True)
class BatteryContext:
    """What a battery works with."""

    archive: Archive
    spec: StationSpec
    settings: BatterySettings
    engine: Engine
    #: archived runs it may use instead of running an item (`reusable_runs`)
    reusable: tuple[RunInfo, ...] = ()
    #: called with a line saying which item starts
    on_item: Callable[[str], None] | None = None


class Battery(Protocol):
    """A test battery (see the module docstring)."""

    record: BatteryRecord

    def run(self) -> Measurements | Sequence[Measurements]:
        """Run or reuse every item; the measurements the stages are decided on, one per
        pair of end nodes (a battery of one link returns one)."""


BatteryFactory = Callable[[BatteryContext], Battery]


def find_battery(name: str | None = None) -> BatteryFactory:
    """The battery registered as ``name`` (None: the only one registered)."""
    factory: BatteryFactory = load_plugin(ENTRY_POINT_GROUP, name, "battery")
    return factory


def missing_roles(spec: StationSpec, needed: Sequence[tuple[str, str]]) -> str | None:
    """'the station has no <role> at <node>' for the first missing instrument, or None."""
    present = {(i.role, i.node) for i in spec.instruments}
    for role, node in needed:
        if (role, node) not in present:
            return f"the station has no {role} at {node}"
    return None


def station_mismatch(info: RunInfo, snapshot: Mapping[str, Any], spec: StationSpec) -> str | None:
    """Why an archived run is not from this station (None if it is)."""
    if Path(info.station_path).resolve() != spec.path.resolve() or info.profile != spec.profile:
        return (f"run {info.run_id} was taken on {info.station_path} (profile {info.profile}), "
                f"not {spec.path} (profile {spec.profile})")
    archived = {name: str(entry.get("__class__", ""))
                for name, entry in snapshot.get("instruments", {}).items()}
    current = {i.name: f"{i.driver.__module__}.{i.driver.__qualname__}"
               for i in spec.instruments}
    if archived != current:
        differ = sorted(set(archived) ^ set(current)) or sorted(
            n for n in archived if archived[n] != current.get(n))
        return (f"run {info.run_id} was taken with different instruments "
                f"({', '.join(differ)})")
    return None


def reusable_runs(archive: Archive, spec: StationSpec, run_ids: Sequence[int],
                  hours: float) -> tuple[RunInfo, ...]:
    """The archived runs a battery may use: the named ones (refused with the reason if
    unusable) and, with ``hours``, this station's completed runs of the last ``hours``."""
    usable: list[RunInfo] = []
    for run_id in run_ids:
        info = archive.info(run_id)
        if info.status != "completed":
            raise ParameterError(f"run {run_id} is {info.status}, not completed")
        why = station_mismatch(info, archive.station_snapshot(run_id), spec)
        if why:
            raise ParameterError(f"cannot reuse {why}")
        usable.append(info)
    if hours > 0:
        since = datetime.now(UTC) - timedelta(hours=hours)
        for info in archive.runs():
            if info.status == "completed" and info.run_id not in run_ids and \
                    datetime.fromisoformat(info.started) >= since and \
                    station_mismatch(info, archive.station_snapshot(info.run_id), spec) is None:
                usable.append(info)
    return tuple(usable)
