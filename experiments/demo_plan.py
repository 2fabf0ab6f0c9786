"""The demo's bring-up: calibrations, the rate/fidelity trade-off, entanglement, Bell, memory.

Registered under the ``labctl.plans`` entry point as ``demo``; `labctl demo`
runs it on the virtual lab and then certifies the link.
"""

from __future__ import annotations

from experiments.alpha_sweep import AlphaSweep, AlphaSweepConfig
from experiments.bell_test import BellTest, BellTestConfig
from experiments.calibrations import (
    BiasScanConfig,
    ConverterPhaseMatching,
    DetectorOffsets,
    DetectorOffsetsConfig,
    PhaseMatchingConfig,
    SnspdBiasScan,
)
from experiments.entanglement import Entanglement, EntanglementConfig
from experiments.hom import Hom, HomConfig
from experiments.spin_scans import (
    DecouplingConfig,
    DynamicalDecoupling,
    MemoryConfig,
    MemoryRobustness,
    Rabi,
    RabiConfig,
    Ramsey,
    RamseyConfig,
)
from labctl.plans import Plan, PlanStep


def demo() -> Plan:
    """The bring-up in the order a lab would run it."""
    return Plan("a two-node link from calibration to certification", (
        PlanStep("calibration", SnspdBiasScan(BiasScanConfig())),
        PlanStep("calibration", ConverterPhaseMatching(PhaseMatchingConfig())),
        PlanStep("calibration", DetectorOffsets(DetectorOffsetsConfig())),
        PlanStep("calibration", Rabi(RabiConfig())),
        PlanStep("calibration", Hom(HomConfig())),
        PlanStep("rate/fidelity trade-off", AlphaSweep(AlphaSweepConfig())),
        PlanStep("heralded entanglement", Entanglement(EntanglementConfig(alpha=0.05))),
        PlanStep("Bell test", BellTest(BellTestConfig(blocks=4))),
        PlanStep("memory", Ramsey(RamseyConfig())),
        PlanStep("memory", DynamicalDecoupling(DecouplingConfig())),
        PlanStep("memory", MemoryRobustness(MemoryConfig())),
    ))
