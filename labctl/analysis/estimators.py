"""Counting statistics of entanglement experiments: correlators, fidelity, CHSH, herald rate.

Outcomes are 0 (eigenvalue +1, spin "0") and 1 (eigenvalue −1), as in
`labctl.physics.bell`; settings of a CHSH test are 0 and 1. Formulas follow
shared/reference/physics.md section 3:

- E = (N_same − N_diff)/N, σ_E = sqrt((1 − E²)/N);
- F_Ψ± = (1 ± XX ± YY − ZZ)/4, F_Φ± = (1 ± XX ∓ YY + ZZ)/4; F > 1/2
  certifies entanglement;
- S = E00 + E01 + E10 − E11, σ_S = sqrt(Σ (1 − E_xy²)/N_xy);
- CHSH game won when a ⊕ b = x·y; with k wins in n trials the
  loophole-free test's p-value is P = Σ_{j≥k} C(n, j) ξ^j (1 − ξ)^{n−j},
  ξ = 3/4 (Hensen et al., Nature 526, 682 (2015); Elkouss & Wehner, npj QI
  2, 16026 (2016)).

Every function is vectorised over trials and raises ValueError naming the
problem for malformed input.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from labctl.physics.emitter import Readout
from labctl.physics.states import BellName, fidelity_from_correlators

ReadoutLike = Readout | tuple[float, float]
_BELL_NAMES = ("Psi+", "Psi-", "Phi+", "Phi-")


@dataclass(frozen=True)
class Correlator:
    """A two-qubit correlator ⟨σ_a ⊗ σ_b⟩ with its standard error from ``trials`` trials.

    A readout-corrected correlator also carries ∂E/∂(F0_a, F1_a, F0_b, F1_b)
    and the calibration errors it was corrected with, so estimates built from
    several correlators corrected with the same calibration (a fidelity) can
    add that shared error coherently; ``error`` includes it.
    """

    value: float
    error: float
    trials: int
    readout_gradient: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    readout_errors: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    #: the counting-statistics part of ``error`` (None: all of it)
    statistical_error: float | None = None

    @property
    def counting_error(self) -> float:
        """The error from counting statistics alone."""
        return self.error if self.statistical_error is None else self.statistical_error


@dataclass(frozen=True)
class Fidelity:
    """A Bell-state fidelity with its standard error."""

    value: float
    error: float
    target: str

    @property
    def sigmas_above_half(self) -> float:
        """(F − 1/2)/σ_F: how far the fidelity is above the separable bound."""
        if self.error == 0:
            return math.inf if self.value > 0.5 else -math.inf
        return (self.value - 0.5) / self.error

    def entangled(self, sigmas: float = 3.0) -> bool:
        """F − k σ_F > 1/2: entanglement certified at ``sigmas`` standard errors."""
        return self.value - sigmas * self.error > 0.5


@dataclass(frozen=True)
class Chsh:
    """CHSH value S with σ_S; ``correlators[x][y]`` are the E_xy it is built from."""

    value: float
    error: float
    correlators: tuple[tuple[Correlator, Correlator], tuple[Correlator, Correlator]]

    @property
    def sigmas_above_classical(self) -> float:
        """(S − 2)/σ_S: the violation of the local bound in standard errors."""
        if self.error == 0:
            return math.inf if self.value > 2 else -math.inf
        return (self.value - 2.0) / self.error


@dataclass(frozen=True)
class ChshGame:
    """The CHSH game: ``wins`` of ``trials`` and the p-value of the local-model hypothesis."""

    wins: int
    trials: int
    win_fraction: float
    p_value: float
    xi: float


@dataclass(frozen=True)
class Rate:
    """An event rate (Hz) from ``count`` events in ``duration`` seconds, with a Poisson error."""

    value: float
    error: float
    count: int
    duration: float


# --- correlators -----------------------------------------------------------------------------

def outcome_counts(outcome_a: ArrayLike, outcome_b: ArrayLike) -> NDArray[np.int64]:
    """N[a, b]: how often the pair of outcomes (a, b) occurred."""
    a, b = _outcome_pair(outcome_a, outcome_b)
    return np.bincount(2 * a + b, minlength=4).reshape(2, 2)


def correlator(outcome_a: ArrayLike, outcome_b: ArrayLike) -> Correlator:
    """E = (N_same − N_diff)/N with σ_E = sqrt((1 − E²)/N) from per-trial outcomes."""
    return correlator_from_counts(outcome_counts(outcome_a, outcome_b))


def correlator_from_counts(counts: ArrayLike) -> Correlator:
    """E and σ_E from the 2×2 table N[a, b] of outcome pairs."""
    n = _counts_table(counts)
    total = int(n.sum())
    if total == 0:
        raise ValueError("no trials: the outcome table is empty")
    value = float(n[0, 0] + n[1, 1] - n[0, 1] - n[1, 0]) / total
    return Correlator(value, math.sqrt(max(1.0 - value**2, 0.0) / total), total)


def corrected_correlator(outcome_a: ArrayLike, outcome_b: ArrayLike, readout_a: ReadoutLike,
                         readout_b: ReadoutLike, readout_a_err: tuple[float, float] = (0.0, 0.0),
                         readout_b_err: tuple[float, float] = (0.0, 0.0)) -> Correlator:
    """The correlator of the state before readout errors, from per-trial outcomes.

    See `corrected_correlator_from_counts`.
    """
    return corrected_correlator_from_counts(outcome_counts(outcome_a, outcome_b),
                                            readout_a, readout_b, readout_a_err, readout_b_err)


def corrected_correlator_from_counts(counts: ArrayLike, readout_a: ReadoutLike,
                                     readout_b: ReadoutLike,
                                     readout_a_err: tuple[float, float] = (0.0, 0.0),
                                     readout_b_err: tuple[float, float] = (0.0, 0.0),
                                     ) -> Correlator:
    """Invert each qubit's readout assignment matrix on the 2×2 outcome table.

    See `corrected_correlator_from_tables` (one table, sign +1).
    """
    return corrected_correlator_from_tables([(counts, 1)], readout_a, readout_b,
                                            readout_a_err, readout_b_err)


def corrected_correlator_from_tables(tables: Sequence[tuple[ArrayLike, int]],
                                     readout_a: ReadoutLike, readout_b: ReadoutLike,
                                     readout_a_err: tuple[float, float] = (0.0, 0.0),
                                     readout_b_err: tuple[float, float] = (0.0, 0.0),
                                     ) -> Correlator:
    """One correlator from several 2×2 outcome tables, each read with sign ±1.

    Each node has its own readout (F0, F1 of *its* qubit, with the binomial
    errors of its calibration): the measured outcome probabilities of a
    table are p_meas = (M_a ⊗ M_b) p_true with M = [[F0, 1 − F1], [1 − F0,
    F1]] (`labctl.physics.emitter.Readout`), so E_true = c·(M_a ⊗ M_b)⁻¹
    p_meas = (w_a ⊗ w_b)·p_meas, c = (1, −1, −1, 1), w = (1 + F1 − F0,
    −(1 + F0 − F1))/(F0 + F1 − 1). Tables are corrected with the *physical*
    readout before their sign is applied (a table whose outcomes were
    announced in a rotated frame — Ψ− heralds brought to Ψ+ — enters with
    sign −1 instead of relabelled outcomes, which would swap F0 and F1), and
    pooled weighted by their trials. Counting error: the multinomial
    covariance of each table, exact since E is linear in p_meas. Calibration
    error: ∂E/∂F of each fidelity times its error, in quadrature (the four
    calibrations are independent). The estimate is not clipped to [−1, 1].
    """
    wa, ga = _corrected_sigma_z(readout_a, "readout_a")
    wb, gb = _corrected_sigma_z(readout_b, "readout_b")
    u = np.kron(wa, wb)
    gradients = (np.kron(ga[0], wb), np.kron(ga[1], wb), np.kron(wa, gb[0]), np.kron(wa, gb[1]))
    total = 0.0
    value_sum = 0.0
    gradient_sum = np.zeros(4)
    variance_sum = 0.0
    for counts, sign in tables:
        if sign not in (1, -1):
            raise ValueError(f"a table's sign must be +1 or -1, got {sign!r}")
        n = _counts_table(counts).reshape(4).astype(float)
        trials = float(n.sum())
        if trials == 0:
            continue
        total += trials
        value_sum += sign * float(u @ n)
        gradient_sum += sign * np.array([float(g @ n) for g in gradients])
        variance_sum += max(float(u**2 @ n) - float(u @ n) ** 2 / trials, 0.0)
    if total == 0:
        raise ValueError("no trials: the outcome table is empty")
    errors = tuple(_readout_error(e, name) for e, name in
                   ((readout_a_err, "readout_a_err"), (readout_b_err, "readout_b_err")))
    sigmas = (*errors[0], *errors[1])
    gradient = tuple(float(g) / total for g in gradient_sum)
    statistical = math.sqrt(variance_sum) / total
    calibration = math.sqrt(sum((g * s) ** 2 for g, s in zip(gradient, sigmas, strict=True)))
    return Correlator(value_sum / total, math.hypot(statistical, calibration), int(total),
                      gradient, sigmas, statistical)  # type: ignore[arg-type]


def _corrected_sigma_z(readout: ReadoutLike, name: str
                       ) -> tuple[NDArray[np.float64], tuple[NDArray[np.float64], ...]]:
    """w = z·M⁻¹ (σ_z of the true state from measured probabilities) and ∂w/∂F0, ∂w/∂F1."""
    if isinstance(readout, Readout):
        f0, f1 = readout.f0, readout.f1
    else:
        try:
            f0, f1 = (float(f) for f in readout)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a Readout or (F0, F1), got {readout!r}") from None
        Readout(f0, f1)  # validates both as probabilities
    determinant = f0 + f1 - 1.0
    if determinant <= 0:
        raise ValueError(f"{name} cannot be inverted: F0 + F1 = {f0 + f1:.4g} must exceed 1")
    w = np.array([1.0 + f1 - f0, -(1.0 + f0 - f1)]) / determinant
    d2 = determinant**2
    return w, (np.array([-2.0 * f1, 2.0 * (1.0 - f1)]) / d2,
               np.array([-2.0 * (1.0 - f0), 2.0 * f0]) / d2)


def _readout_error(errors: tuple[float, float], name: str) -> tuple[float, float]:
    try:
        e0, e1 = (float(e) for e in errors)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be (σ_F0, σ_F1), got {errors!r}") from None
    if not all(math.isfinite(e) and e >= 0 for e in (e0, e1)):
        raise ValueError(f"{name} must be two finite non-negative errors, got {errors!r}")
    return e0, e1


# --- fidelity --------------------------------------------------------------------------------

def bell_fidelity(xx: Correlator | tuple[float, float], yy: Correlator | tuple[float, float],
                  zz: Correlator | tuple[float, float], target: BellName = "Psi+") -> Fidelity:
    """Fidelity to a Bell state from the XX, YY, ZZ correlators (each a value ± error).

    `labctl.physics.states.fidelity_from_correlators`; the three correlators
    come from separate trials, so σ_F = sqrt(σ_XX² + σ_YY² + σ_ZZ²)/4.
    """
    if target not in _BELL_NAMES:
        raise ValueError(f"target must be one of {', '.join(_BELL_NAMES)}, got {target!r}")
    (vx, ex), (vy, ey), (vz, ez) = (_value_error(c, name) for c, name in
                                    ((xx, "XX"), (yy, "YY"), (zz, "ZZ")))
    value = fidelity_from_correlators(vx, vy, vz, target)
    shared = _shared_readout_error((xx, yy, zz), target)
    if shared is not None:
        return Fidelity(value, shared, target)
    return Fidelity(value, math.sqrt(ex**2 + ey**2 + ez**2) / 4.0, target)


def _shared_readout_error(correlators: tuple[Correlator | tuple[float, float], ...],
                          target: BellName) -> float | None:
    """σ_F when all three correlators were corrected with one calibration (else None).

    Their counting errors are independent; the calibration error is common to
    all three, so its contributions add linearly before squaring.
    """
    if not all(isinstance(c, Correlator) for c in correlators):
        return None
    corrected = [c for c in correlators if isinstance(c, Correlator)]
    sigmas = corrected[0].readout_errors
    if not any(sigmas) or any(c.readout_errors != sigmas for c in corrected):
        return None
    base = fidelity_from_correlators(0.0, 0.0, 0.0, target)
    signs = [4.0 * (fidelity_from_correlators(*unit, target) - base)
             for unit in ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))]
    counting = sum((s * c.counting_error) ** 2 for s, c in zip(signs, corrected, strict=True))
    calibration = sum(
        (sum(s * c.readout_gradient[j] for s, c in zip(signs, corrected, strict=True))
         * sigmas[j]) ** 2 for j in range(4))
    return math.sqrt(counting + calibration) / 4.0


def _value_error(estimate: Correlator | tuple[float, float], name: str) -> tuple[float, float]:
    if isinstance(estimate, Correlator):
        value, error = estimate.value, estimate.error
    else:
        try:
            value, error = (float(v) for v in estimate)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a Correlator or (value, error), "
                             f"got {estimate!r}") from None
    if not (math.isfinite(value) and math.isfinite(error)) or error < 0:
        raise ValueError(f"{name} needs a finite value and a non-negative error, "
                         f"got {value!r} ± {error!r}")
    return value, error


# --- CHSH ------------------------------------------------------------------------------------

def chsh(setting_a: ArrayLike, setting_b: ArrayLike, outcome_a: ArrayLike,
         outcome_b: ArrayLike) -> Chsh:
    """S = E00 + E01 + E10 − E11 from per-trial settings and outcomes.

    Raw outcomes only: correcting readout errors would invalidate a Bell
    test. σ_S = sqrt(Σ (1 − E_xy²)/N_xy) (physics.md section 3).
    """
    x, y, a, b = _trials(setting_a, setting_b, outcome_a, outcome_b)
    table = np.bincount(8 * x + 4 * y + 2 * a + b, minlength=16).reshape(2, 2, 2, 2)
    for sx in (0, 1):
        for sy in (0, 1):
            if table[sx, sy].sum() == 0:
                raise ValueError(f"no trials with settings (x, y) = ({sx}, {sy})")
    e = tuple(tuple(correlator_from_counts(table[sx, sy]) for sy in (0, 1)) for sx in (0, 1))
    value = e[0][0].value + e[0][1].value + e[1][0].value - e[1][1].value
    error = math.sqrt(sum(c.error**2 for row in e for c in row))
    return Chsh(value, error, ((e[0][0], e[0][1]), (e[1][0], e[1][1])))


def chsh_game(setting_a: ArrayLike, setting_b: ArrayLike, outcome_a: ArrayLike,
              outcome_b: ArrayLike, xi: float = 0.75) -> ChshGame:
    """Wins (a ⊕ b = x·y), the win fraction and `chsh_p_value` of the trials."""
    x, y, a, b = _trials(setting_a, setting_b, outcome_a, outcome_b)
    wins = int(np.count_nonzero((a ^ b) == (x & y)))
    trials = len(x)
    return ChshGame(wins, trials, wins / trials, chsh_p_value(wins, trials, xi), xi)


def chsh_p_value(wins: int, trials: int, xi: float = 0.75) -> float:
    """P(at least ``wins`` of ``trials``) for a local model winning each trial with prob. ≤ ξ.

    P = Σ_{j≥k} C(n, j) ξ^j (1 − ξ)^{n−j} = binom.sf(k − 1, n, ξ) (Hensen et
    al. 2015; Elkouss & Wehner 2016). ξ = 3/4 for unbiased settings; the
    paper's correction for biased setting choices raises ξ slightly.
    """
    k, n = _count("wins", wins), _count("trials", trials)
    if k > n:
        raise ValueError(f"wins ({k}) cannot exceed trials ({n})")
    if not 0.0 < xi < 1.0:
        raise ValueError(f"xi must be within (0, 1), got {xi!r}")
    return float(stats.binom.sf(k - 1, n, xi))


# --- rates -----------------------------------------------------------------------------------

def herald_rate(heralds: int, duration: float) -> Rate:
    """Heralds per second with the Poisson error sqrt(N)/T.

    For N = 0 the error is given as 1/T (the scale of one count) rather than
    a misleading zero.
    """
    n = _count("heralds", heralds)
    if not (math.isfinite(duration) and duration > 0):
        raise ValueError(f"duration must be a positive number of seconds, got {duration!r}")
    return Rate(n / duration, math.sqrt(max(n, 1)) / duration, n, float(duration))


# --- input checks ----------------------------------------------------------------------------

def _binary(name: str, values: ArrayLike) -> NDArray[np.int64]:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a one-dimensional array, got shape {array.shape}")
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must contain only 0 and 1, got dtype {array.dtype}")
    bad = (array != 0) & (array != 1)
    if np.any(bad):
        raise ValueError(f"{name} must contain only 0 and 1, found {array[bad][0]!r}")
    return array.astype(np.int64)


def _outcome_pair(outcome_a: ArrayLike,
                  outcome_b: ArrayLike) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    a, b = _binary("outcome_a", outcome_a), _binary("outcome_b", outcome_b)
    if len(a) != len(b):
        raise ValueError(f"outcome_a and outcome_b must have the same length, "
                         f"got {len(a)} and {len(b)}")
    return a, b


def _trials(setting_a: ArrayLike, setting_b: ArrayLike, outcome_a: ArrayLike,
            outcome_b: ArrayLike) -> tuple[NDArray[np.int64], ...]:
    arrays = (_binary("setting_a", setting_a), _binary("setting_b", setting_b),
              _binary("outcome_a", outcome_a), _binary("outcome_b", outcome_b))
    lengths = {len(array) for array in arrays}
    if len(lengths) != 1:
        raise ValueError("setting_a, setting_b, outcome_a and outcome_b must have the same "
                         f"length, got {', '.join(str(len(a)) for a in arrays)}")
    if not len(arrays[0]):
        raise ValueError("no trials")
    return arrays


def _counts_table(counts: ArrayLike) -> NDArray[np.int64]:
    table = np.asarray(counts)
    if table.shape != (2, 2):
        raise ValueError(f"counts must be a 2×2 table N[a, b], got shape {table.shape}")
    if table.dtype.kind not in "iuf" or not np.all(np.isfinite(table)) \
            or np.any(table < 0) or np.any(table != np.round(table)):
        raise ValueError("counts must be non-negative whole numbers")
    return table.astype(np.int64)


def _count(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")
    return int(value)
