"""Monte-Carlo sampling of entanglement attempts, drawn from the analytic link model.

For a block of N attempts (N up to 10^9) the sampler draws, without a Python
loop per attempt:

1. how many attempts produce any click: K ~ Binomial(N, P(any click));
2. which attempts those are: K distinct indices, uniformly (attempts are
   independent and identically distributed);
3. for each, which branch of `labctl.physics.link.herald_branches` it ends
   in — the click pattern per round and whether a photon or a dark count
   caused each click — from the branches' probabilities;
4. when each click happens within its detection window: photon clicks follow
   the emitter's exponential decay truncated to the window plus Gaussian
   detector jitter, dark clicks are uniform in the window;
5. for heralded attempts and chosen measurement bases, the two nodes'
   reported outcomes, from the branch's heralded state and each node's
   readout assignment matrix, after each node's dephasing until its readout:
   a quasi-static Gaussian detuning, fresh for every herald, averages to a
   phase flip (Z) with probability (1 − c)/2 for c = exp(−(τ/T2*)²)
   (`LinkParameters.spin_coherences`), so each herald draws a Z per node with
   that probability — exact for the outcome statistics of independent heralds
   — and measuring ZρZ along n is measuring ρ along (−n_x, −n_y, n_z).

Loops run over branches and distinct basis pairs (a handful), never over
attempts. The same per-round click probabilities define the analytic
prediction, so sampled rates and fidelities agree with `predict` within
statistical error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from labctl.physics import checks
from labctl.physics.bell import direction, outcome_probabilities
from labctl.physics.emitter import Readout
from labctl.physics.link import CLICKS, HeraldBranch, LinkParameters, herald_branches

#: Click codes per round in sampled arrays: index into `CLICKS`.
NO_CLICK, CLICK_PLUS, CLICK_MINUS, CLICK_BOTH = range(4)
#: Detector indices of the two heralding detectors.
DETECTOR_PLUS, DETECTOR_MINUS = 0, 1
#: Target codes: which Bell state a herald announces.
TARGET_NONE, TARGET_PSI_PLUS, TARGET_PSI_MINUS = -1, 0, 1
_TARGET_CODES = {None: TARGET_NONE, "Psi+": TARGET_PSI_PLUS, "Psi-": TARGET_PSI_MINUS}
_PERFECT = Readout(1.0, 1.0)


@dataclass(frozen=True)
class Timing:
    """Temporal shape of clicks within a detection window (all in s).

    ``emission_start`` is when photons start arriving, measured from the
    window's opening: 0 when the window opens with the photon, negative when
    it opens late (the early part of the decay is cut off), positive when it
    opens early. The analytic model's ``eta`` must already include the
    fraction of the decay inside the window (`window_fraction`).
    """

    lifetime: float = 12e-9
    jitter: float = 50e-12
    emission_start: float = 0.0

    def __post_init__(self) -> None:
        checks.positive("lifetime", self.lifetime)
        checks.non_negative("jitter", self.jitter)
        checks.finite("emission_start", self.emission_start)


def window_fraction(lifetime: float, emission_start: float, window: float) -> float:
    """Fraction of an exponential decay starting at ``emission_start`` inside [0, window]."""
    checks.positive("lifetime", lifetime)
    low = max(0.0, -emission_start)
    high = window - emission_start
    if high <= low:
        return 0.0
    return float(np.exp(-low / lifetime) - np.exp(-high / lifetime))


@dataclass(frozen=True)
class SampledAttempts:
    """The attempts of one block that produced at least one click.

    Per clicking attempt ``k``: ``attempt[k]`` its index in the block,
    ``clicks[k, r]`` the click code of round ``r``, ``branch[k]`` the index
    into ``branches``, ``target[k]`` the announced Bell state (or
    `TARGET_NONE`). ``click_*`` arrays list every individual detector click:
    which clicking attempt, round, detector, and time within the window (s).
    """

    n_attempts: int
    branches: tuple[HeraldBranch, ...]
    attempt: NDArray[np.int64]
    clicks: NDArray[np.int8]
    branch: NDArray[np.int32]
    target: NDArray[np.int8]
    click_event: NDArray[np.int64]
    click_round: NDArray[np.int8]
    click_detector: NDArray[np.int8]
    click_time: NDArray[np.float64]
    #: per node, the coherence its spin keeps until the readout (`LinkParameters`)
    spin_coherences: tuple[float, float] = (1.0, 1.0)

    @property
    def heralded(self) -> NDArray[np.bool_]:
        """Mask over clicking attempts: did the attempt herald?"""
        return self.target != TARGET_NONE

    @property
    def n_heralds(self) -> int:
        return int(np.count_nonzero(self.heralded))


def sample_attempts(params: LinkParameters, n_attempts: int, rng: np.random.Generator,
                    timing: Timing = Timing()) -> SampledAttempts:
    """Sample a block of ``n_attempts`` attempts of the link (see module docstring)."""
    if isinstance(n_attempts, bool) or not isinstance(n_attempts, int | np.integer):
        raise ValueError(f"n_attempts must be an integer, got {n_attempts!r}")
    if n_attempts < 0:
        raise ValueError(f"n_attempts must not be negative, got {n_attempts}")
    branches = tuple(herald_branches(params))
    weights = np.array([b.probability for b in branches])
    p_click = float(min(weights.sum(), 1.0))
    n_clicking = int(rng.binomial(n_attempts, p_click)) if branches else 0
    attempt = np.sort(rng.choice(n_attempts, size=n_clicking, replace=False)) \
        if n_clicking else np.zeros(0, dtype=np.int64)
    branch = rng.choice(len(branches), size=n_clicking, p=weights / weights.sum()) \
        .astype(np.int32) if n_clicking else np.zeros(0, dtype=np.int32)
    codes = np.array([[CLICKS.index(c) for c in b.pattern] for b in branches],
                     dtype=np.int8).reshape(len(branches), params.rounds)
    target_codes = np.array([_TARGET_CODES[b.target] for b in branches], dtype=np.int8)
    clicks = codes[branch] if n_clicking else np.zeros((0, params.rounds), dtype=np.int8)
    target = target_codes[branch] if n_clicking else np.zeros(0, dtype=np.int8)
    events, rounds, detectors, times = _click_times(
        params, timing, branches, branch, clicks, rng)
    return SampledAttempts(
        n_attempts=n_attempts, branches=branches, attempt=attempt.astype(np.int64),
        clicks=clicks, branch=branch, target=target, click_event=events,
        click_round=rounds, click_detector=detectors, click_time=times,
        spin_coherences=params.spin_coherences)


def _click_times(params: LinkParameters, timing: Timing, branches: Sequence[HeraldBranch],
                 branch: NDArray[np.int32], clicks: NDArray[np.int8],
                 rng: np.random.Generator) -> tuple[NDArray[np.int64], NDArray[np.int8],
                                                    NDArray[np.int8], NDArray[np.float64]]:
    """Every detector click: (event index, round, detector, time in window)."""
    photon_source = np.array([[s == "photon" for s in b.sources] for b in branches],
                             dtype=bool).reshape(len(branches), params.rounds)
    event_parts, round_parts, detector_parts, time_parts = [], [], [], []
    for round_index in range(params.rounds):
        code = clicks[:, round_index]
        from_photon = photon_source[branch, round_index] if len(branch) else \
            np.zeros(0, dtype=bool)
        for detector, fires in ((DETECTOR_PLUS, (code == CLICK_PLUS) | (code == CLICK_BOTH)),
                                (DETECTOR_MINUS, (code == CLICK_MINUS) | (code == CLICK_BOTH))):
            events = np.flatnonzero(fires)
            times = np.where(from_photon[events],
                             _photon_times(rng, len(events), params.window, timing),
                             rng.uniform(0.0, params.window, size=len(events)))
            event_parts.append(events)
            round_parts.append(np.full(len(events), round_index, dtype=np.int8))
            detector_parts.append(np.full(len(events), detector, dtype=np.int8))
            time_parts.append(times)
    events = np.concatenate(event_parts) if event_parts else np.zeros(0, dtype=np.int64)
    order = np.lexsort((np.concatenate(time_parts), np.concatenate(round_parts), events)) \
        if len(events) else np.zeros(0, dtype=np.int64)
    return (events[order].astype(np.int64), np.concatenate(round_parts)[order],
            np.concatenate(detector_parts)[order], np.concatenate(time_parts)[order])


def _photon_times(rng: np.random.Generator, n: int, window: float,
                  timing: Timing) -> NDArray[np.float64]:
    """Exponential decay truncated to the part inside the window, plus Gaussian jitter."""
    tau = timing.lifetime
    low = max(0.0, -timing.emission_start)
    high = window - timing.emission_start
    if high <= low:
        return np.full(n, max(timing.emission_start, 0.0))
    # inverse CDF of the exponential restricted to [low, high] (times since emission start)
    u = rng.random(n)
    survive_low, survive_high = np.exp(-low / tau), np.exp(-high / tau)
    emitted = -tau * np.log(survive_low - u * (survive_low - survive_high))
    times = timing.emission_start + emitted
    return times + rng.normal(0.0, timing.jitter, size=n) if timing.jitter else times


def sample_outcomes(sampled: SampledAttempts, bases_a: Sequence[str] | NDArray[np.float64],
                    bases_b: Sequence[str] | NDArray[np.float64], rng: np.random.Generator,
                    readout_a: Readout = _PERFECT,
                    readout_b: Readout = _PERFECT) -> tuple[NDArray[np.int8], NDArray[np.int8]]:
    """Reported outcomes (0/1) of both nodes for every heralded attempt.

    ``bases_a[h]``/``bases_b[h]`` give the measurement basis of the h-th
    heralded attempt: a label ("X", "Y", "Z", "-X", ...) or a Bloch vector
    (an (H, 3) array). Outcome 0 is the +1 eigenvalue. Each node's dephasing
    until the readout is drawn per herald (module docstring, step 5).
    """
    heralded_branch = sampled.branch[sampled.heralded]
    n = len(heralded_branch)
    directions_a = _dephased(_directions(bases_a, n, "node A"), sampled.spin_coherences[0], rng)
    directions_b = _dephased(_directions(bases_b, n, "node B"), sampled.spin_coherences[1], rng)
    unique_a, codes_a = np.unique(directions_a, axis=0, return_inverse=True)
    unique_b, codes_b = np.unique(directions_b, axis=0, return_inverse=True)
    outcomes_a = np.zeros(n, dtype=np.int8)
    outcomes_b = np.zeros(n, dtype=np.int8)
    u = rng.random(n)
    keys = np.stack([heralded_branch, codes_a.ravel(), codes_b.ravel()], axis=1) if n else \
        np.zeros((0, 3), dtype=np.int64)
    for key in np.unique(keys, axis=0):
        members = np.flatnonzero(np.all(keys == key, axis=1))
        state = sampled.branches[key[0]].state
        assert state is not None
        p = outcome_probabilities(state, unique_a[key[1]], unique_b[key[2]],
                                  readout_a, readout_b).ravel()
        joint = np.searchsorted(np.cumsum(p), u[members], side="right").clip(0, 3)
        outcomes_a[members] = joint // 2
        outcomes_b[members] = joint % 2
    return outcomes_a, outcomes_b


def _dephased(directions: NDArray[np.float64], coherence: float,
              rng: np.random.Generator) -> NDArray[np.float64]:
    """Each direction with its x, y reversed with probability (1 − coherence)/2 (a Z flip)."""
    if coherence >= 1.0 or not len(directions):
        return directions
    flipped = rng.random(len(directions)) < (1.0 - coherence) / 2.0
    out = directions.copy()
    out[flipped, :2] *= -1.0
    return out


def _directions(bases: Sequence[str] | NDArray[np.float64], n: int,
                node: str) -> NDArray[np.float64]:
    """One unit Bloch vector per heralded attempt, from labels or vectors."""
    array = np.asarray(bases)
    if array.ndim == 2 and array.shape[1:] == (3,) and array.dtype.kind in "iuf":
        vectors = array.astype(float)
    elif array.ndim == 1 and (array.dtype.kind in "US" or len(array) == 0):
        labels, codes = np.unique(array.astype(str), return_inverse=True)
        vectors = np.array([direction(str(label)) for label in labels]).reshape(-1, 3)[codes] \
            if len(array) else np.zeros((0, 3))
    else:
        raise ValueError(f"bases for {node} must be labels or an (N, 3) array of vectors")
    if len(vectors) != n:
        raise ValueError(f"need one basis per heralded attempt ({n}), got {len(vectors)} "
                         f"for {node}")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    if n and (norms.min() == 0 or not np.all(np.isfinite(vectors))):
        raise ValueError(f"basis vectors for {node} must be finite and non-zero")
    return np.round(vectors / np.where(norms == 0, 1, norms), 12)


def poisson_times(rate: float, duration: float, rng: np.random.Generator) -> NDArray[np.float64]:
    """Sorted event times of a Poisson process of ``rate`` (Hz) over ``duration`` (s)."""
    checks.non_negative("rate", rate)
    checks.non_negative("duration", duration)
    count = rng.poisson(rate * duration)
    return np.sort(rng.uniform(0.0, duration, size=count))


def apply_dead_time(times: NDArray[np.float64], dead_time: float) -> NDArray[np.bool_]:
    """Mask of the clicks one detector registers: none within ``dead_time`` after a kept one.

    ``times`` must be sorted. Vectorised except over the (rare) clicks that
    fall inside a dead time, which must be resolved in order.
    """
    checks.non_negative("dead_time", dead_time)
    keep = np.ones(len(times), dtype=bool)
    if len(times) < 2 or dead_time == 0:
        return keep
    # a click at least a dead time after its predecessor is always registered;
    # only the others ("close" clicks) depend on what came before them
    close = np.flatnonzero(np.diff(times) < dead_time) + 1
    last_kept = -np.inf
    previous = -2
    for index in close.tolist():
        if index - 1 != previous:
            last_kept = times[index - 1]
        if times[index] - last_kept < dead_time:
            keep[index] = False
        else:
            last_kept = times[index]
        previous = index
    return keep
