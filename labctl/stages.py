"""Which stage of a quantum internet a set of end nodes attains, from measured parameters.

Wehner, Elkouss & Hanson, Science 362, eaam9288 (2018), Table 1 and Box 1
(shared/reference/physics.md section 1) define the stages by functionality
and a few parameters. This module turns estimates with 95 % confidence
intervals into a verdict per stage. Measurements come per **pair of end
nodes** (`Measurements`, one link each) and per **end node** for the memory
(`MemoryDecay`); the review's stages require the functionality between *all*
end nodes, so a stage is attained only if every pair (every node, for the
memory) attains it, and the verdict names the pair or node that limits it.
Three end nodes are the smallest network: a station with two end nodes
gets a link-level result, and says so (`scope`, `LINK_NOTE`).

- **prepare and measure** (per pair): p (probability that a sent state is
  *not* lost — the Table's convention; the body text calls p the loss
  probability), ε_T (transmission) and ε_M (measurement); attained when the
  upper confidence bound of ε_T + ε_M is at most 0.11, the review's
  sufficient condition for BB84 QKD. Margin: 0.11 − upper(ε_T + ε_M).
- **entanglement distribution** (per pair): ε_P (preparation of the
  heralded pair) and ε_M; attained when upper(ε_P + ε_M) ≤ 0.057, the
  review's sufficient condition for device-independent QKD. Margin: 0.057 −
  upper(ε_P + ε_M). ε_P is the trace distance ½‖ρ − |Ψ⟩⟨Ψ|‖₁ (Nielsen &
  Chuang, *Quantum Computation and Quantum Information*, §9.2.1) between
  the target Bell state and the **Bell-diagonal part** of the heralded
  state, reconstructed from the measured XX, YY, ZZ (`bell_diagonal_error`):
  that is exactly the preparation error of the pair after a Bell-diagonal
  twirl (both nodes apply the same random element of {II, XX, YY, ZZ}, local
  operations with shared randomness that leave the target invariant —
  Bennett et al., PRA 54, 3824 (1996)), which any protocol may apply. For
  the untwirled state it is a lower bound: the trace distance then lies in
  [1 − F, √(1 − F)] (Fuchs–van de Graaf; N & C eq. 9.110), and the Box 1
  bound ε_P ≤ √(1 − F) is used instead — with its looser value — whenever
  the correlators are not available (`Measurements.epsilon_p` None).
- **quantum memory** (per end node): qubits must be stored for k·C_m·t,
  t = the time to make one EPR pair and send a classical message between
  the farthest pair of nodes (here: the largest measured t of all pairs),
  C_m the number of such rounds a depth-m circuit takes (labctl certifies
  depth-one circuits, C_1 = 1 by default; stated in the thresholds). The
  memory is exposed to every entangling attempt of the following pairs, so
  it suffers N = k·C_m·t / t_attempt attempts, each dephasing it (physics.md
  section 4: coherence exp(−N/N_1/e)). The storage error of that dephasing
  channel is ε_store = (1 − exp(−N/N_1/e))/2 (the diamond-norm distance
  from the identity channel, exact for a Pauli channel — the review's Box 1
  measure), which is also 1 − the stored fidelity of an equatorial state.
  Attained when the upper confidence bound of ε_store is at most
  `STORAGE_ERROR_THRESHOLD` for every end node. The review gives no number
  for this stage; labctl assumes the DI-QKD budget 0.057 of the stage below
  (a stored qubit may cost no more than that stage's whole error budget);
  pass another threshold to `certify` to change it. Margin: threshold −
  upper(ε_store) of the worst node. ``k_supported`` is the largest k the
  worst node keeps within the threshold. (The 1/e storage time is not a
  criterion: a memory "outliving" k rounds by its 1/e time has lost 1 −
  (1 + e⁻¹)/2 ≈ 0.32 of its fidelity by then.)

Stages build on each other: a stage is attained only if every lower one is.
A stage whose measurements could not be made (the station lacks an
instrument, or the battery did not run) is *not testable* (``attained`` is
None) with the reason. Errors add over a protocol's steps (Box 1), so the
sums above are upper bounds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, get_args

from labctl.physics.states import BellName, fidelity_from_correlators

#: Stage names in order, lowest first.
STAGES = ("prepare_and_measure", "entanglement_distribution", "quantum_memory")
#: ε_T + ε_M below which BB84 QKD is possible (review, Table 1 text).
BB84_THRESHOLD = 0.11
#: ε_P + ε_M below which device-independent QKD is possible (review).
DI_QKD_THRESHOLD = 0.057
#: ε_store per end node after k·C_m·t: labctl's assumption (see the module docstring).
STORAGE_ERROR_THRESHOLD = DI_QKD_THRESHOLD
#: Rounds k of the quantum-memory stage required by default.
DEFAULT_ROUNDS = 10
#: C_m: pair-and-message rounds of the circuit the memory must wait for (depth one).
DEFAULT_CIRCUIT_ROUNDS = 1.0
#: End nodes of the smallest network (the review); fewer make a link.
NETWORK_NODES = 3
LINK_NOTE = "link-level stage; a network stage needs ≥ 3 end nodes"
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
    """One stage: attained (True/False) or not testable (None), and why.

    ``limiting`` names the pair of end nodes (``"a/b"``) or the end node that
    decides the verdict; ``parts`` holds each pair's (node's) own verdict.
    """

    stage: str
    attained: bool | None
    reason: str
    parameters: dict[str, Estimate] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    margin: float | None = None
    runs: tuple[int, ...] = ()
    limiting: str | None = None
    parts: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"attained": self.attained, "reason": self.reason,
                "parameters": {k: v.to_dict() for k, v in self.parameters.items()},
                "thresholds": dict(self.thresholds), "margin": self.margin,
                "runs": list(self.runs), "limiting": self.limiting,
                "parts": {k: dict(v) for k, v in self.parts.items()}}


@dataclass(frozen=True)
class MemoryDecay:
    """One end node's memory under entangling attempts: N_1/e and the attempt period."""

    n_1_over_e: Estimate                        # attempts to 1/e of the coherence
    attempt_period_s: float                     # s between the attempts it is exposed to
    runs: tuple[int, ...] = ()


