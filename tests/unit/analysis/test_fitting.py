"""The fit runner: refusals before and after fitting, the result's shape, Poisson reweighting."""

from __future__ import annotations

import dataclasses
import json
import math

import lmfit
import numpy as np
import pytest

from labctl.analysis.fitting import (
    FitResult,
    binomial_weights,
    fit,
    fit_counts,
    poisson_weights,
)
from labctl.analysis.models import DetectorTimingModel, PhaseMatchingModel, exponential_gaussian


def line(x, slope, intercept):
    return slope * x + intercept


def degenerate(x, a, b):
    return a * b * x


def peak_data(seed=1):
    rng = np.random.default_rng(seed)
    t = np.linspace(82, 88, 61)
    from labctl.analysis.models import phase_matching
    counts = rng.poisson(phase_matching(t, 5000.0, 85.2, 1.1, 100.0))
    return t, counts


def test_a_converged_fit_and_its_json_form():
    t, counts = peak_data()
    result = fit(PhaseMatchingModel(), t, counts, weights=poisson_weights(counts))
    assert result.converged and result.message == "fitted"
    assert set(result.values) == set(result.errors) == {"amplitude", "center", "fwhm",
                                                        "background"}
    assert result.best_fit.shape == counts.shape
    assert 0.5 < result.reduced_chi2 < 2.0
    out = result.to_dict()
    assert out["center"] == result.values["center"]
    assert out["center_err"] == result.errors["center"]
    assert out["converged"] is True and out["message"] == "fitted"
    json.dumps(out, allow_nan=False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.converged = False  # type: ignore[misc]


@pytest.mark.parametrize("x, y, message", [
    ([], [], "no data"),
    ([1.0, 2.0, 3.0, 4.0, 5.0], [1.0, np.nan, 3.0, 4.0, 5.0], "nan or infinite"),
    ([1.0, 2.0, 3.0, 4.0, 5.0], [0, 0, 0, 0, 0], "no signal: all counts zero"),
    ([1.0, 2.0, 3.0, 4.0, 5.0], [7, 7, 7, 7, 7], "no signal: the data are constant"),
    ([1.0, 1.0, 1.0], [1.0, 2.0, 3.0], "no range"),
    ([84.0, 85.0, 86.0, 87.0], [1.0, 9.0, 2.0, 1.0], "fewer points than parameters"),
])
def test_data_that_cannot_be_fitted_are_refused_before_fitting(x, y, message):
    result = fit(PhaseMatchingModel(), x, y)
    assert not result.converged
    assert message in result.message.lower()
    assert all(math.isnan(v) for v in result.values.values())
    assert all(math.isnan(e) for e in result.errors.values())
    assert set(result.values) == {"amplitude", "center", "fwhm", "background"}
    out = result.to_dict()
    assert out["center"] is None and out["converged"] is False
    json.dumps(out, allow_nan=False)


@pytest.mark.parametrize("kwargs, match", [
    ({"x": [1, 2, 3], "y": [1, 2]}, "same length"),
    ({"x": [[1, 2]], "y": [[1, 2]]}, "one-dimensional"),
    ({"x": [1, 2, 3], "y": [1, 2, 3], "weights": [1, 1]}, "weights"),
    ({"x": [1, 2, 3], "y": [1, 2, 3], "weights": [1, -1, 1]}, "not negative"),
    ({"x": [1, 2, 3], "y": [1, 2, 3], "centre": 85.0}, "unknown parameter 'centre'"),
    ({"x": [1, 2, 3], "y": [1, 2, 3], "center": math.nan}, "finite"),
])
def test_malformed_input_raises_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fit(PhaseMatchingModel(), **kwargs)


def test_a_plain_lmfit_model_needs_and_uses_initial_values():
    x = np.linspace(0, 10, 21)
    y = 2.0 * x + 1.0 + np.random.default_rng(3).normal(0, 0.1, size=21)
    refused = fit(lmfit.Model(line), x, y)
    assert not refused.converged
    assert "no starting value for slope, intercept" in refused.message
    result = fit(lmfit.Model(line), x, y, slope=1.0, intercept=0.0)
    assert result.converged
    assert abs(result.values["slope"] - 2.0) < 3 * result.errors["slope"]


def test_initial_values_override_the_guess():
    t, counts = peak_data()
    # a starting width far off still converges to the same answer
    result = fit(PhaseMatchingModel(), t, counts, weights=poisson_weights(counts), fwhm=3.0)
    reference = fit(PhaseMatchingModel(), t, counts, weights=poisson_weights(counts))
    assert result.values["fwhm"] == pytest.approx(reference.values["fwhm"], rel=1e-4)


def test_degenerate_parameters_give_no_covariance():
    x = np.linspace(0, 10, 21)
    y = 6.0 * x + np.random.default_rng(4).normal(0, 0.1, size=21)
    result = fit(lmfit.Model(degenerate), x, y, a=1.0, b=2.0)
    assert not result.converged
    assert "covariance could not be estimated" in result.message
    assert all(math.isnan(v) for v in result.values.values())


def test_a_model_raising_value_error_is_a_failed_fit_not_an_exception():
    def picky(x, width):
        if width > 2.0:
            raise ValueError("width must not exceed 2")
        return np.exp(-x / width)

    x = np.linspace(0, 5, 20)
    result = fit(lmfit.Model(picky), x, np.exp(-x / 5.0), width=1.9)
    assert not result.converged
    assert result.message.startswith("the fit failed: width must not exceed 2")


def test_poisson_reweighting_removes_the_low_count_bias():
    """Observed-count weights pull a 3-counts-per-bin background about one count low;
    fit_counts (→ Poisson likelihood) does not."""
    rng = np.random.default_rng(5)
    centers = np.arange(5.0, 50_000, 10.0)
    truth = {"onset": 5000.0, "jitter": 50.0, "lifetime": 12_000.0, "background": 3.0}
    expected = exponential_gaussian(centers, 40_000 * 10.0, truth["onset"], truth["jitter"],
                                    truth["lifetime"], truth["background"])
    counts = rng.poisson(expected)
    neyman = fit(DetectorTimingModel(), centers, counts, weights=poisson_weights(counts))
    reweighted = fit_counts(DetectorTimingModel(), centers, counts)
    assert neyman.converged and reweighted.converged
    assert truth["background"] - neyman.values["background"] > 5 * neyman.errors["background"]
    for name, true in truth.items():
        assert abs(reweighted.values[name] - true) <= 3 * reweighted.errors[name], name
    with pytest.raises(ValueError, match="negative"):
        fit_counts(DetectorTimingModel(), centers[:3], [1, -1, 2])


def test_weights_helpers():
    assert poisson_weights([0, 1, 4]).tolist() == [1.0, 1.0, 0.5]
    w = binomial_weights([0.0, 0.5, 1.0], 100)
    assert np.all(np.isfinite(w)) and w[0] == pytest.approx(w[2])
    assert w[1] == pytest.approx(1 / math.sqrt(0.25 / 100))
    with pytest.raises(ValueError, match="shots"):
        binomial_weights([0.5], 0)


def test_fit_result_to_dict_keeps_every_parameter():
    result = FitResult({"a": 1.0, "b": math.nan}, {"a": 0.1, "b": math.nan}, False,
                       "covariance could not be estimated", math.inf, np.zeros(2))
    assert result.to_dict() == {"a": 1.0, "a_err": 0.1, "b": None, "b_err": None,
                                "converged": False,
                                "message": "covariance could not be estimated",
                                "reduced_chi2": None}
