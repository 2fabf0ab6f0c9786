"""Which stage of a quantum internet a link attains, from measured parameters.

Wehner, Elkouss & Hanson, Science 362, eaam9288 (2018), Table 1 and Box 1
(shared/reference/physics.md section 1) define the stages by functionality
and a few parameters. This module turns estimates with confidence intervals
into a verdict per stage:

- **prepare and measure**: p (probability that a sent state is *not* lost —
  the Table's convention; the body text calls p the loss probability), ε_T
  (transmission) and ε_M (measurement); attained when the upper confidence
  bound of ε_T + ε_M is at most 0.11, the review's sufficient condition for
  BB84 QKD. Margin: 0.11 − upper(ε_T + ε_M).
- **entanglement distribution**: ε_P (preparation of the heralded pair) and
  ε_M; ε_P ≤ √(1 − F) for a pair of fidelity F (Box 1), evaluated at F's
  lower confidence bound; attained when upper(ε_P + ε_M) ≤ 0.057, the
  review's sufficient condition for device-independent QKD. Margin: 0.057 −
  upper(ε_P + ε_M).
- **quantum memory**: the storage time must cover k·C_m·t, t = the time to
  make one EPR pair and send a classical message across the link. labctl
  certifies depth-one circuits (C_1 = 1, a single local operation) and
  reports k = T_store / t, with T_store the memory's 1/e time *while the link
  keeps attempting* (N_1/e attempts × the attempt time — the memory is
  exposed to every attempt of the next pair). Attained when the lower
  confidence bound of k reaches the required ``rounds`` (default 10).
  Margin: lower(k) − rounds.

Stages build on each other: a stage is attained only if every lower one is.
A stage whose measurements could not be made (the station lacks an
instrument, or the battery did not run) is *not testable* (``attained`` is
None) with the reason. Errors add over a protocol's steps (Box 1), so the
sums above are upper bounds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Stage names in order, lowest first.
STAGES = ("prepare_and_measure", "entanglement_distribution", "quantum_memory")
#: ε_T + ε_M below which BB84 QKD is possible (review, Table 1 text).
BB84_THRESHOLD = 0.11
#: ε_P + ε_M below which device-independent QKD is possible (review).
DI_QKD_THRESHOLD = 0.057
#: Rounds k of the quantum-memory stage required by default.
DEFAULT_ROUNDS = 10
#: Two-sided 95 % confidence intervals (normal approximation): ±1.96 σ.
Z_95 = 1.959963984540054


@dataclass(frozen=True)
class Estimate:
    """A measured value with its 95 % confidence interval [low, high]."""

    value: float
    low: float
    high: float

    @classmethod
    def normal(cls, value: float, error: float, lower: float = -math.inf,
               upper: float = math.inf) -> Estimate:
        """value ± 1.96 σ, clipped to the quantity's physical range."""
        if not (math.isfinite(value) and math.isfinite(error) and error >= 0):
            raise ValueError(f"an estimate needs a finite value and error, got {value} ± {error}")
        return cls(min(max(value, lower), upper), max(value - Z_95 * error, lower),
                   min(value + Z_95 * error, upper))

    def to_dict(self) -> dict[str, float]:
        return {"value": self.value, "low": self.low, "high": self.high}


@dataclass(frozen=True)
class StageVerdict:
    """One stage: attained (True/False) or not testable (None), and why."""

    stage: str
    attained: bool | None
    reason: str
    parameters: dict[str, Estimate] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    margin: float | None = None
    runs: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"attained": self.attained, "reason": self.reason,
                "parameters": {k: v.to_dict() for k, v in self.parameters.items()},
                "thresholds": dict(self.thresholds), "margin": self.margin,
                "runs": list(self.runs)}


@dataclass(frozen=True)
class Measurements:
    """What the test battery measured (None: not measured), with the runs it used."""

    p: Estimate | None = None                   # a sent state is not lost
    epsilon_t: Estimate | None = None           # transmission (prepare and measure)
    epsilon_m: Estimate | None = None           # measurement (readout), worst node
    fidelity: Estimate | None = None            # heralded pair, readout-corrected
    chsh: Estimate | None = None                # S of the Bell test (reported)
    pair_time: Estimate | None = None           # t: one EPR pair plus a message, s
    storage_time: Estimate | None = None        # T_store under attempts, s
    #: the runs behind each measurement: ``transmission`` (p, ε_T), ``pairs`` (F, rate),
    #: ``bell`` (S), ``memory`` (T_store), ``readout`` (ε_M)
    runs: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    untestable: Mapping[str, str] = field(default_factory=dict)   # stage -> why


def preparation_error(fidelity: Estimate) -> Estimate:
    """ε_P ≤ √(1 − F) (Box 1), the interval mapped through the monotone bound."""
    def bound(f: float) -> float:
        return math.sqrt(max(0.0, 1.0 - min(f, 1.0)))
    return Estimate(bound(fidelity.value), bound(fidelity.high), bound(fidelity.low))


def rounds_supported(storage_time: Estimate, pair_time: Estimate) -> Estimate:
    """k = T_store / t with its interval (the extremes of the two intervals)."""
    def ratio(store: float, pair: float) -> float:
        return math.inf if pair <= 0 else store / pair
    return Estimate(ratio(storage_time.value, pair_time.value),
                    ratio(storage_time.low, pair_time.high),
                    ratio(storage_time.high, pair_time.low))


