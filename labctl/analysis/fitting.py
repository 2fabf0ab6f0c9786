"""A shared fit runner: lmfit underneath, one frozen result, never a silently wrong number.

`fit` checks the data before fitting (empty, NaN, all zero, constant, fewer
points than free parameters) and the outcome after, in this order: lmfit's
own success flag; a location parameter inside the scan, at least one scan
step from its edges; the signal (an amplitude) at least `SIGNAL_SIGMAS`
standard errors from zero; no parameter pinned on a bound; estimable,
non-degenerate uncertainties; widths and times larger than their errors;
with weights, a reduced χ² below `MAX_REDUCED_CHI2`. Any failed check gives
a `FitResult` with ``converged=False``, NaN values and a one-line
``message`` saying why; the attempted curve stays in ``best_fit`` for
plotting. `fit_counts` fits Poisson counts without the low-count bias of
weights taken from the data.

Uncertainties: weights are 1/σ of known errors (Poisson or binomial
counting), so the errors come from the unscaled covariance (JᵀWJ)⁻¹
(Press et al., Numerical Recipes, 3rd ed. (2007), chapter 15: C = α⁻¹ for
known σ; lmfit's ``scale_covar=False``). Scaling them by √χ²_red would
shrink them whenever the data happen to scatter less than expected, which
with ~10 points is often. A χ²_red above 1 with known σ says the model
misses something, so there the errors grow by the scale factor
S = √χ²_red (never below 1: the Particle Data Group's rule, Review of
Particle Physics, Introduction, "Averages and fits"). Only an unweighted
fit, whose σ are unknown, scales the covariance by χ²_red both ways (the
scatter estimates σ).

Models tell the runner what to check through optional class attributes
(see `labctl.analysis.models.FitModel`); any plain ``lmfit.Model`` works too,
with only the generic checks.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import lmfit
import numpy as np
from numpy.typing import ArrayLike, NDArray

from labctl.errors import LabctlError

log = logging.getLogger(__name__)

#: Relative distance to a bound below which a parameter counts as resting on it.
_BOUND_TOLERANCE = 1e-6
#: Correlation beyond which two parameters count as degenerate.
_DEGENERATE_CORRELATION = 1.0 - 1e-6
#: A signal parameter must lie this many standard errors from zero. A peak search in pure
#: noise readily finds 2-3 sigma bumps somewhere in a scan (the look-elsewhere effect).
SIGNAL_SIGMAS = 5.0
#: With weights 1/sigma, a reduced chi-squared above this means the model does not describe
#: the data (e.g. a phase-matching side lobe fitted as the main peak). Fit without weights
#: (errors then scale with the scatter) to accept a known-imperfect lineshape.
MAX_REDUCED_CHI2 = 10.0


class AnalysisError(LabctlError):
    """A quantity cannot be derived from a fit (it did not converge, or the answer is outside
    what the data cover)."""


@dataclass(frozen=True)
class FitResult:
    """The outcome of `fit`.

    ``values``/``errors`` hold every parameter (free, fixed and derived);
    errors are standard errors from the covariance (with known weights
    unscaled, or scaled up by √χ²_red when that exceeds 1; without weights
    scaled by χ²_red; see `fit`), 0 for parameters held fixed and NaN where
    not estimable. When
    ``converged`` is False every value and error is NaN and ``message``
    says why in one line (``best_fit`` and ``reduced_chi2`` then describe
    the rejected attempt, for plotting, or are NaN if none was made).
    """

    values: dict[str, float]
    errors: dict[str, float]
    converged: bool
    message: str
    reduced_chi2: float
    best_fit: NDArray[np.float64] = field(repr=False)

    def to_dict(self) -> dict[str, float | bool | str | None]:
        """``{name: value, name_err: error, ..., "converged", "message", "reduced_chi2"}``.

        Non-finite numbers become None so the dictionary is strict JSON.
        """
        out: dict[str, float | bool | str | None] = {}
        for name, value in self.values.items():
            out[name] = _json_number(value)
            out[f"{name}_err"] = _json_number(self.errors[name])
        out["converged"] = self.converged
        out["message"] = self.message
        out["reduced_chi2"] = _json_number(self.reduced_chi2)
        return out


def _json_number(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def poisson_weights(counts: ArrayLike) -> NDArray[np.float64]:
    """Weights 1/σ for Poisson counts: 1/sqrt(max(n, 1)) (a zero count still has σ ≈ 1)."""
    n = np.asarray(counts, dtype=float)
    return 1.0 / np.sqrt(np.maximum(n, 1.0))


def binomial_weights(probabilities: ArrayLike, shots: ArrayLike) -> NDArray[np.float64]:
    """Weights 1/σ for measured probabilities p = k/n: σ² = p̃(1 − p̃)/n, p̃ = (k + 1)/(n + 2).

    The shrunk p̃ (Laplace's rule of succession) keeps σ finite at p = 0 or 1.
    """
    p = np.asarray(probabilities, dtype=float)
    n = np.broadcast_to(np.asarray(shots, dtype=float), p.shape)
    if np.any(n <= 0):
        raise ValueError("shots must be positive")
    shrunk = (p * n + 1.0) / (n + 2.0)
    return 1.0 / np.sqrt(shrunk * (1.0 - shrunk) / n)


def fit(model: lmfit.Model, x: ArrayLike, y: ArrayLike, weights: ArrayLike | None = None,
        **initial: float) -> FitResult:
    """Fit ``model`` to ``y(x)``; ``initial`` overrides the model's guessed starting values.

    ``weights`` are 1/σ per point of known σ (see `poisson_weights`,
    `binomial_weights`): the errors are then the unscaled ones, grown by
    max(1, √χ²_red); without weights σ is estimated from the scatter (see
    the module docstring).
    Raises ValueError for malformed input (shapes, negative weights, an
    unknown parameter name); everything the data themselves can get wrong
    is reported as ``converged=False`` with a message.
    """
    xs, ys, ws = _arrays(x, y, weights)
    names = _parameter_names(model)
    unknown = [name for name in initial if name not in names]
    if unknown:
        raise ValueError(f"unknown parameter {', '.join(map(repr, unknown))} for {model.name}; "
                         f"it has {', '.join(names)}")
    for name, value in initial.items():
        if not isinstance(value, int | float | np.number) or not math.isfinite(value):
            raise ValueError(f"initial value of {name} must be a finite number, got {value!r}")
    refusal = _check_data(xs, ys) or _too_few_points(model.make_params(), len(ys))
    if refusal is not None:
        return _failed(names, refusal, len(ys))
    try:
        params = _starting_parameters(model, xs, ys, initial)
    except ValueError as error:
        return _failed(names, f"could not guess starting values: {_one_line(error)}", len(ys))
    names = list(params)
    refusal = _too_few_points(params, len(ys))
    if refusal is not None:
        return _failed(names, refusal, len(ys))
    independent = model.independent_vars[0]
    scale = ws is None   # σ unknown: estimated from the scatter
    try:
        result = model.fit(ys, params, weights=ws, scale_covar=scale, **{independent: xs})
        resting = _resting_on_bounds(model, result)
        if resting and not result.errorbars:
            # leastsq estimates no covariance with a parameter on its bound: hold the
            # ones allowed to rest there (a background at zero) and refit the others
            held = result.params.copy()
            for name in resting:
                held[name].set(vary=False)
            result = model.fit(ys, held, weights=ws, scale_covar=scale, **{independent: xs})
    except ValueError as error:
        return _failed(names, f"the fit failed: {_one_line(error)}", len(ys))
    values = {name: float(p.value) for name, p in result.params.items()}
    best_fit = np.asarray(result.best_fit, dtype=float)
    reduced_chi2 = float(result.redchi) if result.nfree > 0 else math.nan
    factor = math.sqrt(reduced_chi2) if not scale and reduced_chi2 > 1.0 else 1.0
    errors = {name: factor * _stderr(p) for name, p in result.params.items()}
    problem = _check_outcome(model, result, xs, values, errors)
    if problem is None and ws is not None and reduced_chi2 > MAX_REDUCED_CHI2:
        problem = (f"the model does not describe the data: reduced chi-squared "
                   f"{reduced_chi2:.3g} with 1/sigma weights")
    if problem is not None:
        log.debug("%s not converged: %s", model.name, problem)
        return _failed(names, problem, len(ys), best_fit, reduced_chi2)
    log.debug("%s fitted: %s", model.name, values)
    return FitResult(values, errors, True, "fitted", reduced_chi2, best_fit)


def fit_counts(model: lmfit.Model, x: ArrayLike, counts: ArrayLike, iterations: int = 3,
               **initial: float) -> FitResult:
    """Fit Poisson counts by iteratively reweighted least squares (→ Poisson likelihood).

    Weights from the observed counts (Neyman's χ²) pull a fit low where
    counts are few: a background of ~10 counts per bin comes out about one
    count low, which lengthens a fitted decay tail. Refitting with weights
    1/sqrt(model) from the previous fit converges to the Poisson
    maximum-likelihood estimate (the fixed point solves the Poisson score
    equations; McCullagh & Nelder, Generalized Linear Models, ch. 2). Model
    values below half a count are weighted as half a count.
    """
    n = np.asarray(counts, dtype=float)
    if n.ndim == 1 and np.any(n[np.isfinite(n)] < 0):
        raise ValueError("counts must not be negative")
    if iterations < 0:
        raise ValueError(f"iterations must not be negative, got {iterations}")
    result = fit(model, x, n, weights=poisson_weights(np.nan_to_num(n)), **initial)
    for _ in range(iterations):
        if not result.converged:
            return result
        expected = np.maximum(result.best_fit, 0.5)
        result = fit(model, x, n, weights=1.0 / np.sqrt(expected), **initial)
    return result


def _arrays(x: ArrayLike, y: ArrayLike, weights: ArrayLike | None
            ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64] | None]:
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y, dtype=float)
    if xs.ndim != 1 or ys.ndim != 1:
        raise ValueError(f"x and y must be one-dimensional, got shapes {xs.shape} and {ys.shape}")
    if xs.shape != ys.shape:
        raise ValueError(f"x and y must have the same length, got {len(xs)} and {len(ys)}")
    if weights is None:
        return xs, ys, None
    ws = np.asarray(weights, dtype=float)
    if ws.shape != ys.shape:
        raise ValueError(f"weights must have the same shape as y, got {ws.shape} "
                         f"and {ys.shape}")
    if not np.all(np.isfinite(ws)) or np.any(ws < 0):
        raise ValueError("weights must be finite and not negative (they are 1/sigma)")
    return xs, ys, ws


def _check_data(x: NDArray[np.float64], y: NDArray[np.float64]) -> str | None:
    """Why these data cannot be fitted, or None."""
    if len(y) == 0:
        return "no data: the scan is empty"
    bad = int(np.count_nonzero(~np.isfinite(x)) + np.count_nonzero(~np.isfinite(y)))
    if bad:
        return f"the data contain {bad} NaN or infinite values"
    if np.all(y == 0):
        return "no signal: all counts zero"
    if np.ptp(x) == 0:
        return "the scan has no range: every x is the same"
    if np.ptp(y) == 0:
        return "no signal: the data are constant"
    return None


def _too_few_points(params: lmfit.Parameters, n: int) -> str | None:
    free = sum(1 for p in params.values() if p.vary and p.expr is None)
    if n <= free:
        return (f"fewer points than parameters: {n} points for {free} free parameters "
                f"(need more points than parameters)")
    return None


def _parameter_names(model: lmfit.Model) -> list[str]:
    names = list(model.param_names)
    names += [name for name in model.param_hints if name not in names]
    return names


def _starting_parameters(model: lmfit.Model, x: NDArray[np.float64], y: NDArray[np.float64],
                         initial: dict[str, float]) -> lmfit.Parameters:
    try:
        params = model.guess(y, x=x)
    except NotImplementedError:
        params = model.make_params()
    for name, value in initial.items():
        params[name].set(value=float(value))
    missing = [name for name, p in params.items()
               if p.expr is None and (p.value is None or not np.isfinite(p.value))]
    if missing:
        raise ValueError(f"no starting value for {', '.join(missing)}")
    return params


def _resting_on_bounds(model: lmfit.Model, result: lmfit.model.ModelResult) -> list[str]:
    """The varied parameters allowed to rest on a bound (``may_rest_on_bound``) that do."""
    allowed: Sequence[str] = getattr(model, "may_rest_on_bound", ())
    return [name for name in allowed if name in result.params
            and result.params[name].vary and result.params[name].expr is None
            and _at_bound(result.params[name], abs(float(result.params[name].init_value
                                                         or 0.0)))]


def _stderr(param: lmfit.Parameter) -> float:
    if not param.vary and param.expr is None:
        return 0.0
    if param.stderr is None:
        return math.nan
    return float(param.stderr)


def _check_outcome(model: lmfit.Model, result: lmfit.model.ModelResult, x: NDArray[np.float64],
                   values: dict[str, float], errors: dict[str, float]) -> str | None:
    """Why this fit's numbers must not be used, or None."""
    if not result.success:
        return f"the fit did not converge: {_one_line(result.message)}"
    estimated = [name for name, p in result.params.items() if p.vary or p.expr is not None]
    for name in estimated:
        if not math.isfinite(values[name]):
            return f"the fit gave a non-finite {name}"
    low, high = float(np.min(x)), float(np.max(x))
    spacing = _spacing(x)
    feature = getattr(model, "feature", "feature")
    for name in getattr(model, "location_params", ()):
        value = values[name]
        if not low + spacing <= value <= high - spacing:
            return (f"the scan does not contain the {feature} ({name} = {value:.6g} is at or "
                    f"beyond the edge of the scan [{low:.6g}, {high:.6g}])")
    signals: Sequence[str] = getattr(model, "signal_params", ())
    sigmas = float(getattr(model, "signal_sigmas", SIGNAL_SIGMAS))
    for name in signals:
        if name in estimated and (_at_bound(result.params[name]) or (
                math.isfinite(errors[name]) and sigmas * errors[name] > abs(values[name]))):
            return (f"no significant signal: {name} = {values[name]:.3g} "
                    f"± {errors[name]:.3g} (less than {sigmas:g} standard errors from zero)")
    allowed: Sequence[str] = getattr(model, "may_rest_on_bound", ())
    for name in estimated:
        param = result.params[name]
        if name not in allowed and param.expr is None and _at_bound(param):
            return (f"{name} = {values[name]:.6g} rests on its bound "
                    f"[{param.min:.6g}, {param.max:.6g}]: the data do not determine it")
    if not result.errorbars:
        return "covariance could not be estimated (parameters are degenerate or undetermined)"
    for name in estimated:
        if not math.isfinite(errors[name]) and not (name in allowed
                                                    and _at_bound(result.params[name])):
            return f"covariance could not be estimated: no uncertainty for {name}"
    for name in estimated:
        for other, correlation in (result.params[name].correl or {}).items():
            if abs(correlation) > _DEGENERATE_CORRELATION:
                return (f"covariance could not be estimated: {name} and {other} are fully "
                        f"correlated (the data determine only a combination of them)")
    for name in getattr(model, "scale_params", ()):
        if name in estimated and errors[name] > abs(values[name]):
            return (f"{name} is not determined: {values[name]:.3g} ± {errors[name]:.3g} "
                    f"(uncertainty larger than the value)")
    for name in getattr(model, "location_params", ()):
        if errors[name] > high - low:
            return (f"{name} is not determined: its uncertainty {errors[name]:.3g} exceeds "
                    f"the scanned range")
    return None


def _at_bound(param: lmfit.Parameter, scale: float = 0.0) -> bool:
    """Whether ``param`` ended on a bound, within a tolerance relative to its size
    (or to ``scale``, e.g. its starting value, when its bound and value are ~0)."""
    value = float(param.value)
    for bound in (param.min, param.max):
        if bound is None or not math.isfinite(bound):
            continue
        stderr = param.stderr if param.stderr is not None and math.isfinite(param.stderr) else 0
        tolerance = _BOUND_TOLERANCE * max(abs(bound), abs(value), stderr, scale)
        if abs(value - bound) <= tolerance:
            return True
    return False


def _spacing(x: NDArray[np.float64]) -> float:
    """The typical distance between neighbouring scan points."""
    steps = np.diff(np.unique(x))
    return float(np.median(steps)) if len(steps) else 0.0


def _failed(names: list[str], message: str, n: int,
            best_fit: NDArray[np.float64] | None = None,
            reduced_chi2: float = math.nan) -> FitResult:
    nan = dict.fromkeys(names, math.nan)
    curve = best_fit if best_fit is not None else np.full(n, math.nan)
    return FitResult(dict(nan), dict(nan), False, message, reduced_chi2, curve)


def _one_line(error: object) -> str:
    text = " ".join(str(error).split())
    return text or type(error).__name__
