"""Counting estimators against known limits and data sampled from labctl.physics states.

Outcomes are drawn from `labctl.physics.bell.outcome_probabilities` (the
same measurement model the virtual lab samples from) with fixed seeds;
estimates must lie within 3 standard errors of the truth.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from labctl.analysis.estimators import (
    Correlator,
    bell_fidelity,
    chsh,
    chsh_game,
    chsh_p_value,
    corrected_correlator,
    corrected_correlator_from_counts,
    correlator,
    correlator_from_counts,
    herald_rate,
    outcome_counts,
)
from labctl.physics import bell, states
from labctl.physics.emitter import Readout

PERFECT = Readout(1.0, 1.0)
TEXTBOOK_A = (bell.equatorial(0.0), bell.equatorial(math.pi / 2))
TEXTBOOK_B = (bell.equatorial(math.pi / 4), bell.equatorial(-math.pi / 4))


def sample_pairs(rng, rho, basis_a, basis_b, n, readout_a=PERFECT, readout_b=PERFECT):
    """n trials of measuring rho in (basis_a, basis_b): outcome arrays of 0/1."""
    p = bell.outcome_probabilities(rho, basis_a, basis_b, readout_a, readout_b).ravel()
    joint = rng.choice(4, size=n, p=p)
    return joint // 2, joint % 2


def sample_chsh(rng, rho, n, settings_a=TEXTBOOK_A, settings_b=TEXTBOOK_B):
    """Uniformly random settings per trial and the outcomes they give."""
    x = rng.integers(0, 2, size=n)
    y = rng.integers(0, 2, size=n)
    a, b = np.zeros(n, dtype=int), np.zeros(n, dtype=int)
    u = rng.random(n)
    for sx in (0, 1):
        for sy in (0, 1):
            members = (x == sx) & (y == sy)
            p = bell.outcome_probabilities(rho, settings_a[sx], settings_b[sy]).ravel()
            joint = np.searchsorted(np.cumsum(p), u[members], side="right").clip(0, 3)
            a[members], b[members] = joint // 2, joint % 2
    return x, y, a, b


# --- correlators -----------------------------------------------------------------------------

def test_perfect_correlations_and_anticorrelations():
    same = correlator(np.array([0, 1, 1, 0, 1]), np.array([0, 1, 1, 0, 1]))
    assert (same.value, same.error, same.trials) == (1.0, 0.0, 5)
    different = correlator([0, 1, 0], [1, 0, 1])
    assert (different.value, different.error) == (-1.0, 0.0)


def test_correlator_counts_and_standard_error():
    a = np.array([0, 0, 0, 1, 1, 1, 1, 0], dtype=bool)
    b = np.array([0, 0, 1, 1, 1, 0, 1, 0], dtype=np.int8)
    assert outcome_counts(a, b).tolist() == [[3, 1], [1, 3]]
    e = correlator(a, b)
    assert e.value == pytest.approx(0.5)
    assert e.error == pytest.approx(math.sqrt((1 - 0.25) / 8))
    assert correlator_from_counts([[3, 1], [1, 3]]) == e


@pytest.mark.parametrize("v", [0.0, 0.5, 0.9])
def test_werner_state_correlators_and_fidelity(v):
    rng = np.random.default_rng(101)
    rho = states.werner_state(v, "Psi+")
    estimates = {p: correlator(*sample_pairs(rng, rho, p, p, 20_000)) for p in "XYZ"}
    truth = states.correlators(rho)  # XX = YY = v, ZZ = -v
    for p in "XYZ":
        assert abs(estimates[p].value - truth[p + p]) <= 3 * estimates[p].error
    fidelity = bell_fidelity(estimates["X"], estimates["Y"], estimates["Z"], "Psi+")
    assert abs(fidelity.value - (1 + 3 * v) / 4) <= 3 * fidelity.error
    expected_error = math.sqrt(sum(estimates[p].error ** 2 for p in "XYZ")) / 4
    assert fidelity.error == pytest.approx(expected_error)
    assert fidelity.entangled(3.0) is (v > 1 / 3)  # Werner states: entangled iff v > 1/3


def test_fidelity_targets_and_the_entanglement_check():
    f = bell_fidelity((0.9, 0.01), (0.9, 0.01), (-0.9, 0.01), "Psi+")
    assert f.value == pytest.approx(0.925)
    assert f.error == pytest.approx(math.sqrt(3) * 0.01 / 4)
    assert f.entangled(5.0) and f.sigmas_above_half > 50
    assert bell_fidelity((0.9, 0.01), (0.9, 0.01), (-0.9, 0.01), "Psi-").value == \
        pytest.approx(0.025)
    marginal = bell_fidelity((0.4, 0.2), (0.4, 0.2), (-0.4, 0.2), "Psi+")
    assert marginal.value > 0.5 and not marginal.entangled(1.0)
    with pytest.raises(ValueError, match="target"):
        bell_fidelity((0, 0), (0, 0), (0, 0), "Psi")
    with pytest.raises(ValueError, match="YY"):
        bell_fidelity((0, 0), (0.5, -0.1), (0, 0))


# --- readout correction ----------------------------------------------------------------------

READOUT_A = Readout(0.950, 0.995)  # Humphreys et al. 2018
READOUT_B = Readout(0.90, 0.97)


@pytest.mark.parametrize("basis, target", [("X", "XX"), ("Z", "ZZ")])
def test_readout_correction_recovers_the_true_correlator(basis, target):
    rng = np.random.default_rng(111)
    rho = states.werner_state(0.9, "Psi+")
    a, b = sample_pairs(rng, rho, basis, basis, 40_000, READOUT_A, READOUT_B)
    truth = states.correlators(rho)[target]
    raw = correlator(a, b)
    assert abs(raw.value - truth) > 5 * raw.error  # readout errors bias the raw estimate
    corrected = corrected_correlator(a, b, READOUT_A, READOUT_B)
    assert abs(corrected.value - truth) <= 3 * corrected.error
    assert corrected.error > raw.error  # inverting the readout amplifies the noise
    tuples = corrected_correlator(a, b, (READOUT_A.f0, READOUT_A.f1),
                                  (READOUT_B.f0, READOUT_B.f1))
    assert tuples == corrected


def test_readout_correction_error_is_calibrated():
    """Over many repetitions the corrected correlator scatters by its reported error."""
    rng = np.random.default_rng(112)
    rho = states.werner_state(0.7, "Psi-")
    p = bell.outcome_probabilities(rho, "X", "X", READOUT_A, READOUT_B).ravel()
    truth = states.correlators(rho)["XX"]
    tables = rng.multinomial(2_000, p, size=400).reshape(-1, 2, 2)
    results = [corrected_correlator_from_counts(t, READOUT_A, READOUT_B) for t in tables]
    pulls = np.array([(r.value - truth) / r.error for r in results])
    assert abs(pulls.mean()) < 0.2
    assert pulls.std() == pytest.approx(1.0, abs=0.1)


def test_perfect_readout_leaves_the_correlator_unchanged():
    table = [[40, 10], [5, 45]]
    corrected = corrected_correlator_from_counts(table, PERFECT, PERFECT)
    raw = correlator_from_counts(table)
    assert corrected.value == pytest.approx(raw.value)
    assert corrected.error == pytest.approx(raw.error)
    assert corrected.trials == raw.trials


def test_uninformative_readout_is_refused():
    with pytest.raises(ValueError, match="F0 \\+ F1"):
        corrected_correlator_from_counts([[1, 1], [1, 1]], Readout(0.5, 0.5), PERFECT)
    with pytest.raises(ValueError, match="readout_b"):
        corrected_correlator_from_counts([[1, 1], [1, 1]], PERFECT, (0.9,))


# --- CHSH ------------------------------------------------------------------------------------

def test_ideal_psi_plus_reaches_two_root_two():
    rng = np.random.default_rng(121)
    x, y, a, b = sample_chsh(rng, states.bell_state("Psi+"), 40_000)
    result = chsh(x, y, a, b)
    assert abs(result.value - 2 * math.sqrt(2)) <= 3 * result.error
    expected_error = math.sqrt(sum((1 - c.value ** 2) / c.trials
                                   for row in result.correlators for c in row))
    assert result.error == pytest.approx(expected_error)
    assert result.sigmas_above_classical > 20
    game = chsh_game(x, y, a, b)
    omega = bell.chsh_win_probability(2 * math.sqrt(2))  # cos²(π/8)
    assert abs(game.win_fraction - omega) <= 3 * math.sqrt(omega * (1 - omega) / game.trials)
    assert game.trials == 40_000 and game.p_value < 1e-100
    # with uniform settings S = 4(2ω − 1) holds up to the setting frequencies' scatter
    assert bell.chsh_from_win_probability(game.win_fraction) == pytest.approx(result.value,
                                                                              abs=0.05)


def test_werner_state_below_the_local_bound_gives_no_violation():
    rng = np.random.default_rng(122)
    x, y, a, b = sample_chsh(rng, states.werner_state(0.6, "Psi+"), 20_000)
    result = chsh(x, y, a, b)
    assert abs(result.value - 2 * math.sqrt(2) * 0.6) <= 3 * result.error
    assert result.sigmas_above_classical < 0
    assert chsh_game(x, y, a, b).p_value > 0.5


def test_perfectly_correlated_local_strategy_wins_three_quarters():
    x = np.array([0, 0, 1, 1] * 25)
    y = np.array([0, 1, 0, 1] * 25)
    a = b = np.zeros(100, dtype=int)  # always agree: lose only when x = y = 1
    result = chsh(x, y, a, b)
    assert result.value == 2.0 and result.error == 0.0
    game = chsh_game(x, y, a, b)
    assert (game.wins, game.trials, game.win_fraction) == (75, 100, 0.75)


@pytest.mark.parametrize("n", range(0, 13))
def test_p_value_matches_brute_force_sum(n):
    for xi in (0.75, 0.8):
        for k in range(n + 1):
            brute = sum(math.comb(n, j) * xi**j * (1 - xi) ** (n - j) for j in range(k, n + 1))
            assert chsh_p_value(k, n, xi) == pytest.approx(brute, rel=1e-12, abs=1e-300)
    assert chsh_p_value(0, n) == pytest.approx(1.0)


def test_p_value_of_hensen_2015():
    """Hensen et al., Nature 526, 682 (2015): 196 wins in 245 trials, P = 0.039."""
    assert chsh_p_value(196, 245) == pytest.approx(0.039, abs=0.0015)
    s_from_wins = bell.chsh_from_win_probability(196 / 245)
    assert s_from_wins == pytest.approx(2.4, abs=0.01)


@pytest.mark.parametrize("arrays, match", [
    (([0, 1], [0, 1], [0, 1], [0]), "same length"),
    (([0, 1, 0, 1], [0, 0, 1, 1], [0, 2, 0, 1], [0, 1, 0, 1]),
     "outcome_a must contain only 0 and 1"),
    (([0, 0, 0], [0, 1, 1], [0, 1, 1], [0, 1, 1]), r"no trials with settings \(x, y\) = \(1, 0\)"),
    (([], [], [], []), "no trials"),
    (([[0, 1]], [[0, 1]], [[0, 1]], [[0, 1]]), "one-dimensional"),
])
def test_chsh_refuses_bad_trials(arrays, match):
    with pytest.raises(ValueError, match=match):
        chsh(*arrays)


def test_bad_outcomes_and_counts_are_refused():
    with pytest.raises(ValueError, match="same length"):
        correlator([0, 1], [0])
    with pytest.raises(ValueError, match="no trials"):
        correlator([], [])
    with pytest.raises(ValueError, match="outcome_b must contain only 0 and 1, found"):
        correlator([0, 1], [0, 0.5])
    with pytest.raises(ValueError, match="2×2"):
        correlator_from_counts([1, 2, 3, 4])
    with pytest.raises(ValueError, match="wins"):
        chsh_p_value(5, 4)
    with pytest.raises(ValueError, match="xi"):
        chsh_p_value(1, 4, xi=1.0)


# --- rates -----------------------------------------------------------------------------------

def test_herald_rate_with_poisson_error():
    rate = herald_rate(400, 20.0)
    assert (rate.value, rate.error, rate.count) == (20.0, 1.0, 400)
    none = herald_rate(0, 10.0)
    assert none.value == 0.0 and none.error == pytest.approx(0.1)
    with pytest.raises(ValueError, match="duration"):
        herald_rate(3, 0.0)
    with pytest.raises(ValueError, match="heralds"):
        herald_rate(-1, 1.0)


def test_results_are_frozen():
    with pytest.raises(AttributeError):
        Correlator(1.0, 0.0, 1).value = 0.5  # type: ignore[misc]
