"""Bell test (CHSH) with a random basis setting per trial on both nodes.

The nodes attempt single-click entanglement (`experiments.bringup`); at each
herald every node's AWG is in dynamic-jump mode and jumps to the readout
element its random-number generator selects (bit x at node A, y at node B,
wired to the AWG's EVENT IN pattern pins and recorded by the time tagger on
``setting_node_a`` / ``setting_node_b``), as in Hensen et al., Nature 526,
682 (2015). Node A measures Z (x = 0) or X (x = 1), node B along
(X − Z)/√2 (y = 0) or (−X − Z)/√2 (y = 1): the settings that reach
S = 2√2 on Ψ+ in the XZ plane.

A Ψ− herald (the "−" detector clicked) is brought to the Ψ+ frame by Z on
node A, which flips A's outcome in X and leaves Z alone — so the settings
stay the same for both herald patterns. Outcomes are the raw readouts (no
readout correction: a Bell test must not correct). Per block the values
count trials by (x, y, a, b); the analysis gives S with σ_S =
√(Σ (1 − E²)/N), the CHSH-game wins and the p-value of the local-model
hypothesis, P(k ≥ wins | n, ξ = 3/4) (shared/reference/physics.md section 3;
Elkouss & Wehner, npj QI 2, 16026 (2016)). The run stops after ``blocks``,
or earlier when S exceeds 2 by ``stop_sigmas`` standard errors or the
p-value falls below ``stop_p_value`` (either 0 to switch it off).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from experiments.bringup import RABI_FULL_SCALE_HZ, AttemptDesign, acquire, attempt_program
from experiments.entanglement import (
    READOUT_LENGTH,
    READOUT_START,
    bright_after,
    check_link_settings,
    design_for,
    find_heralds,
    prepare_link,
    tag_after_herald,
)
from labctl.analysis.estimators import chsh, chsh_game
from labctl.data.archive import RunData
from labctl.engine.experiment import Block, Experiment, RunContext
from labctl.engine.stopping import (
    AnyOf,
    FixedCount,
    History,
    StatisticBelow,
    StatisticBound,
    StoppingRule,
)
from labctl.pulses.program import Marker, Program, Rotation, Segment

NODES = ("node_a", "node_b")
#: Readout rotations per node and setting bit: (angle, phase) of one pulse, or None for Z.
#: Phase π/2 rotates about y; −π/2 measures +X, −3π/4 measures (X − Z)/√2, +3π/4 (−X − Z)/√2.
SETTING_ROTATIONS: dict[str, tuple[tuple[float, float] | None, tuple[float, float] | None]] = {
    "node_a": (None, (-math.pi / 2, math.pi / 2)),
    "node_b": ((-3 * math.pi / 4, math.pi / 2), (3 * math.pi / 4, math.pi / 2)),
}
#: Bloch directions the settings measure (x = 0, 1 at A; y = 0, 1 at B), for predictions.
SETTING_DIRECTIONS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "node_a": ((0.0, 0.0, 1.0), (1.0, 0.0, 0.0)),
    "node_b": ((math.sqrt(0.5), 0.0, -math.sqrt(0.5)), (-math.sqrt(0.5), 0.0, -math.sqrt(0.5))),
}
#: The readout element's length, s (the random-number generator is tagged within it).
READOUT_ELEMENT = 3e-6
#: Trial counters: settings x, y and outcomes a, b (0 bright, 1 dark).
CELLS = tuple(f"x{x}y{y}_{a}{b}" for x in (0, 1) for y in (0, 1) for a in (0, 1) for b in (0, 1))


@dataclass(frozen=True)
class BellTestConfig:
    """CHSH with random settings; stops after ``blocks`` or on S / the p-value."""

    protocol: Literal["single-click", "barrett-kok"] = "single-click"
    alpha: float = 0.05
    blocks: int = 10
    block_seconds: float = 300.0
    stop_sigmas: float = 0.0      # stop when S > 2 by this many σ (0: off)
    stop_p_value: float = 0.0     # stop when the p-value falls below this (0: off)

    def __post_init__(self) -> None:
        check_link_settings(self.protocol, self.alpha, self.block_seconds)
        if self.blocks < 1:
            raise ValueError(f"blocks must be at least 1, got {self.blocks}")
        if not self.stop_sigmas >= 0:
            raise ValueError(f"stop_sigmas must not be negative, got {self.stop_sigmas}")
        if not 0.0 <= self.stop_p_value < 1.0:
            raise ValueError(f"stop_p_value must be within [0, 1), got {self.stop_p_value}")


@dataclass(frozen=True)
class BellTestResult:
    S: float
    S_err: float
    trials: int
    wins: int
    win_fraction: float
    p_value: float
    correlators: dict[str, float] = field(default_factory=dict)
    correlator_errors: dict[str, float] = field(default_factory=dict)
    trials_per_setting: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def _readout_segment(name: str, rotation: tuple[float, float] | None) -> Segment:
    rotations = () if rotation is None else (
        Rotation.for_angle(20e-9, rotation[0], RABI_FULL_SCALE_HZ, phase=rotation[1]),)
    return Segment(name, READOUT_ELEMENT, rotations=rotations,
                   markers=(Marker("readout", READOUT_START, READOUT_LENGTH),))


def bell_program(design: AttemptDesign, node: str) -> Program:
    """Attempt until a herald, then read out in the basis the random bit selects."""
    attempt = attempt_program(design).segments[0]
    first, second = SETTING_ROTATIONS[node]
    return Program(
        segments=(attempt, _readout_segment("setting0", first),
                  _readout_segment("setting1", second)),
        sequence=(("attempt", None, 2, None), ("setting0", 1, None, 1),
                  ("setting1", 1, None, 1)),
        dynamic_jumps=((0, 2), (1, 3)))


def trial_table(values: dict[str, np.ndarray]) -> np.ndarray:
    """Trial counts n[x, y, a, b] summed over blocks."""
    return np.array([values[cell].sum() for cell in CELLS]).reshape(2, 2, 2, 2)


def _trials_from_table(table: np.ndarray) -> tuple[np.ndarray, ...]:
    x, y, a, b = np.indices(table.shape).reshape(4, -1)
    counts = table.reshape(-1).astype(int)
    return tuple(np.repeat(v, counts) for v in (x, y, a, b))


class BellTest(Experiment[BellTestConfig]):
    name: ClassVar[str] = "bell_test"
    description: ClassVar[str] = ("CHSH Bell test with random settings per trial: S, "
                                  "CHSH-game wins and p-value")
    config_type: ClassVar[type[Any]] = BellTestConfig
    value_names: ClassVar[tuple[str, ...]] = ("seconds", "heralds", *CELLS)

    def _design(self) -> AttemptDesign:
        return design_for(self.config.protocol, self.config.alpha)

    def prepare(self, context: RunContext) -> None:
        station = context.station
        design = self._design()
        prepare_link(station, design)
        for node in NODES:
            station.sequencer(node).play(bell_program(design, node))

    def acquire(self, context: RunContext, index: int) -> Block:
        config = self.config
        station = context.station
        channels, timestamps = acquire(station, config.block_seconds)
        design = self._design()
        sync_ps, minus = find_heralds(station, channels, timestamps, design)
        x, y = (tag_after_herald(station, channels, timestamps, sync_ps, f"setting_{node}",
                                 0.0, READOUT_ELEMENT, design.period).astype(int)
                for node in NODES)
        a, b = ((~bright_after(station, channels, timestamps, sync_ps, node,
                               design.period)).astype(int) for node in NODES)
        a = np.where(minus & (x == 1), 1 - a, a)     # Z on A: Ψ− → Ψ+
        table = np.bincount(8 * x + 4 * y + 2 * a + b, minlength=16)
        values = {"seconds": config.block_seconds, "heralds": float(len(sync_ps))}
        values.update({cell: float(n) for cell, n in zip(CELLS, table, strict=True)})
        return Block(values=values, arrays={"channels": channels.astype(np.uint8),
                                            "timestamps_ps": timestamps},
                     progress={"trials": len(sync_ps)})

    def stopping_rule(self) -> StoppingRule:
        config = self.config
        rules: list[StoppingRule] = [FixedCount(config.blocks)]
        if config.stop_sigmas > 0:
            rules.append(StatisticBound("S", _s_statistic, 2.0, config.stop_sigmas))
        if config.stop_p_value > 0:
            rules.append(StatisticBelow("p-value", _p_statistic, config.stop_p_value))
        return AnyOf(tuple(rules))

    @classmethod
    def analyze(cls, data: RunData) -> BellTestResult:
        table = trial_table(data.values)
        x, y, a, b = _trials_from_table(table)
        if len(x) == 0:
            raise ValueError("no trials in this run: cannot estimate S")
        s = chsh(x, y, a, b)
        game = chsh_game(x, y, a, b)
        names = {(sx, sy): f"E{sx}{sy}" for sx in (0, 1) for sy in (0, 1)}
        return BellTestResult(
            S=s.value, S_err=s.error, trials=game.trials, wins=game.wins,
            win_fraction=game.win_fraction, p_value=game.p_value,
            correlators={names[k]: s.correlators[k[0]][k[1]].value for k in names},
            correlator_errors={names[k]: s.correlators[k[0]][k[1]].error for k in names},
            trials_per_setting={names[k]: int(table[k].sum()) for k in names},
            seconds=float(data.values["seconds"].sum()))

    @classmethod
    def plot(cls, data: RunData, result: BellTestResult, path: object) -> bool:
        from labctl.report.run_plots import bars

        ideal = math.sqrt(0.5)
        bars(path, result.correlators, result.correlator_errors,  # type: ignore[arg-type]
             {"E00": ideal, "E01": ideal, "E10": ideal, "E11": -ideal},
             title=f"run {data.info.run_id}: S = {result.S:.3f} ± {result.S_err:.3f}, "
                   f"p = {result.p_value:.2g} ({result.trials} trials)",
             y_label="correlator E_xy (raw)")
        return True


def _history_trials(history: History) -> tuple[np.ndarray, ...]:
    table = np.array([history.array(cell).sum() for cell in CELLS]).reshape(2, 2, 2, 2)
    return _trials_from_table(table)


def _s_statistic(history: History) -> tuple[float, float]:
    x, y, a, b = _history_trials(history)
    try:
        s = chsh(x, y, a, b)
    except ValueError:   # a setting pair without trials yet
        return math.nan, math.nan
    return s.value, s.error


def _p_statistic(history: History) -> float:
    x, y, a, b = _history_trials(history)
    return chsh_game(x, y, a, b).p_value if len(x) else math.nan


__all__ = ["SETTING_DIRECTIONS", "BellTest", "BellTestConfig", "BellTestResult",
           "bell_program"]
