"""Bell test (CHSH) with a random basis setting per trial on both nodes.

The nodes attempt single-click entanglement (`experiments.bringup`); at each
herald every node's AWG is in dynamic-jump mode and jumps to the readout
element its random-number generator selects (bit x at node A, y at node B,
wired to the AWG's EVENT IN pattern pins and recorded by the time tagger on
``setting_node_a`` / ``setting_node_b``), as in Hensen et al., Nature 526,
682 (2015).

Settings (`bell_settings`): the optimal ones for the state the link heralds,
in its Ψ+ frame, from `labctl.physics.bell.axis_settings`. Given the expected
correlators (``expected_xx/yy/zz``: from `labctl predict` or an entanglement
run), A measures the two axes with the largest |T| and B the combinations
that reach S = 2√(T_i² + T_j²). Without them the protocol decides: a
single-click state (1 − α)|Ψ+⟩⟨Ψ+| + α|↑↑⟩ has its ZZ weakened by the
bright–bright term only (Humphreys et al., Nature 558, 268 (2018)), so A
measures X (x = 0) or Y (x = 1) and B (X ± Y)/√2 — on the default world raw
S 1.72 instead of 1.61 in the XZ plane; Barrett–Kok's XX, YY are weakened by
the two-photon visibility only (Bernien et al., Nature 497, 86 (2013)), so A
measures Z or X and B (X − Z)/√2 or (−X − Z)/√2.

A Ψ− herald (the "−" detector clicked) is brought to the Ψ+ frame by Z on
node A, which flips A's outcome along X or Y and leaves Z alone — so the
settings stay the same for both herald patterns. Outcomes are the raw
readouts (no readout correction: a Bell test must not correct). Per block
the values count trials by (x, y, a, b); the analysis gives S with σ_S =
√(Σ (1 − E²)/N), the CHSH-game wins and the p-value of the local-model
hypothesis with ξ from the measured setting frequencies
(`labctl.analysis.sequential`; ``xi`` given: a characterised source's
bound instead): a run of fixed length (no stopping rule)
reports the binomial tail P(k ≥ wins | n, ξ) (physics.md section 3; Elkouss
& Wehner, npj QI 2, 16026 (2016)); a run that may stop early reports the
test-supermartingale p-value, valid at any stopping time (Zhang, Glancy &
Knill, PRA 84, 062118 (2011)), computed block by block with the run's
``blocks`` as the most looks. The run stops after ``blocks``, or earlier
when that p-value falls below ``stop_p_value`` or when S exceeds 2 by
``stop_sigmas`` standard errors (either 0 to switch it off). The σ criterion
only decides when to stop: S − 2 in σ after optional stopping is no evidence
by itself, and the reported p-value stays valid whichever rule stopped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
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
from labctl.analysis.estimators import chsh, chsh_game, chsh_p_value
from labctl.analysis.sequential import (
    FIXED_N,
    SUPERMARTINGALE,
    chsh_supermartingale,
    fixed_n_p_value,
)
from labctl.commands.predict import warn_unless_violation
from labctl.data.archive import RunData
from labctl.engine.experiment import Block, Experiment, RunContext, config_from_dict
from labctl.engine.stopping import (
    AnyOf,
    FixedCount,
    History,
    StatisticBelow,
    StatisticBound,
    StoppingRule,
)
from labctl.physics.bell import Direction, axis_settings
from labctl.pulses.program import Marker, Program, Rotation, Segment

NODES = ("node_a", "node_b")
#: Axis order that breaks ties of |T| when no expected correlators are given (module doc).
PROTOCOL_AXES = {"single-click": "XYZ", "barrett-kok": "ZXY"}
#: The Ψ+ state's correlators (XX, YY, ZZ), the ties the protocol's axis order breaks.
PSI_PLUS = (1.0, 1.0, -1.0)
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
    #: Expected correlators of the heralded state in its Ψ+ frame (all three, or none:
    #: the protocol's plane); they choose the settings.
    expected_xx: float | None = None
    expected_yy: float | None = None
    expected_zz: float | None = None
    #: The local bound ξ of a characterised setting source (e.g. 0.75 for a certified
    #: uniform one); None: an upper-confidence ξ from the measured setting frequencies.
    xi: float | None = None

    def __post_init__(self) -> None:
        check_link_settings(self.protocol, self.alpha, self.block_seconds)
        if self.blocks < 1:
            raise ValueError(f"blocks must be at least 1, got {self.blocks}")
        if not self.stop_sigmas >= 0:
            raise ValueError(f"stop_sigmas must not be negative, got {self.stop_sigmas}")
        if not 0.0 <= self.stop_p_value < 1.0:
            raise ValueError(f"stop_p_value must be within [0, 1), got {self.stop_p_value}")
        expected = (self.expected_xx, self.expected_yy, self.expected_zz)
        if any(e is None for e in expected) and any(e is not None for e in expected):
            raise ValueError("expected_xx, expected_yy, expected_zz: give all three or none")
        for name, value in zip(("expected_xx", "expected_yy", "expected_zz"), expected,
                               strict=True):
            if value is not None and not -1.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [-1, 1], got {value}")
        if self.xi is not None and not 0.75 <= self.xi < 1.0:
            raise ValueError(f"xi must be within [0.75, 1) (a local model wins 3/4 even with "
                             f"uniform settings), got {self.xi}")

    @property
    def sequential(self) -> bool:
        """Whether the run may stop early (then only the supermartingale p-value is valid)."""
        return self.stop_sigmas > 0 or self.stop_p_value > 0


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
    #: How ``p_value`` was computed: "binomial-tail" (fixed n) or "test-supermartingale".
    p_value_method: str = FIXED_N
    #: The local bound ξ used (upper-confidence, from the measured setting frequencies).
    xi: float = 0.75
    #: Measured fractions of the setting pairs (keys as ``correlators``).
    setting_fractions: dict[str, float] = field(default_factory=dict)
    #: Bloch directions measured per setting bit (x at A, y at B).
    settings: dict[str, list[list[float]]] = field(default_factory=dict)


def bell_settings(config: BellTestConfig) -> dict[str, tuple[Direction, Direction]]:
    """Directions measured for bits 0, 1 at each node (module docstring)."""
    expected = (config.expected_xx, config.expected_yy, config.expected_zz)
    correlations = PSI_PLUS if expected[0] is None else expected
    settings_a, settings_b = axis_settings(correlations,  # type: ignore[arg-type]
                                           PROTOCOL_AXES[config.protocol])
    return {"node_a": settings_a, "node_b": settings_b}


#: Bloch directions of the default config's settings (x = 0, 1 at A; y = 0, 1 at B).
SETTING_DIRECTIONS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    node: (tuple(map(float, d0)), tuple(map(float, d1)))
    for node, (d0, d1) in bell_settings(BellTestConfig()).items()}


def readout_rotation(direction: Direction) -> tuple[float, float] | None:
    """(angle, phase) of the pulse after which reading out Z measures ``direction``.

    A rotation by θ about cos φ X + sin φ Y takes the measured axis from Z to
    cos θ Z + sin θ (−sin φ, cos φ, 0); None for Z itself.
    """
    n = np.asarray(direction, dtype=float)
    angle = float(np.arccos(np.clip(n[2], -1.0, 1.0)))
    if angle < 1e-12:
        return None
    return angle, float(np.arctan2(-n[0], n[1]))


def _readout_segment(name: str, rotation: tuple[float, float] | None) -> Segment:
    rotations = () if rotation is None else (
        Rotation.for_angle(20e-9, rotation[0], RABI_FULL_SCALE_HZ, phase=rotation[1]),)
    return Segment(name, READOUT_ELEMENT, rotations=rotations,
                   markers=(Marker("readout", READOUT_START, READOUT_LENGTH),))


def bell_program(design: AttemptDesign, node: str,
                 settings: dict[str, tuple[Direction, Direction]] | None = None) -> Program:
    """Attempt until a herald, then read out in the basis the random bit selects."""
    attempt = attempt_program(design).segments[0]
    directions = (settings or bell_settings(BellTestConfig()))[node]
    first, second = (readout_rotation(d) for d in directions)
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
            station.sequencer(node).play(bell_program(design, node, bell_settings(self.config)))
        warn_unless_violation(station)   # before the first block: S ≤ 2 predicted (sim)

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
        # Z on A: Ψ− → Ψ+ flips A's outcome along X or Y, not along Z
        flips = np.array([abs(d[2]) < 0.5 for d in bell_settings(config)["node_a"]])
        a = np.where(minus & flips[x], 1 - a, a)
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
            rules.append(StatisticBelow("p-value", partial(
                _p_statistic, looks=config.blocks, xi=config.xi), config.stop_p_value))
        return AnyOf(tuple(rules))

    @classmethod
    def analyze(cls, data: RunData) -> BellTestResult:
        return result_from_values(data.values, config_from_dict(BellTestConfig,
                                                                data.info.config))

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


def result_from_values(values: dict[str, np.ndarray], config: BellTestConfig) -> BellTestResult:
    """The result of a run's per-block values, its p-value as the config's stopping allows."""
    table = trial_table(values)
    x, y, a, b = _trials_from_table(table)
    if len(x) == 0:
        raise ValueError("no trials in this run: cannot estimate S")
    s = chsh(x, y, a, b)
    wins, settings = block_games(values)
    if config.sequential:
        test = chsh_supermartingale(wins, settings, looks=max(config.blocks, len(wins)),
                                    xi=config.xi)
        p_value, xi, method = test.p_value, test.xi, SUPERMARTINGALE
    elif config.xi is not None:
        p_value, xi, method = chsh_p_value(int(wins.sum()), len(x), config.xi), config.xi, FIXED_N
    else:
        p, xi_n = fixed_n_p_value(wins.sum(), settings.sum(axis=0))
        p_value, xi, method = float(p), float(xi_n), FIXED_N
    game = chsh_game(x, y, a, b, xi=min(xi, 1.0 - 1e-12))
    names = {(sx, sy): f"E{sx}{sy}" for sx in (0, 1) for sy in (0, 1)}
    return BellTestResult(
        S=s.value, S_err=s.error, trials=game.trials, wins=game.wins,
        win_fraction=game.win_fraction, p_value=p_value,
        correlators={names[k]: s.correlators[k[0]][k[1]].value for k in names},
        correlator_errors={names[k]: s.correlators[k[0]][k[1]].error for k in names},
        trials_per_setting={names[k]: int(table[k].sum()) for k in names},
        seconds=float(values["seconds"].sum()), p_value_method=method, xi=xi,
        setting_fractions={names[k]: float(table[k].sum()) / game.trials for k in names},
        settings={node: [list(map(float, d)) for d in directions]
                  for node, directions in bell_settings(config).items()})


def block_games(values: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per block: CHSH-game wins and trials per setting pair (x, y) = 00, 01, 10, 11."""
    per_block = np.stack([np.asarray(values[cell], dtype=float) for cell in CELLS], axis=-1)
    per_block = per_block.reshape(-1, 2, 2, 2, 2)
    x, y, a, b = np.indices((2, 2, 2, 2))
    won = ((a ^ b) == (x & y)).astype(float)
    wins = (per_block * won).sum(axis=(1, 2, 3, 4))
    return wins, per_block.sum(axis=(3, 4)).reshape(-1, 4)


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


def _p_statistic(history: History, looks: int, xi: float | None = None) -> float:
    """The test-supermartingale p-value of the blocks so far (valid at any stopping time)."""
    if history.blocks == 0:
        return math.nan
    wins, settings = block_games({cell: history.array(cell) for cell in CELLS})
    return chsh_supermartingale(wins, settings, looks=max(looks, len(wins)), xi=xi).p_value


__all__ = ["SETTING_DIRECTIONS", "BellTest", "BellTestConfig", "BellTestResult",
           "bell_program", "bell_settings", "block_games", "readout_rotation",
           "result_from_values"]
