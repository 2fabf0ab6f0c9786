"""The link's certification battery: which runs `labctl certify` needs and what they measure.

============================  =====================================================
item                          measures
============================  =====================================================
``readout_<node>``            `ReadoutFidelity` per node: F0, F1 → ε_M
``prepare_measure``           `PrepareMeasure`: p, ε_T
``entanglement``              `Entanglement`: F, XX, YY, ZZ, herald rate, attempt
                              period
``bell_test``                 `BellTest`: S (reported with the pair's stage)
``memory_<node>``             `MemoryRobustness` per node: N_1/e, escalating the scan
============================  =====================================================

`LinkBattery` turns them into `labctl.stages.Measurements` for its one pair
of end nodes (a link: `labctl.stages` reports a link-level result). Each
node's readout corrects that node's qubit only, with the binomial errors of
its calibration propagated into the correlators, F and ε_P; ε_P is the trace
distance of the pair's Bell-diagonal part reconstructed from the measured
XX, YY, ZZ (`labctl.stages.bell_diagonal_error`). An item whose
instruments the station lacks is skipped, and the stages that need it are
*not testable*, with the reason. Archived runs can stand in for items
(labctl's `reusable_runs` decides which may). Registered under the
``labctl.batteries`` entry point as ``link``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

from experiments.bell_test import BellTest, BellTestConfig, BellTestResult
from experiments.bringup import HERALDING, NODES
from experiments.entanglement import Entanglement, EntanglementConfig, EntanglementResult
from experiments.prepare_measure import PrepareMeasure, PrepareMeasureResult
from experiments.readout import ReadoutConfig, ReadoutFidelity, ReadoutResult
from experiments.spin_scans import MemoryConfig, MemoryRobustness, ScanResult
from labctl.certification import BatteryContext, BatteryRecord, missing_roles
from labctl.engine.experiment import Experiment
from labctl.engine.runner import analyze_run
from labctl.physics.optics import FIBRE_LIGHT_SPEED_KM_S
from labctl.stages import Estimate, Measurements, MemoryDecay, bell_diagonal_error

log = logging.getLogger(__name__)

#: Instruments (role, node) the link experiments drive.
_NODE_ROLES = ("excitation_laser", "awg", "mw_source", "frequency_converter")
LINK_ROLES = (*((role, node) for node in NODES for role in _NODE_ROLES),
              ("snspd", HERALDING), ("time_tagger", HERALDING),
              ("phase_reference_laser", HERALDING))


def readout_roles(node: str) -> tuple[tuple[str, str], ...]:
    return (("awg", node), ("mw_source", node), ("time_tagger", HERALDING))


def with_readouts(config: EntanglementConfig, a: ReadoutResult,
                  b: ReadoutResult | None = None) -> EntanglementConfig:
    """``config`` correcting node A's qubit with ``a`` and node B's with ``b`` (None: ``a``),
    each F0, F1 with the binomial error of its calibration."""
    config = dataclasses.replace(config, readout_f0=round(a.f0, 5), readout_f1=round(a.f1, 5),
                                 readout_f0_err=round(a.f0_err, 6),
                                 readout_f1_err=round(a.f1_err, 6))
    if b is None:
        return config
    return dataclasses.replace(config, readout_b_f0=round(b.f0, 5),
                               readout_b_f1=round(b.f1, 5),
                               readout_b_f0_err=round(b.f0_err, 6),
                               readout_b_f1_err=round(b.f1_err, 6))


class LinkBattery:
    """Runs (or reuses) the battery's experiments on one station profile."""

    def __init__(self, context: BatteryContext) -> None:
        self.context = context
        self.record = BatteryRecord()

    def _reused(self, experiment: type[Experiment], matches: Mapping[str, Any]) -> int | None:
        candidates = [info for info in self.context.reusable
                      if info.experiment == experiment.name
                      and all(info.config.get(k) == v for k, v in matches.items())]
        return max(candidates, key=lambda info: info.started).run_id if candidates else None

    def run_item(self, item: str, experiment: Experiment, needed: Sequence[tuple[str, str]],
                 matches: Mapping[str, Any]) -> Any | None:
        """The result of one battery item (reused or run now), or None when skipped."""
        context = self.context
        missing = missing_roles(context.spec, needed)
        if missing:
            self.record.skipped[item] = missing
            return None
        reused = self._reused(type(experiment), matches)
        if reused is not None:
            log.info("%s: reusing run %d", item, reused)
            _, result = analyze_run(context.archive, reused)
            self.record.add(item, reused, result)
            return result
        if context.on_item:
            context.on_item(f"{item}: {experiment.name}")
        outcome = context.engine.start(experiment, context.spec.path, context.spec.profile)
        if outcome.status != "completed" or outcome.result is None:
            self.record.skipped[item] = (f"run {outcome.run_id} {outcome.status}: "
                                         f"{outcome.reason or outcome.analysis_error}")
            return None
        self.record.add(item, outcome.run_id, outcome.result)
        return outcome.result

    def run(self) -> Measurements:
        """Every item in order, then the measurements the stages need."""
        s = self.context.settings
        readouts: dict[str, ReadoutResult] = {}
        for node in NODES:
            result = self.run_item(f"readout_{node}",
                                   ReadoutFidelity(ReadoutConfig(node=node, steps=4)),
                                   readout_roles(node), {"node": node})
            if result is not None:
                readouts[node] = result
        link = EntanglementConfig(protocol=s.protocol, alpha=s.alpha,  # type: ignore[arg-type]
                                  blocks=s.blocks, block_seconds=s.block_seconds)
        prepare_config = link
        if len(readouts) == len(NODES):
            a, b = (readouts[node] for node in NODES)
            link = with_readouts(link, a, b)
            # prepare and measure reads node B only, through readout_f0/f1
            prepare_config = with_readouts(prepare_config, b)
        link_matches = {"protocol": s.protocol, "alpha": s.alpha}
        prepare = self.run_item("prepare_measure", PrepareMeasure(prepare_config), LINK_ROLES,
                                link_matches)
        pair = self.run_item("entanglement", Entanglement(link), LINK_ROLES, link_matches)
        bell_config = BellTestConfig(protocol=s.protocol, alpha=s.alpha,  # type: ignore[arg-type]
                                     block_seconds=s.block_seconds, blocks=2)
        bell = self.run_item("bell_test", BellTest(bell_config), LINK_ROLES, link_matches)
        memories = {node: self._memory(node) for node in NODES}
        return self._measurements(readouts, prepare, pair, bell, memories)

    def _memory(self, node: str) -> ScanResult | None:
        result = None
        for stop in self.context.settings.memory_stops:
            config = MemoryConfig(start=1.0, stop=float(stop), steps=9, shots_per_point=1000,
                                  node=node)
            result = self.run_item(f"memory_{node}", MemoryRobustness(config),
                                   readout_roles(node), {"stop": float(stop), "node": node})
            if result is None:
                return None
            fit = result.fit
            if fit.get("converged") and fit["n_1_over_e"] < stop:
                return result
        return result

    def _measurements(self, readouts: Mapping[str, ReadoutResult],
                      prepare: PrepareMeasureResult | None, pair: EntanglementResult | None,
                      bell: BellTestResult | None,
                      memories: Mapping[str, ScanResult | None]) -> Measurements:
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
        runs = self.record.runs
        decays: dict[str, MemoryDecay] = {}
        for node, memory in memories.items():
            if memory is None and f"memory_{node}" in skipped:
                untestable.setdefault("quantum_memory", skipped[f"memory_{node}"])
            elif memory is not None and not memory.fit.get("converged"):
                untestable.setdefault("quantum_memory",
                                      f"no N_1/e of {node}: {memory.fit.get('message')}")
            elif memory is not None and pair is not None:
                n_1, n_1_err = memory.fit["n_1_over_e"], memory.fit["n_1_over_e_err"]
                assert isinstance(n_1, float) and isinstance(n_1_err, float)
                decays[node] = MemoryDecay(Estimate.normal(n_1, n_1_err, 0.0),
                                           pair.attempt_period_s,
                                           tuple(runs.get(f"memory_{node}", ())))
        pair_time = self._pair_time(pair) if pair is not None else None
        epsilon_p = None
        if pair is not None and all(k in pair.correlators for k in ("XX", "YY", "ZZ")):
            epsilon_p = bell_diagonal_error(pair.correlators["XX"], pair.correlators["YY"],
                                            pair.correlators["ZZ"], pair.fidelity_err)
        return Measurements(
            p=Estimate.normal(prepare.p, prepare.p_err, 0.0, 1.0) if prepare else None,
            epsilon_t=(Estimate.normal(prepare.epsilon_t, prepare.epsilon_t_err, 0.0, 1.0)
                       if prepare else None),
            epsilon_m=epsilon_m,
            fidelity=Estimate.normal(pair.fidelity, pair.fidelity_err, 0.0, 1.0) if pair else None,
            chsh=Estimate.normal(bell.S, bell.S_err, -4.0, 4.0) if bell else None,
            pair_time=pair_time, epsilon_p=epsilon_p, memories=decays, nodes=(NODES[0], NODES[1]),
            runs={"transmission": tuple(runs.get("prepare_measure", ())),
                  "pairs": tuple(runs.get("entanglement", ())),
                  "bell": tuple(runs.get("bell_test", ())),
                  "memory": tuple(r for node in NODES for r in runs.get(f"memory_{node}", ())),
                  "readout": tuple(r for node in NODES
                                   for r in runs.get(f"readout_{node}", ()))},
            untestable=untestable)

    def _pair_time(self, pair: EntanglementResult) -> Estimate:
        """t = 1/R + L/c: one pair at the measured rate, then a message across the link."""
        message = self.context.settings.fibre_km / FIBRE_LIGHT_SPEED_KM_S
        rate, error = pair.herald_rate_hz, pair.herald_rate_err_hz

        def time_at(r: float) -> float:
            return math.inf if r <= 0 else 1.0 / r + message
        spread = 1.959963984540054 * error
        return Estimate(time_at(rate), time_at(rate + spread), time_at(rate - spread))
