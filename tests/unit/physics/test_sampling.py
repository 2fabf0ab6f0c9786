"""The Monte-Carlo sampler agrees with the analytic model within statistical error.

Tolerances are 4 standard errors of the estimate, derived from the expected
counts; seeds are fixed, so a failure is reproducible.
"""

from __future__ import annotations

import numpy as np
import pytest

from labctl.physics.bell import correlator_from_probabilities, outcome_probabilities
from labctl.physics.emitter import Readout
from labctl.physics.link import LinkParameters, predict
from labctl.physics.presets import preset
from labctl.physics.sampling import (
    CLICK_MINUS,
    CLICK_PLUS,
    DETECTOR_MINUS,
    DETECTOR_PLUS,
    TARGET_PSI_MINUS,
    TARGET_PSI_PLUS,
    Timing,
    apply_dead_time,
    poisson_times,
    sample_attempts,
    sample_outcomes,
    window_fraction,
)

Z_TOLERANCE = 4.0

WORLDS = {
    "nv-short": (preset("nv-short"), 2_000_000_000),
    "nv-telecom-25km": (preset("nv-telecom-25km"), 200_000_000),
    "noisy": (preset("noisy"), 400_000_000),
    "lossy-long-fibre-100km": (
        LinkParameters(alpha=0.1, eta_a=0.05, eta_b=0.05, fibre_km=100.0,
                       fibre_loss_db_per_km=0.2, dark_count_rate=50.0), 2_000_000_000),
    "barrett-kok": (
        LinkParameters(protocol="barrett-kok", eta_a=0.1, eta_b=0.05, visibility=0.85,
                       dark_count_rate=1e3), 40_000_000),
    "barrett-kok-long-fibre": (
        LinkParameters(protocol="barrett-kok", eta_a=0.3, eta_b=0.3, fibre_km=60.0,
                       dark_count_rate=100.0), 20_000_000),
}


def psi_plus_frame_correlators(sampled, bases, outcomes_a, outcomes_b):
    target = sampled.target[sampled.heralded]
    product = np.where(outcomes_a == outcomes_b, 1.0, -1.0)
    # a Psi- herald is brought to Psi+ by Z on node B: flips the sign of XX and YY
    product = np.where((target == TARGET_PSI_MINUS) & (bases != "Z"), -product, product)
    estimates, errors = {}, {}
    for basis in "XYZ":
        values = product[bases == basis]
        estimates[basis] = values.mean()
        errors[basis] = np.sqrt(max(1 - estimates[basis] ** 2, 1e-12) / len(values))
    return estimates, errors


@pytest.mark.parametrize("world", list(WORLDS))
def test_sampled_herald_probability_matches_prediction(world):
    params, n = WORLDS[world]
    prediction = predict(params)
    sampled = sample_attempts(params, n, np.random.default_rng(2024))
    p = prediction.p_herald
    standard_error = np.sqrt(p * (1 - p) / n)
    assert abs(sampled.n_heralds / n - p) < Z_TOLERANCE * standard_error
    assert sampled.n_heralds > 10_000  # enough for the fidelity test below


@pytest.mark.parametrize("world", list(WORLDS))
def test_sampled_fidelity_matches_prediction(world):
    params, n = WORLDS[world]
    prediction = predict(params)
    rng = np.random.default_rng(99)
    sampled = sample_attempts(params, n, rng)
    bases = rng.choice(np.array(["X", "Y", "Z"]), size=sampled.n_heralds)
    outcomes_a, outcomes_b = sample_outcomes(sampled, bases, bases, rng)
    e, err = psi_plus_frame_correlators(sampled, bases, outcomes_a, outcomes_b)
    fidelity = (1 + e["X"] + e["Y"] - e["Z"]) / 4
    fidelity_error = np.sqrt(err["X"] ** 2 + err["Y"] ** 2 + err["Z"] ** 2) / 4
    assert abs(fidelity - prediction.fidelity) < Z_TOLERANCE * fidelity_error
    for basis in "XYZ":
        assert abs(e[basis] - prediction.correlators[basis * 2]) < Z_TOLERANCE * err[basis]