@dataclass(frozen=True)
class Measurements:
    """What the test battery measured for one pair of end nodes (None: not measured)."""

    p: Estimate | None = None                   # a sent state is not lost
    epsilon_t: Estimate | None = None           # transmission (prepare and measure)
    epsilon_m: Estimate | None = None           # measurement (readout), worse node
    fidelity: Estimate | None = None            # heralded pair, readout-corrected
    chsh: Estimate | None = None                # S of the Bell test (reported)
    pair_time: Estimate | None = None           # t: one EPR pair plus a message, s
    #: trace distance of the pair's Bell-diagonal part (`bell_diagonal_error`);
    #: None: ε_P ≤ √(1 − F) (Box 1)
    epsilon_p: Estimate | None = None
    #: the memory of each end node of the pair, under attempts
    memories: Mapping[str, MemoryDecay] = field(default_factory=dict)
    nodes: tuple[str, str] = ("node_a", "node_b")
    #: the runs behind each measurement: ``transmission`` (p, ε_T), ``pairs`` (F, rate),
    #: ``bell`` (S), ``memory`` (N_1/e), ``readout`` (ε_M)
    runs: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    untestable: Mapping[str, str] = field(default_factory=dict)   # stage -> why

    @property
    def pair(self) -> str:
        return "/".join(self.nodes)


def preparation_error(fidelity: Estimate) -> Estimate:
    """ε_P ≤ √(1 − F) (Box 1), the interval mapped through the monotone bound."""
    def bound(f: float) -> float:
        return math.sqrt(max(0.0, 1.0 - min(f, 1.0)))
    return Estimate(bound(fidelity.value), bound(fidelity.high), bound(fidelity.low))


def bell_diagonal_error(xx: float, yy: float, zz: float, fidelity_error: float,
                        target: BellName = "Psi+") -> Estimate:
    """Trace distance between ``target`` and the Bell-diagonal state of XX, YY, ZZ.

    The Bell-diagonal part has weights λ_j = F_j (the fidelity to each Bell
    state, physics.md section 3); its trace distance to the target is
    ½(|1 − λ_target| + Σ_other |λ_j|) = 1 − F when every λ_j ≥ 0 (N & C
    §9.2.1: for commuting states, the ℓ1 distance of their eigenvalues). The
    interval is ±1.96 σ_F (exact for λ_j ≥ 0, where the distance is 1 − F),
    clipped to [0, 1].
    """
    if target not in get_args(BellName):
        raise ValueError(f"target must be one of {', '.join(get_args(BellName))}, "
                         f"got {target!r}")
    weights = {name: fidelity_from_correlators(xx, yy, zz, name) for name in get_args(BellName)}
    distance = 0.5 * sum(abs((1.0 if name == target else 0.0) - weight)
                         for name, weight in weights.items())
    return Estimate.normal(distance, fidelity_error, 0.0, 1.0)