def _sum(first: Estimate, second: Estimate) -> Estimate:
    """A sum of two error bounds; the interval ends add (conservative)."""
    return Estimate(first.value + second.value, first.low + second.low,
                    first.high + second.high)


def certify(measured: Measurements, rounds: int = DEFAULT_ROUNDS) -> list[StageVerdict]:
    """The verdict for every stage, lowest first (see the module docstring)."""
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    verdicts = [_prepare_and_measure(measured), _entanglement_distribution(measured),
                _quantum_memory(measured, rounds)]
    for index in range(1, len(verdicts)):
        below, current = verdicts[index - 1], verdicts[index]
        if current.attained and not below.attained:
            verdicts[index] = StageVerdict(
                current.stage, False, f"{below.stage} is not attained; {current.reason}",
                current.parameters, current.thresholds, current.margin, current.runs)
    return verdicts


def highest_stage(verdicts: list[StageVerdict]) -> str:
    """The highest attained stage, or "none"."""
    attained = [v.stage for v in verdicts if v.attained]
    return attained[-1] if attained else "none"


def _runs(measured: Measurements, *names: str) -> tuple[int, ...]:
    return tuple(sorted({run for name in names for run in measured.runs.get(name, ())}))


def _untestable(stage: str, measured: Measurements, needed: Mapping[str, Any],
                thresholds: dict[str, float], runs: tuple[int, ...]) -> StageVerdict | None:
    if stage in measured.untestable:
        return StageVerdict(stage, None, measured.untestable[stage], thresholds=thresholds,
                            runs=runs)
    missing = [name for name, value in needed.items() if value is None]
    if missing:
        return StageVerdict(stage, None, f"not measured: {', '.join(missing)}",
                            thresholds=thresholds, runs=runs)
    return None


def _prepare_and_measure(measured: Measurements) -> StageVerdict:
    stage = "prepare_and_measure"
    thresholds = {"epsilon_T + epsilon_M": BB84_THRESHOLD}
    runs = _runs(measured, "transmission", "readout")
    missing = _untestable(stage, measured, {"p": measured.p, "epsilon_T": measured.epsilon_t,
                                            "epsilon_M": measured.epsilon_m}, thresholds, runs)
    if missing:
        return missing
    assert measured.p and measured.epsilon_t and measured.epsilon_m
    total = _sum(measured.epsilon_t, measured.epsilon_m)
    margin = BB84_THRESHOLD - total.high
    attained = margin >= 0
    reason = (f"epsilon_T + epsilon_M ≤ {total.high:.3g} (95 % upper bound) "
              f"{'within' if attained else 'exceeds'} the BB84 threshold {BB84_THRESHOLD}")
    return StageVerdict(stage, attained, reason,
                        {"p": measured.p, "epsilon_T": measured.epsilon_t,
                         "epsilon_M": measured.epsilon_m, "epsilon_T + epsilon_M": total},
                        thresholds, margin, runs)


def _entanglement_distribution(measured: Measurements) -> StageVerdict:
    stage = "entanglement_distribution"
    thresholds = {"epsilon_P + epsilon_M": DI_QKD_THRESHOLD}
    runs = _runs(measured, "pairs", "bell", "readout")
    missing = _untestable(stage, measured, {"fidelity": measured.fidelity,
                                            "epsilon_M": measured.epsilon_m}, thresholds, runs)
    if missing:
        return missing
    assert measured.fidelity and measured.epsilon_m
    epsilon_p = preparation_error(measured.fidelity)
    total = _sum(epsilon_p, measured.epsilon_m)
    margin = DI_QKD_THRESHOLD - total.high
    attained = margin >= 0
    parameters = {"fidelity": measured.fidelity, "epsilon_P": epsilon_p,
                  "epsilon_M": measured.epsilon_m, "epsilon_P + epsilon_M": total}
    if measured.chsh is not None:
        parameters["S"] = measured.chsh
    reason = (f"epsilon_P + epsilon_M ≤ {total.high:.3g} (95 % upper bound) "
              f"{'within' if attained else 'exceeds'} the DI-QKD threshold {DI_QKD_THRESHOLD}")
    return StageVerdict(stage, attained, reason, parameters, thresholds, margin, runs)


def _quantum_memory(measured: Measurements, rounds: int) -> StageVerdict:
    stage = "quantum_memory"
    thresholds = {"k": float(rounds)}
    runs = _runs(measured, "memory", "pairs")
    missing = _untestable(stage, measured, {"storage time": measured.storage_time,
                                            "pair time": measured.pair_time}, thresholds, runs)
    if missing:
        return missing
    assert measured.storage_time and measured.pair_time
    k = rounds_supported(measured.storage_time, measured.pair_time)
    margin = k.low - rounds
    attained = margin >= 0
    reason = (f"the memory outlives k ≥ {k.low:.3g} pair-and-message times (95 % lower bound)"
              f", {'at least' if attained else 'fewer than'} the {rounds} rounds required")
    return StageVerdict(stage, attained, reason,
                        {"storage_time_s": measured.storage_time,
                         "pair_time_s": measured.pair_time, "k": k},
                        thresholds, margin, runs)
