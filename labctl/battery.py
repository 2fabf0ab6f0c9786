"""The certification test battery: which runs `labctl certify` needs and what they measure.

The battery runs registered experiments by name (`labctl.engine.registry`;
labctl never imports them) and reads their results by attribute:

============================  =====================================================
``readout_fidelity`` per node  ``f0``, ``f0_err``, ``f1``, ``f1_err`` → ε_M
``prepare_measure``            ``p``, ``p_err``, ``epsilon_t``, ``epsilon_t_err``
``entanglement``               ``fidelity``, ``fidelity_err``, ``herald_rate_hz``,
                               ``herald_rate_err_hz``, ``attempt_period_s``
``bell_test``                  ``S``, ``S_err`` (reported with the pair's stage)
``memory_robustness``          ``fit["n_1_over_e"]``, ``fit["n_1_over_e_err"]``
============================  =====================================================

and turns them into `labctl.stages.Measurements`. An item whose instruments
the station lacks is skipped, and the stages that need it are *not
testable*, with the reason. Archived runs can stand in for items
(``reuse``): they must have completed on the same station file and profile
with the same instruments and driver classes, else they are refused with
the reason.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from labctl.data.archive import Archive, RunInfo
from labctl.engine.registry import find_experiment
from labctl.engine.runner import Engine, analyze_run
from labctl.errors import ParameterError
from labctl.physics.optics import FIBRE_LIGHT_SPEED_KM_S
from labctl.stages import Estimate, Measurements
from labctl.station import StationSpec

log = logging.getLogger(__name__)

NODES = ("node_a", "node_b")
#: Instruments (role, node) the link experiments drive.
_NODE_ROLES = ("excitation_laser", "awg", "mw_source", "frequency_converter")
LINK_ROLES = (*((role, node) for node in NODES for role in _NODE_ROLES),
              ("snspd", "heralding"), ("time_tagger", "heralding"),
              ("phase_reference_laser", "heralding"))


def readout_roles(node: str) -> tuple[tuple[str, str], ...]:
    return (("awg", node), ("mw_source", node), ("time_tagger", "heralding"))


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
        if self.protocol not in ("single-click", "barrett-kok"):
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


def missing_roles(spec: StationSpec, needed: Sequence[tuple[str, str]]) -> str | None:
    """'station has no <role> at <node>' for the first missing instrument, or None."""
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


class Battery:
    """Runs (or reuses) the battery's experiments on one station profile."""

    def __init__(self, archive: Archive, spec: StationSpec, settings: BatterySettings,
                 engine: Engine, reuse: Sequence[int] = (), reuse_hours: float = 0.0,
                 on_item: Callable[[str], None] | None = None) -> None:
        self.archive = archive
        self.spec = spec
        self.settings = settings
        self.engine = engine
        self.on_item = on_item
        self.record = BatteryRecord()
        self._reusable = self._check_reuse(reuse, reuse_hours)

    # --- reuse -----------------------------------------------------------------

    def _check_reuse(self, run_ids: Sequence[int], hours: float) -> list[RunInfo]:
        """The archived runs the battery may use: named ones (refused with the reason
        if unusable) and, with ``hours``, this station's recent completed runs."""
        usable: list[RunInfo] = []
        for run_id in run_ids:
            info = self.archive.info(run_id)
            if info.status != "completed":
                raise ParameterError(f"run {run_id} is {info.status}, not completed")
            why = station_mismatch(info, self.archive.station_snapshot(run_id), self.spec)
            if why:
                raise ParameterError(f"cannot reuse {why}")
            usable.append(info)
        if hours > 0:
            since = datetime.now(UTC) - timedelta(hours=hours)
            for info in self.archive.runs():
                if info.status == "completed" and info.run_id not in run_ids and \
                        datetime.fromisoformat(info.started) >= since and \
                        station_mismatch(info, self.archive.station_snapshot(info.run_id),
                                         self.spec) is None:
                    usable.append(info)
        return usable

    def _reused(self, experiment: str, matches: Mapping[str, Any]) -> RunInfo | None:
        candidates = [info for info in self._reusable if info.experiment == experiment and all(
            info.config.get(k) == v for k, v in matches.items())]
        return max(candidates, key=lambda info: info.started) if candidates else None

    # --- running -----------------------------------------------------------------

    def run_item(self, item: str, experiment: str, settings: dict[str, Any],
                 needed: Sequence[tuple[str, str]], matches: Mapping[str, Any]) -> Any | None:
        """The result of one battery item (reused or run now), or None when skipped."""
        missing = missing_roles(self.spec, needed)
        if missing:
            self.record.skipped[item] = missing
            return None
        reused = self._reused(experiment, matches)
        if reused is not None:
            log.info("%s: reusing run %d", item, reused.run_id)
            _, result = analyze_run(self.archive, reused.run_id)
            self.record.add(item, reused.run_id, result)
            return result
        if self.on_item:
            self.on_item(f"{item}: {experiment}")
        experiment_type = find_experiment(experiment)
        config = experiment_type.config_type(**settings)
        outcome = self.engine.start(experiment_type(config), self.spec.path, self.spec.profile)
        if outcome.status != "completed" or outcome.result is None:
            self.record.skipped[item] = (f"run {outcome.run_id} {outcome.status}: "
                                         f"{outcome.reason or outcome.analysis_error}")
            return None
        self.record.add(item, outcome.run_id, outcome.result)
        return outcome.result

    def run(self) -> Measurements:
        """Every item in order, then the measurements the stages need."""
        s = self.settings
        link = {"protocol": s.protocol, "alpha": s.alpha, "blocks": s.blocks,
                "block_seconds": s.block_seconds}
        readouts = {}
        for node in NODES:
            result = self.run_item(f"readout_{node}", "readout_fidelity",
                                   {"node": node, "steps": 4}, readout_roles(node),
                                   {"node": node})
            if result is not None:
                readouts[node] = result
        corrected = dict(link)
        if readouts:
            corrected["readout_f0"] = round(min(r.f0 for r in readouts.values()), 4)
            corrected["readout_f1"] = round(min(r.f1 for r in readouts.values()), 4)
        link_matches = {"protocol": s.protocol, "alpha": s.alpha}
        prepare = self.run_item("prepare_measure", "prepare_measure", corrected, LINK_ROLES,
                                link_matches)
        pair = self.run_item("entanglement", "entanglement", corrected, LINK_ROLES,
                             link_matches)
        bell = self.run_item("bell_test", "bell_test",
                             {k: link[k] for k in ("protocol", "alpha", "block_seconds")}
                             | {"blocks": 2}, LINK_ROLES, link_matches)
        memory = self._memory()
        return self._measurements(readouts, prepare, pair, bell, memory)

    def _memory(self) -> Any | None:
        result = None
        for stop in self.settings.memory_stops:
            result = self.run_item("memory", "memory_robustness",
                                   {"start": 1.0, "stop": float(stop), "steps": 9,
                                    "shots_per_point": 1000},
                                   readout_roles("node_a"), {"stop": float(stop)})
            if result is None:
                return None
            fit = result.fit
            if fit.get("converged") and fit["n_1_over_e"] < stop:
                return result
        return result

    def _measurements(self, readouts: Mapping[str, Any], prepare: Any, pair: Any, bell: Any,
                      memory: Any) -> Measurements:
        skipped = self.record.skipped
        untestable = {}
        epsilon_m = None
        if len(readouts) == len(NODES):
            worst = max(readouts.values(), key=lambda r: max(1 - r.f0, 1 - r.f1))
            value, error = ((1 - worst.f0, worst.f0_err) if 1 - worst.f0 >= 1 - worst.f1
                            else (1 - worst.f1, worst.f1_err))
            epsilon_m = Estimate.normal(value, error, 0.0, 1.0)
        else:
            reason = "; ".join(skipped[k] for k in skipped if k.startswith("readout"))
            untestable["prepare_and_measure"] = untestable["entanglement_distribution"] = \
                f"no readout fidelities: {reason}"
        if prepare is None and "prepare_measure" in skipped:
            untestable.setdefault("prepare_and_measure", skipped["prepare_measure"])
        if pair is None and "entanglement" in skipped:
            untestable.setdefault("entanglement_distribution", skipped["entanglement"])
            untestable.setdefault("quantum_memory", skipped["entanglement"])
        if memory is None and "memory" in skipped:
            untestable.setdefault("quantum_memory", skipped["memory"])
        storage = pair_time = None
        if pair is not None:
            pair_time = self._pair_time(pair)
            if memory is not None and memory.fit.get("converged"):
                period = pair.attempt_period_s
                storage = Estimate.normal(memory.fit["n_1_over_e"] * period,
                                          memory.fit["n_1_over_e_err"] * period, 0.0)
            elif memory is not None:
                untestable.setdefault("quantum_memory",
                                      f"no N_1/e: {memory.fit.get('message')}")
        return Measurements(
            p=Estimate.normal(prepare.p, prepare.p_err, 0.0, 1.0) if prepare else None,
            epsilon_t=(Estimate.normal(prepare.epsilon_t, prepare.epsilon_t_err, 0.0, 1.0)
                       if prepare else None),
            epsilon_m=epsilon_m,
            fidelity=Estimate.normal(pair.fidelity, pair.fidelity_err, 0.0, 1.0) if pair else None,
            chsh=Estimate.normal(bell.S, bell.S_err, -4.0, 4.0) if bell else None,
            pair_time=pair_time, storage_time=storage,
            runs={"prepare_measure": tuple(self.record.runs.get("prepare_measure", ())),
                  "entanglement": tuple(self.record.runs.get("entanglement", ())),
                  "bell_test": tuple(self.record.runs.get("bell_test", ())),
                  "memory": tuple(self.record.runs.get("memory", ())),
                  "readout": tuple(r for node in NODES
                                   for r in self.record.runs.get(f"readout_{node}", ()))},
            untestable=untestable)

    def _pair_time(self, pair: Any) -> Estimate:
        """t = 1/R + L/c: one pair at the measured rate, then a message across the link."""
        message = self.settings.fibre_km / FIBRE_LIGHT_SPEED_KM_S
        rate, error = pair.herald_rate_hz, pair.herald_rate_err_hz

        def time_at(r: float) -> float:
            return math.inf if r <= 0 else 1.0 / r + message
        spread = 1.959963984540054 * error
        return Estimate(time_at(rate), time_at(rate + spread), time_at(rate - spread))
