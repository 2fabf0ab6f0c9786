"""Fit uncertainties that mean what they say, and spin-scan fits without bias (issue 15, 7–8).

With known σ (binomial or Poisson weights) a fit's errors come from the
unscaled covariance: they must not shrink when the data scatter less than σ
(χ²_red < 1). Over many seeded scans drawn from the virtual lab's own laws,
seen through its readout, the spin-scan fits recover T2*, T, n and N_1/e
without bias, and their reported errors match the seed-to-seed spread.
"""

from __future__ import annotations

import math

import lmfit
import numpy as np
import pytest

from labctl.analysis.fitting import binomial_weights, fit
from labctl.analysis.models import DecouplingModel, MemoryAttemptsModel, RamseyModel
from labctl.physics import memory
from labctl.physics.emitter import Readout

#: The default virtual lab's node: its memory and readout (sim_instruments.world.WorldConfig).
MEMORY = memory.Memory(t2_star=5e-6, coherence_time=1e-3, decoupling_exponent=3.0,
                       dephasing_per_attempt=5e-4)
READOUT = Readout(0.95, 0.995)


def line(x, slope, intercept):
    return slope * x + intercept


def straight_line_errors(x: np.ndarray, sigma: float) -> tuple[float, float]:
    """Textbook errors of slope and intercept for known, equal σ."""
    sxx = float(np.sum((x - x.mean()) ** 2))
    return sigma / math.sqrt(sxx), sigma * math.sqrt(1 / len(x) + x.mean() ** 2 / sxx)


@pytest.mark.parametrize("scatter", [0.05, 0.5, 1.0])
def test_errors_with_known_sigma_do_not_shrink_with_the_scatter(scatter):
    """σ = 1 known; the data scatter by ``scatter`` ≤ σ (χ²_red ≈ scatter²): the errors are
    the known-σ ones whatever the scatter. √χ²_red scaling made them 20× too small at 0.05."""
    x = np.linspace(0, 10, 25)
    y = 2.0 * x + 1.0 + np.random.default_rng(7).normal(0, scatter, len(x))
    result = fit(lmfit.Model(line), x, y, weights=np.ones_like(x), slope=1.0, intercept=0.0)
    assert result.converged, result.message
    slope_err, intercept_err = straight_line_errors(x, 1.0)
    if scatter < 1.0:
        assert result.reduced_chi2 < 1.0
    factor = max(1.0, math.sqrt(result.reduced_chi2))
    assert result.errors["slope"] == pytest.approx(factor * slope_err, rel=1e-5)
    assert result.errors["intercept"] == pytest.approx(factor * intercept_err, rel=1e-5)


def test_errors_grow_when_the_model_misses_the_scatter():
    """Known σ = 1 but the data scatter by 3: the errors grow by S = √χ²_red (the PDG scale
    factor), not left at the too-small known-σ value."""
    x = np.linspace(0, 10, 25)
    y = 2.0 * x + 1.0 + np.random.default_rng(8).normal(0, 3.0, len(x))
    result = fit(lmfit.Model(line), x, y, weights=np.ones_like(x), slope=1.0, intercept=0.0)
    slope_err, _ = straight_line_errors(x, 1.0)
    assert result.reduced_chi2 > 4.0
    assert result.errors["slope"] == pytest.approx(math.sqrt(result.reduced_chi2) * slope_err,
                                                   rel=1e-5)


def test_without_weights_the_errors_follow_the_scatter():
    """σ unknown: estimated from the residuals, s² = RSS/(n − 2), both ways."""
    x = np.linspace(0, 10, 25)
    y = 2.0 * x + 1.0 + np.random.default_rng(9).normal(0, 0.05, len(x))
    result = fit(lmfit.Model(line), x, y, slope=1.0, intercept=0.0)
    residual = y - (result.values["slope"] * x + result.values["intercept"])
    s = math.sqrt(float(np.sum(residual ** 2)) / (len(x) - 2))
    assert result.errors["slope"] == pytest.approx(straight_line_errors(x, s)[0], rel=1e-5)