def test_sampled_outcomes_include_readout_errors():
    params = LinkParameters(alpha=0.1, eta_a=0.02, eta_b=0.02)
    rng = np.random.default_rng(5)
    sampled = sample_attempts(params, 50_000_000, rng)
    readout = Readout(0.95, 0.995)
    bases = np.full(sampled.n_heralds, "X")
    outcomes_a, outcomes_b = sample_outcomes(sampled, bases, bases, rng, readout, readout)
    target = sampled.target[sampled.heralded]
    plus = target == TARGET_PSI_PLUS
    prediction = predict(params)
    for code, name in ((plus, "Psi+"), (~plus, "Psi-")):
        product = np.where(outcomes_a[code] == outcomes_b[code], 1.0, -1.0)
        expected = correlator_from_probabilities(outcome_probabilities(
            prediction.states[name], "X", "X", readout, readout))
        error = np.sqrt((1 - expected**2) / code.sum())
        assert abs(product.mean() - expected) < Z_TOLERANCE * error


def test_heralds_announce_psi_plus_on_detector_plus_for_single_click():
    params = LinkParameters(alpha=0.1, eta_a=0.01, eta_b=0.01)
    sampled = sample_attempts(params, 10_000_000, np.random.default_rng(1))
    heralded = sampled.heralded
    assert np.all(sampled.target[heralded & (sampled.clicks[:, 0] == CLICK_PLUS)]
                  == TARGET_PSI_PLUS)
    assert np.all(sampled.target[heralded & (sampled.clicks[:, 0] == CLICK_MINUS)]
                  == TARGET_PSI_MINUS)
    # detector symmetry: both patterns within statistics
    plus = np.count_nonzero(sampled.target == TARGET_PSI_PLUS)
    assert abs(plus / sampled.n_heralds - 0.5) < Z_TOLERANCE * np.sqrt(0.25 / sampled.n_heralds)


def test_barrett_kok_same_detector_twice_announces_psi_plus():
    params = LinkParameters(protocol="barrett-kok", eta_a=0.2, eta_b=0.2)
    sampled = sample_attempts(params, 1_000_000, np.random.default_rng(3))
    heralded = sampled.heralded
    same = sampled.clicks[:, 0] == sampled.clicks[:, 1]
    assert np.all(sampled.target[heralded & same] == TARGET_PSI_PLUS)
    assert np.all(sampled.target[heralded & ~same] == TARGET_PSI_MINUS)


def test_click_times_follow_the_emitter_decay_and_dark_counts_are_uniform():
    window = 60e-9
    timing = Timing(lifetime=12e-9, jitter=0.0)
    photons = LinkParameters(alpha=0.2, eta_a=0.05, eta_b=0.05, dark_count_rate=0.0,
                             window=window)
    sampled = sample_attempts(photons, 2_000_000, np.random.default_rng(8), timing)
    times = sampled.click_time
    assert times.min() >= 0 and times.max() <= window
    truncated_mean = 12e-9 - window / np.expm1(window / 12e-9)
    assert abs(times.mean() - truncated_mean) < Z_TOLERANCE * times.std() / np.sqrt(len(times))
    darks = LinkParameters(alpha=0.0, eta_a=0.0, eta_b=0.0, dark_count_rate=1e6, window=window)
    dark_times = sample_attempts(darks, 200_000, np.random.default_rng(9), timing).click_time
    uniform_error = window / np.sqrt(12 * len(dark_times))
    assert abs(dark_times.mean() - window / 2) < Z_TOLERANCE * uniform_error


@pytest.mark.parametrize("emission_start", [-10e-9, 0.0, 15e-9])
def test_click_times_respect_a_window_opening_late_or_early(emission_start):
    window = 40e-9
    timing = Timing(lifetime=12e-9, jitter=0.0, emission_start=emission_start)
    params = LinkParameters(alpha=0.2, eta_a=0.05, eta_b=0.05, dark_count_rate=0.0,
                            window=window)
    times = sample_attempts(params, 2_000_000, np.random.default_rng(8), timing).click_time
    assert times.min() >= max(emission_start, 0.0) and times.max() <= window
    # mean of an exponential truncated to [low, high], shifted to the window's clock
    low, high = max(0.0, -emission_start), window - emission_start
    tau = 12e-9
    a, b = np.exp(-low / tau), np.exp(-high / tau)
    mean = emission_start + tau + (low * a - high * b) / (a - b)
    assert abs(times.mean() - mean) < Z_TOLERANCE * times.std() / np.sqrt(len(times))


def test_window_fraction():
    assert window_fraction(12e-9, 0.0, np.inf) == pytest.approx(1.0)
    assert window_fraction(12e-9, 0.0, 12e-9) == pytest.approx(1 - np.exp(-1))
    assert window_fraction(12e-9, -12e-9, np.inf) == pytest.approx(np.exp(-1))
    assert window_fraction(12e-9, 30e-9, 25e-9) == 0.0