def storage_error(attempts: float, n_1_over_e: float) -> float:
    """ε_store = (1 − exp(−N/N_1/e))/2 after N attempts (see the module docstring)."""
    if n_1_over_e <= 0:
        return 0.5
    return 0.5 * (1.0 - math.exp(-attempts / n_1_over_e))


def storage_error_after(rounds: float, circuit_rounds: float, pair_time: Estimate,
                        memory: MemoryDecay) -> Estimate:
    """ε_store after k·C_m·t with its interval (the extremes of t's and N_1/e's)."""
    def error(t: float, n: float) -> float:
        return storage_error(rounds * circuit_rounds * t / memory.attempt_period_s, n)
    n = memory.n_1_over_e
    return Estimate(error(pair_time.value, n.value), error(pair_time.low, n.high),
                    error(pair_time.high, n.low))


def rounds_supported(pair_time: Estimate, memory: MemoryDecay, circuit_rounds: float,
                     threshold: float = STORAGE_ERROR_THRESHOLD) -> Estimate:
    """The largest k with ε_store(k·C_m·t) ≤ threshold, with its interval."""
    budget = -math.log(1.0 - 2.0 * threshold)

    def k(t: float, n: float) -> float:
        return math.inf if t <= 0 else budget * n * memory.attempt_period_s / (
            circuit_rounds * t)
    n = memory.n_1_over_e
    return Estimate(k(pair_time.value, n.value), k(pair_time.high, n.low),
                    k(pair_time.low, n.high))


def _sum(first: Estimate, second: Estimate) -> Estimate:
    """A sum of two error bounds; the interval ends add (conservative)."""
    return Estimate(first.value + second.value, first.low + second.low,
                    first.high + second.high)


def end_nodes(links: Sequence[Measurements]) -> tuple[str, ...]:
    """Every end node of the links, in order of first mention."""
    return tuple(dict.fromkeys(node for link in links for node in link.nodes))


def scope(links: Sequence[Measurements]) -> str:
    """``"network"`` with at least `NETWORK_NODES` end nodes, else ``"link"``."""
    return "network" if len(end_nodes(links)) >= NETWORK_NODES else "link"


def certify(measured: Measurements | Sequence[Measurements], rounds: int = DEFAULT_ROUNDS,
            circuit_rounds: float = DEFAULT_CIRCUIT_ROUNDS,
            storage_threshold: float = STORAGE_ERROR_THRESHOLD) -> list[StageVerdict]:
    """The verdict for every stage over all pairs of end nodes, lowest first."""
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    if not (math.isfinite(circuit_rounds) and circuit_rounds >= 1):
        raise ValueError(f"C_m must be at least 1, got {circuit_rounds}")
    if not 0 < storage_threshold < 0.5:
        raise ValueError(f"the storage-error threshold must be within (0, 0.5), "
                         f"got {storage_threshold}")
    links = [measured] if isinstance(measured, Measurements) else list(measured)
    if not links:
        raise ValueError("no pairs of end nodes measured")
    pairs = [link.pair for link in links]
    if len(set(pairs)) != len(pairs):
        raise ValueError(f"a pair of end nodes is measured twice: {', '.join(pairs)}")
    verdicts = [_over_parts("prepare_and_measure",
                            {link.pair: _prepare_and_measure(link) for link in links}, "pair"),
                _over_parts("entanglement_distribution",
                            {link.pair: _entanglement_distribution(link) for link in links},
                            "pair"),
                _quantum_memory(links, rounds, circuit_rounds, storage_threshold)]
    for index in range(1, len(verdicts)):
        below, current = verdicts[index - 1], verdicts[index]
        if current.attained and not below.attained:
            verdicts[index] = StageVerdict(
                current.stage, False, f"{below.stage} is not attained; {current.reason}",
                current.parameters, current.thresholds, current.margin, current.runs,
                current.limiting, current.parts)
    return verdicts


def highest_stage(verdicts: list[StageVerdict]) -> str:
    """The highest attained stage, or "none"."""
    attained = [v.stage for v in verdicts if v.attained]
    return attained[-1] if attained else "none"