# --- spin-scan fits over many seeds ----------------------------------------------------------

def reported(p_bright: np.ndarray) -> np.ndarray:
    """Bright fraction as read out (≥ 1 photon): F0 for bright, 1 − F1 for dark."""
    return READOUT.f0 * p_bright + (1 - READOUT.f1) * (1 - p_bright)


def memory_scan(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
    """`experiments.spin_scans.MemoryRobustness`'s default 9 points, 1–4000 attempts:
    π/2 – N attempts – π/2 reads dark at N = 0 and relaxes to the dephased level."""
    attempts = np.round(np.linspace(1, 4000, 9))
    p_bright = 0.5 - 0.5 * np.exp(-attempts / MEMORY.n_1_over_e)
    return attempts, reported(p_bright), 1000


def ramsey_scan(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
    """31 free times 0.2–12 µs at 0.5 MHz detuning (RamseyConfig's defaults)."""
    t = np.linspace(0.2e-6, 12e-6, 31)
    return t, reported(1 - memory.ramsey(t, MEMORY.t2_star, 1.0, 0.5e6, 0.4)), 2000


def echo_scan(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
    """11 total free times 0.1–4 ms of a Hahn echo (DecouplingConfig's defaults)."""
    t = np.linspace(0.1e-3, 4e-3, 11)
    law = memory.decoupled_decay(t, MEMORY.coherence_time, MEMORY.decoupling_exponent)
    return t, reported(law), 1500


SCANS = {
    "n_1_over_e": (memory_scan, MemoryAttemptsModel, MEMORY.n_1_over_e),
    "t2_star": (ramsey_scan, RamseyModel, MEMORY.t2_star),
    "coherence_time": (echo_scan, DecouplingModel, MEMORY.coherence_time),
    "exponent": (echo_scan, DecouplingModel, MEMORY.decoupling_exponent),
}
SEEDS = 300


@pytest.mark.parametrize("name", list(SCANS))
def test_spin_scan_fits_are_unbiased_and_their_errors_match_the_spread(name):
    """Over 300 seeded scans: the mean estimate lies within 2 standard errors of the truth
    (SE = seed spread/√300; the old ½ asymptote put N_1/e +9 % high, ~10 SE), and the mean
    squared pull ((estimate − truth)/reported error)² is 1 within its sampling error: for
    normal pulls its SD is √(2/300) = 0.08, so [0.75, 1.3] is about ±3 SD (√χ²_red scaling
    gave ~1.3–1.5: errors too small when the scatter happened to be small)."""
    scan, model, truth = SCANS[name]
    rng = np.random.default_rng(150 + len(name))
    estimates, errors = [], []
    for _ in range(SEEDS):
        x, probability, shots = scan(rng)
        measured = rng.binomial(shots, probability) / shots
        result = fit(model(), x, measured, weights=binomial_weights(measured, shots))
        assert result.converged, result.message
        estimates.append(result.values[name])
        errors.append(result.errors[name])
    value, error = np.array(estimates), np.array(errors)
    standard_error = value.std(ddof=1) / math.sqrt(SEEDS)
    assert abs(value.mean() - truth) < 2 * standard_error, (value.mean(), truth, standard_error)
    mean_square_pull = float(np.mean(((value - truth) / error) ** 2))
    assert 0.75 < mean_square_pull < 1.3, mean_square_pull


def test_the_half_asymptote_biases_n_1_over_e_on_raw_readout():
    """Why the asymptote is fitted: held at ½ on raw readout data (dephased level 0.478) the
    fit puts N_1/e several standard errors high — the +9 to +13 % of issue 15."""
    rng = np.random.default_rng(3)
    held = []
    for _ in range(100):
        x, probability, shots = memory_scan(rng)
        measured = rng.binomial(shots, probability) / shots
        result = fit(MemoryAttemptsModel(offset=0.5), x, measured,
                     weights=binomial_weights(measured, shots))
        held.append(result.values["n_1_over_e"])
    assert np.mean(held) > 1.05 * MEMORY.n_1_over_e
