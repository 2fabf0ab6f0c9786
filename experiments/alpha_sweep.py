"""The single-click rate/fidelity trade-off: herald rate and fidelity vs bright population α.

In single-click entanglement (Humphreys et al., Nature 558, 268 (2018);
shared/reference/physics.md section 3) each node is prepared in
√α|bright⟩ + √(1−α)|dark⟩. A herald comes from one photon, so the herald
probability grows as ≈ 2αη, while the chance that both nodes were bright
(and one photon was lost) grows as α: the heralded state's fidelity falls
as ≈ 1 − α. At very small α dark counts and converter noise herald too and
pull the fidelity down again (in the virtual lab's default world the fidelity
peaks near α = 0.1, F ≈ 0.76). This experiment measures both sides of the trade-off.

Each block is one α of the scan (``alphas_start`` to ``alphas_stop`` in
``alphas_steps`` points): the nodes attempt and, after each herald, read out
in Z, X and Y for ``seconds_per_basis`` each, exactly as `experiments.entanglement`
does (its `readout_program` and readout assignment). The analysis gives per α
the herald rate (Poisson error) and the readout-corrected fidelity
F = (1 + XX + YY − ZZ)/4 (`labctl.analysis.estimators`), and chooses the α
with the largest herald rate whose fidelity (point estimate) reaches
``target_fidelity``. Each point also records the α the rendered
preparation pulse realises (`experiments.bringup.realised_alpha`; a warning
is logged when it is off the asked one by more than its tolerance).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from experiments.bringup import (
    NODES,
    AttemptDesign,
    acquire,
    bring_up,
    gate_detectors,
    heralds,
    keep_only_heralded_syncs,
    station_alpha,
)
from experiments.entanglement import (
    BASES,
    PAIRS,
    bright_after,
    corrected_correlators,
    readout_program,
)
from labctl.analysis.estimators import (
    bell_fidelity,
    herald_rate,
)
from labctl.data.archive import RunData
from labctl.engine.experiment import Block, Experiment, RunContext
from labctl.physics.emitter import Readout

_PATTERNS = ("plus", "minus")


@dataclass(frozen=True)
class AlphaSweepConfig:
    """α from ``alphas_start`` to ``alphas_stop`` in ``alphas_steps`` points (one block each).

    Each block spends ``seconds_per_basis`` in each of Z, X, Y; the chosen α is
    the fastest one whose fidelity reaches ``target_fidelity``.
    """

    alphas_start: float = 0.1
    alphas_stop: float = 0.3
    alphas_steps: int = 5
    seconds_per_basis: float = 60.0
    target_fidelity: float = 0.75
    readout_f0: float = 0.95
    readout_f1: float = 0.995

    def __post_init__(self) -> None:
        if self.alphas_steps < 2:
            raise ValueError(f"alphas_steps must be at least 2, got {self.alphas_steps}")
        if not 0.0 < self.alphas_start < self.alphas_stop < 1.0:
            raise ValueError(f"need 0 < alphas_start < alphas_stop < 1, got alphas_start "
                             f"{self.alphas_start}, alphas_stop {self.alphas_stop}")
        if not (math.isfinite(self.seconds_per_basis) and 0 < self.seconds_per_basis <= 3600):
            raise ValueError(f"seconds_per_basis must be within (0, 3600], got "
                             f"{self.seconds_per_basis}")
        if not (math.isfinite(self.target_fidelity) and 0.25 <= self.target_fidelity <= 1.0):
            raise ValueError(f"target_fidelity must be within [0.25, 1], got "
                             f"{self.target_fidelity}")
        for name in ("readout_f0", "readout_f1"):
            if not 0.5 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within (0.5, 1], got {getattr(self, name)}")

    @property
    def blocks(self) -> int:
        return self.alphas_steps

    @property
    def alphas(self) -> NDArray[np.float64]:
        return np.linspace(self.alphas_start, self.alphas_stop, self.alphas_steps)

    def point(self, index: int) -> float:
        return float(self.alphas[index])


@dataclass(frozen=True)
class AlphaPoint:
    """One α: herald rate (Hz) and readout-corrected fidelity with standard errors.

    ``alpha`` is the asked α, ``alpha_realised`` what the rendered pulse gives.
    """

    alpha: float
    herald_rate_hz: float
    herald_rate_err_hz: float
    fidelity: float
    fidelity_err: float
    heralds: int
    seconds: float
    alpha_realised: float = math.nan


@dataclass(frozen=True)
class AlphaSweepResult:
    """Per-α points, and the chosen α (None when no α reaches the target)."""

    experiment: str
    points: tuple[AlphaPoint, ...]
    target_fidelity: float
    chosen_alpha: float | None
    message: str


def _key(basis: str, pattern: str, pair: str) -> str:
    return f"{basis}_{pattern}_{pair}"


class AlphaSweep(Experiment[AlphaSweepConfig]):
    """Herald rate and fidelity vs α; the fastest α that reaches the target fidelity."""

    name: ClassVar[str] = "alpha_sweep"
    description: ClassVar[str] = ("single-click rate/fidelity trade-off: herald rate and "
                                  "readout-corrected fidelity vs α, and the α to use")
    config_type: ClassVar[type[Any]] = AlphaSweepConfig
    value_names: ClassVar[tuple[str, ...]] = (
        "x", "alpha_realised", "seconds", "heralds",
        *(_key(b, p, pair) for b in BASES for p in _PATTERNS for pair in PAIRS))

    def prepare(self, context: RunContext) -> None:
        config = self.config
        bring_up(context.station, AttemptDesign(alpha=config.point(0)))
        keep_only_heralded_syncs(context.station)
        gate_detectors(context.station)

    def acquire(self, context: RunContext, index: int) -> Block:
        config = self.config
        station = context.station
        alpha = config.point(index)
        design = AttemptDesign(alpha=alpha)
        values: dict[str, float] = {"x": alpha, "seconds": 3 * config.seconds_per_basis,
                                    "alpha_realised": station_alpha(station, design)}
        total = 0
        for basis in BASES:
            for node in NODES:
                station.sequencer(node).play(readout_program(design, basis))
            channels, timestamps = acquire(station, config.seconds_per_basis)
            found = heralds(station, channels, timestamps)
            total += found.count
            bright = [bright_after(station, channels, timestamps, found.sync_ps, node)
                      for node in NODES]
            outcome = 2 * (~bright[0]).astype(int) + (~bright[1]).astype(int)  # 0..3 = 00..11
            for pattern, mask in (("plus", found.detector == 0), ("minus", found.detector == 1)):
                counts = np.bincount(outcome[mask], minlength=4)
                values.update({_key(basis, pattern, pair): float(c)
                               for pair, c in zip(PAIRS, counts, strict=True)})
        values["heralds"] = float(total)
        return Block(values=values, progress={"alpha": alpha, "heralds": total})

    @classmethod
    def analyze(cls, data: RunData) -> AlphaSweepResult:
        config = AlphaSweepConfig(**data.info.config)
        readout = Readout(config.readout_f0, config.readout_f1)
        v = data.values
        points = []
        for row in np.argsort(v["x"]):
            points.append(_point(v, int(row), readout))
        chosen = _choose(points, config.target_fidelity)
        message = (f"α = {chosen.alpha:.3g}: {chosen.herald_rate_hz:.3g} Hz at F = "
                   f"{chosen.fidelity:.3f}" if chosen is not None
                   else f"none reaches the target fidelity {config.target_fidelity:g}")
        return AlphaSweepResult(cls.name, tuple(points), config.target_fidelity,
                                chosen.alpha if chosen is not None else None, message)

    @classmethod
    def plot(cls, data: RunData, result: AlphaSweepResult, path: Any) -> bool:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        if not result.points:
            return False
        alpha = [p.alpha for p in result.points]
        figure, rate_axes = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
        rate_axes.errorbar(alpha, [p.herald_rate_hz for p in result.points],
                           yerr=[p.herald_rate_err_hz for p in result.points], fmt="o-",
                           color="C0", capsize=2, label="herald rate")
        rate_axes.set_xlabel("bright population α")
        rate_axes.set_ylabel("herald rate (Hz)", color="C0")
        fidelity_axes = rate_axes.twinx()
        fidelity_axes.errorbar(alpha, [p.fidelity for p in result.points],
                               yerr=[p.fidelity_err for p in result.points], fmt="s-",
                               color="C1", capsize=2, label="fidelity")
        fidelity_axes.axhline(result.target_fidelity, color="C1", ls=":", lw=1)
        fidelity_axes.set_ylabel("fidelity (readout corrected)", color="C1")
        if result.chosen_alpha is not None:
            rate_axes.axvline(result.chosen_alpha, color="grey", ls="--", lw=1)
        rate_axes.set_title(f"run {data.info.run_id} {cls.name}: {result.message}")
        figure.savefig(path, dpi=110)
        plt.close(figure)
        return True


def _point(v: Any, row: int, readout: Readout) -> AlphaPoint:
    """Herald rate and fidelity of one α from its block (Ψ− heralds brought to the Ψ+ frame)."""
    seconds = float(v["seconds"][row])
    count = int(v["heralds"][row])
    realised = float(v["alpha_realised"][row]) if "alpha_realised" in v else math.nan
    rate = herald_rate(count, seconds)
    counts = {basis: (np.array([v[_key(basis, "plus", pair)][row] for pair in PAIRS]),
                      np.array([v[_key(basis, "minus", pair)][row] for pair in PAIRS]))
              for basis in BASES}
    try:
        correlators = corrected_correlators(counts, readout)
    except ValueError:
        return AlphaPoint(float(v["x"][row]), rate.value, rate.error, math.nan, math.nan,
                          count, seconds, realised)
    fidelity = bell_fidelity(correlators["XX"], correlators["YY"], correlators["ZZ"], "Psi+")
    return AlphaPoint(float(v["x"][row]), rate.value, rate.error, fidelity.value,
                      fidelity.error, count, seconds, realised)


def _choose(points: list[AlphaPoint], target: float) -> AlphaPoint | None:
    """The point with the largest herald rate whose fidelity reaches ``target``."""
    good = [p for p in points if math.isfinite(p.fidelity) and p.fidelity >= target]
    return max(good, key=lambda p: p.herald_rate_hz) if good else None


__all__ = ["AlphaPoint", "AlphaSweep", "AlphaSweepConfig", "AlphaSweepResult"]
