"""Spin-readout fidelities of one node: F0 (bright read as bright) and F1 (dark as dark).

Blocks alternate between two readout-shot programs (`experiments.spin_scans`):
x = 0 reads the spin right after optical pumping into the bright state, x = 1
after a π pulse into the dark state. A shot is "bright" with at least one
readout photon. F0 is the bright fraction of the x = 0 shots, F1 the dark
fraction of the x = 1 shots — the assignment fidelities experiments use to
correct readout errors (Humphreys et al., Nature 558, 268 (2018): F0 = 0.950,
F1 = 0.995) and the measurement error ε_M = max(1 − F0, 1 − F1) of the
stage certification (`labctl.stages`). The π pulse's own error counts
against F1, as it does in the lab. The errors are binomial, √(F(1 − F)/n)
from the n shots of each state; the certification battery corrects each
node's qubit with that node's F0, F1 and propagates these errors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from experiments.spin_scans import (
    READOUT,
    READOUT_SEGMENT_LENGTH,
    ReadoutScan,
    ScanConfig,
)
from labctl.data.archive import RunData
from labctl.pulses.program import Marker, Program, Rotation, Segment


@dataclass(frozen=True)
class ReadoutConfig(ScanConfig):
    """``steps`` blocks alternating bright (even) and dark (odd) preparations."""

    start: float = 0.0
    stop: float = 1.0
    steps: int = 4
    seconds_per_point: float = 0.5

    def point(self, index: int) -> float:
        return float(index % 2)


@dataclass(frozen=True)
class ReadoutResult:
    node: str
    f0: float
    f0_err: float
    f1: float
    f1_err: float
    shots: int

    @property
    def epsilon_m(self) -> float:
        """Measurement error: the worse of the two assignment errors."""
        return max(1.0 - self.f0, 1.0 - self.f1)


class ReadoutFidelity(ReadoutScan[ReadoutConfig]):
    name: ClassVar[str] = "readout_fidelity"
    description: ClassVar[str] = "spin-readout assignment fidelities F0 and F1 of one node"
    config_type: ClassVar[type[Any]] = ReadoutConfig
    x_label: ClassVar[str] = "prepared state (0 bright, 1 dark)"

    def program(self, x: float) -> Program:
        config: ReadoutConfig = self.config
        rotations = (Rotation.for_angle(50e-9, math.pi, config.rabi_hz),) if x else ()
        shift = 50e-9 + (rotations[0].duration if rotations else 0.0)
        segment = Segment("readout_fidelity", READOUT_SEGMENT_LENGTH + shift,
                          rotations=rotations,
                          markers=(Marker("readout", READOUT.start + shift, READOUT.duration),))
        return Program(segments=(segment,), sequence=(("readout_fidelity", None, None, None),))

    @classmethod
    def analyze(cls, data: RunData) -> ReadoutResult:  # type: ignore[override]  # F0/F1, no fit
        x, shots, bright = (data.values[k] for k in ("x", "shots", "bright"))
        totals = {}
        for state in (0, 1):
            mask = x == state
            n = float(shots[mask].sum())
            if n <= 0:
                raise ValueError(f"no readout shots of the {('bright', 'dark')[state]} state: "
                                 "run at least two blocks")
            correct = float(bright[mask].sum()) if state == 0 else n - float(bright[mask].sum())
            fraction = correct / n
            totals[state] = (fraction, math.sqrt(max(fraction * (1 - fraction), 0.25 / n) / n))
        return ReadoutResult(str(data.info.config.get("node", "node_a")), totals[0][0],
                             totals[0][1], totals[1][0], totals[1][1], int(shots.sum()))

    @classmethod
    def plot(cls, data: RunData, result: Any, path: Any) -> bool:
        from labctl.report.run_plots import bars

        bars(path, {"F0": result.f0, "F1": result.f1}, {"F0": result.f0_err,
                                                          "F1": result.f1_err},
             None, title=f"run {data.info.run_id}: readout of {result.node}",
             y_label="assignment fidelity")
        return True