def test_every_click_is_listed_once_per_firing_detector():
    params = LinkParameters(alpha=0.5, eta_a=0.5, eta_b=0.5, visibility=0.2,
                            dark_count_rate=1e5)
    sampled = sample_attempts(params, 200_000, np.random.default_rng(4))
    expected = sum(np.count_nonzero((sampled.clicks[:, 0] == code) | (sampled.clicks[:, 0] == 3))
                   for code in (CLICK_PLUS, CLICK_MINUS))
    assert len(sampled.click_event) == expected
    both = np.flatnonzero(sampled.clicks[:, 0] == 3)
    detectors = {int(d) for d in sampled.click_detector[np.isin(sampled.click_event, both)]}
    assert detectors == {DETECTOR_PLUS, DETECTOR_MINUS}


def test_sampling_is_reproducible_with_a_seed_and_attempts_are_distinct_and_sorted():
    params = LinkParameters(alpha=0.2, eta_a=0.05, eta_b=0.05)
    first = sample_attempts(params, 1_000_000, np.random.default_rng(11))
    second = sample_attempts(params, 1_000_000, np.random.default_rng(11))
    assert np.array_equal(first.attempt, second.attempt)
    assert np.array_equal(first.click_time, second.click_time)
    assert np.all(np.diff(first.attempt) > 0)
    assert first.attempt.max() < 1_000_000


def test_a_billion_attempts_are_sampled_without_a_loop_per_attempt():
    sampled = sample_attempts(preset("nv-short"), 1_000_000_000, np.random.default_rng(0))
    assert sampled.n_attempts == 1_000_000_000
    assert 30_000 < sampled.n_heralds < 42_000


@pytest.mark.parametrize("n", [-1, 1.5, True, "many"])
def test_bad_block_size_is_refused(n):
    with pytest.raises(ValueError, match="n_attempts"):
        sample_attempts(LinkParameters(), n, np.random.default_rng(0))


def test_outcomes_need_one_basis_per_herald():
    sampled = sample_attempts(LinkParameters(alpha=0.2, eta_a=0.1, eta_b=0.1), 100_000,
                              np.random.default_rng(0))
    with pytest.raises(ValueError, match="one basis per heralded attempt"):
        sample_outcomes(sampled, ["X"], ["X"], np.random.default_rng(0))


def test_bases_may_be_bloch_vectors():
    params = LinkParameters(alpha=0.1, eta_a=0.05, eta_b=0.05, dark_count_rate=0.0)
    rng = np.random.default_rng(21)
    sampled = sample_attempts(params, 2_000_000, rng)
    n = sampled.n_heralds
    by_label = sample_outcomes(sampled, ["X"] * n, ["X"] * n, np.random.default_rng(1))
    by_vector = sample_outcomes(sampled, np.tile([2.0, 0, 0], (n, 1)),
                                np.tile([1.0, 0, 0], (n, 1)), np.random.default_rng(1))
    assert np.array_equal(by_label[0], by_vector[0])
    assert np.array_equal(by_label[1], by_vector[1])


def test_dead_time_keeps_the_first_click_and_those_a_dead_time_after_a_kept_one():
    times = np.array([0.0, 10.0, 20.0, 35.0, 50.0, 55.0, 100.0])
    keep = apply_dead_time(times, 30.0)
    assert keep.tolist() == [True, False, False, True, False, False, True]
    assert apply_dead_time(times, 0.0).all()


def test_dead_time_matches_a_sequential_reference_on_a_random_stream():
    rng = np.random.default_rng(12)
    times = poisson_times(5e7, 1e-4, rng)
    keep = apply_dead_time(times, 40e-9)
    reference, last = [], -np.inf
    for t in times:
        reference.append(t - last >= 40e-9)
        if reference[-1]:
            last = t
    assert keep.tolist() == reference


@pytest.mark.slow
def test_herald_count_z_scores_are_standard_normal_over_many_seeds():
    params = LinkParameters(alpha=0.1, eta_a=0.01, eta_b=0.01, dark_count_rate=500.0)
    p = predict(params).p_herald
    n = 5_000_000
    z = np.array([(sample_attempts(params, n, np.random.default_rng(seed)).n_heralds - n * p)
                  / np.sqrt(n * p * (1 - p)) for seed in range(400)])
    # mean and spread of 400 standard normals: 4 standard errors
    assert abs(z.mean()) < 4 / np.sqrt(400)
    assert abs(z.std() - 1) < 4 / np.sqrt(2 * 400)