def _over_parts(stage: str, parts: Mapping[str, StageVerdict], kind: str) -> StageVerdict:
    """One verdict from each pair's (node's): attained only if every part is; the part
    that decides it — a failing one with the least margin, else an untestable one,
    else the one with the least margin — gives the parameters and is named."""
    failed = [name for name, v in parts.items() if v.attained is False]
    untested = [name for name, v in parts.items() if v.attained is None]

    def least_margin(names: list[str]) -> str:
        return min(names, key=lambda n: (parts[n].margin is None, parts[n].margin or 0.0))
    limiting = (least_margin(failed) if failed else untested[0] if untested
                else least_margin(list(parts)))
    decisive = parts[limiting]
    attained = False if failed else None if untested else True
    reason = decisive.reason
    if len(parts) > 1:
        reason = f"limited by {kind} {limiting} (of {len(parts)}): {reason}"
    margins = [v.margin for v in parts.values() if v.margin is not None]
    margin = None if attained is None or not margins else min(margins)
    runs = tuple(sorted({run for v in parts.values() for run in v.runs}))
    return StageVerdict(stage, attained, reason, dict(decisive.parameters),
                        dict(decisive.thresholds), margin, runs, limiting,
                        {name: {"attained": v.attained, "margin": v.margin, "reason": v.reason}
                         for name, v in parts.items()})


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
    if measured.epsilon_p is not None:
        epsilon_p, how = measured.epsilon_p, "epsilon_P: trace distance of the Bell-diagonal part"
    else:
        epsilon_p = preparation_error(measured.fidelity)
        how = "epsilon_P ≤ √(1 − F) (Box 1; no correlators to reconstruct the state from)"
    total = _sum(epsilon_p, measured.epsilon_m)
    margin = DI_QKD_THRESHOLD - total.high
    attained = margin >= 0
    parameters = {"fidelity": measured.fidelity, "epsilon_P": epsilon_p,
                  "epsilon_M": measured.epsilon_m, "epsilon_P + epsilon_M": total}
    if measured.chsh is not None:
        parameters["S"] = measured.chsh
    reason = (f"epsilon_P + epsilon_M ≤ {total.high:.3g} (95 % upper bound) "
              f"{'within' if attained else 'exceeds'} the DI-QKD threshold {DI_QKD_THRESHOLD}"
              f"; {how}")
    return StageVerdict(stage, attained, reason, parameters, thresholds, margin, runs)


def _quantum_memory(links: Sequence[Measurements], rounds: int, circuit_rounds: float,
                    threshold: float) -> StageVerdict:
    stage = "quantum_memory"
    thresholds = {"epsilon_store": threshold, "k": float(rounds), "C_m": circuit_rounds}
    runs = tuple(sorted({run for link in links for run in _runs(link, "memory", "pairs")}))
    for link in links:
        missing = _untestable(stage, link, {"pair time": link.pair_time}, thresholds, runs)
        if missing:
            return StageVerdict(stage, None, missing.reason if len(links) == 1 else
                                f"pair {link.pair}: {missing.reason}", thresholds=thresholds,
                                runs=runs, limiting=link.pair)
    times = [link.pair_time for link in links if link.pair_time is not None]
    farthest = max(times, key=lambda t: t.value)
    pair_time = Estimate(farthest.value, max(t.low for t in times), max(t.high for t in times))
    parts: dict[str, StageVerdict] = {}
    for node in end_nodes(links):
        memories = [link.memories[node] for link in links if node in link.memories]
        if not memories:
            parts[node] = StageVerdict(stage, None, f"not measured: the memory of {node}",
                                       thresholds=thresholds)
            continue
        memory = min(memories, key=lambda m: m.n_1_over_e.value / m.attempt_period_s)
        error = storage_error_after(rounds, circuit_rounds, pair_time, memory)
        k = rounds_supported(pair_time, memory, circuit_rounds, threshold)
        margin = threshold - error.high
        attained = margin >= 0
        reason = (f"{node} stores a qubit through k·C_m·t = {rounds}·{circuit_rounds:g}·"
                  f"{pair_time.value:.3g} s with error ≤ {error.high:.3g} (95 % upper bound), "
                  f"{'within' if attained else 'above'} the threshold {threshold:g}; it keeps "
                  f"the threshold for k ≥ {k.low:.3g} rounds")
        parts[node] = StageVerdict(
            stage, attained, reason,
            {"pair_time_s": pair_time, "n_1_over_e": memory.n_1_over_e,
             "epsilon_store": error, "k_supported": k}, thresholds, margin, memory.runs)
    verdict = _over_parts(stage, parts, "node")
    return StageVerdict(stage, verdict.attained, verdict.reason, verdict.parameters,
                        thresholds, verdict.margin, runs, verdict.limiting, verdict.parts)
