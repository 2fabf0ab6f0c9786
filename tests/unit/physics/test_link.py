"""The analytic link model against hand-worked limits (physics.md section 2)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labctl.physics import states
from labctl.physics.link import (
    CLICKS,
    LinkParameters,
    herald_branches,
    predict,
    round_clicks,
)
from labctl.physics.optics import FIBRE_LIGHT_SPEED_KM_S

IDEAL = dict(visibility=1.0, phase_noise=0.0, dark_count_rate=0.0, double_excitation=0.0,
             fibre_km=0.0)


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.2, 0.5])
@pytest.mark.parametrize("eta", [1e-4, 0.01, 0.3])
def test_single_click_ideal_herald_probability_is_2_alpha_eta_minus_alpha2_eta2(alpha, eta):
    prediction = predict(LinkParameters(alpha=alpha, eta_a=eta, eta_b=eta, **IDEAL))
    assert prediction.p_herald == pytest.approx(2 * alpha * eta - alpha**2 * eta**2, rel=1e-12)


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.2, 0.5])
def test_single_click_ideal_fidelity_is_one_minus_alpha_in_the_low_loss_limit(alpha):
    prediction = predict(LinkParameters(alpha=alpha, eta_a=1e-6, eta_b=1e-6, **IDEAL))
    assert prediction.fidelity == pytest.approx(1 - alpha, abs=1e-5)


@pytest.mark.parametrize("eta_a, eta_b", [(1e-3, 1e-3), (0.01, 0.02), (0.5, 0.1)])
def test_barrett_kok_ideal_herald_probability_is_eta_a_eta_b_over_2(eta_a, eta_b):
    prediction = predict(LinkParameters(protocol="barrett-kok", eta_a=eta_a, eta_b=eta_b,
                                        **IDEAL))
    assert prediction.p_herald == pytest.approx(eta_a * eta_b / 2, rel=1e-12)
    assert prediction.fidelity == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("visibility", [0.5, 0.8, 0.95])
def test_barrett_kok_fidelity_is_one_plus_v_over_2(visibility):
    params = LinkParameters(protocol="barrett-kok", eta_a=0.01, eta_b=0.03,
                            **{**IDEAL, "visibility": visibility})
    assert predict(params).fidelity == pytest.approx((1 + visibility) / 2, abs=1e-12)


def test_barrett_kok_is_insensitive_to_optical_phase_noise_single_click_is_not():
    for protocol, sensitive in (("barrett-kok", False), ("single-click", True)):
        quiet = predict(LinkParameters(protocol=protocol, **IDEAL))
        shaky = predict(LinkParameters(protocol=protocol, **{**IDEAL, "phase_noise": 0.5}))
        assert (shaky.fidelity < quiet.fidelity - 0.01) is sensitive


def test_single_click_coherence_factor_matches_physics_reference():
    """Low-loss limit: F = (1-α)(1 + c)/2 with c = sqrt(V) exp(-σ²/2)(1 - p_double)."""
    alpha, v, sigma, p_double = 0.05, 0.81, 0.3, 0.04
    params = LinkParameters(alpha=alpha, eta_a=1e-7, eta_b=1e-7, visibility=v,
                            phase_noise=sigma, dark_count_rate=0.0,
                            double_excitation=p_double, fibre_km=0.0)
    c = math.sqrt(v) * math.exp(-sigma**2 / 2) * (1 - p_double)
    assert predict(params).fidelity == pytest.approx((1 - alpha) * (1 + c) / 2, abs=1e-6)


@pytest.mark.parametrize("protocol", ["single-click", "barrett-kok"])
def test_each_detector_pattern_heralds_its_own_bell_state(protocol):
    prediction = predict(LinkParameters(protocol=protocol, **IDEAL))
    assert set(prediction.states) == {"Psi+", "Psi-"}
    assert states.fidelity_to_bell(prediction.states["Psi+"], "Psi+") > 0.9
    assert states.fidelity_to_bell(prediction.states["Psi-"], "Psi-") > 0.9
    assert states.fidelity_to_bell(prediction.states["Psi+"], "Psi-") < 0.1


@pytest.mark.parametrize("params", [
    LinkParameters(),
    LinkParameters(protocol="barrett-kok"),
    LinkParameters(alpha=0.3, eta_a=0.2, eta_b=0.05, dark_count_rate=1e5, visibility=0.7),
])
def test_fidelity_from_correlators_equals_fidelity_from_density_matrix(params):
    prediction = predict(params)
    c = prediction.correlators
    from_correlators = states.fidelity_from_correlators(c["XX"], c["YY"], c["ZZ"], "Psi+")
    assert from_correlators == pytest.approx(
        states.fidelity_to_bell(prediction.state_psi_plus, "Psi+"), abs=1e-12)
    assert from_correlators == pytest.approx(prediction.fidelity, abs=1e-12)


def test_dark_counts_herald_mostly_the_dark_dark_state():
    params = LinkParameters(alpha=0.05, eta_a=1e-4, eta_b=1e-4, dark_count_rate=1e5)
    dark = [b for b in herald_branches(params) if b.heralds and b.sources == ("dark",)]
    weight = sum(b.probability for b in dark)
    dd = sum(b.probability * b.state[3, 3].real for b in dark) / weight
    assert dd > 0.85
    clean = predict(LinkParameters(alpha=0.05, eta_a=1e-4, eta_b=1e-4, dark_count_rate=0))
    assert predict(params).fidelity < clean.fidelity - 0.1


def test_double_excitation_and_distinguishability_lower_fidelity():
    base = predict(LinkParameters(**IDEAL)).fidelity
    assert predict(LinkParameters(**{**IDEAL, "double_excitation": 0.1})).fidelity < base
    assert predict(LinkParameters(**{**IDEAL, "visibility": 0.7})).fidelity < base


def test_rate_is_herald_probability_over_cycle_time_with_the_herald_wait():
    params = LinkParameters(fibre_km=50.0, attempt_time=10e-6)
    prediction = predict(params)
    cycle = 10e-6 + 50.0 / FIBRE_LIGHT_SPEED_KM_S
    assert prediction.rate_hz == pytest.approx(prediction.p_herald / cycle)
    no_wait = predict(LinkParameters(fibre_km=50.0, attempt_time=10e-6, wait_for_herald=False))
    assert no_wait.rate_hz == pytest.approx(no_wait.p_herald / 10e-6)


def test_barrett_kok_attempt_defaults_to_two_resets():
    assert LinkParameters(protocol="barrett-kok", reset_time=5e-6).cycle_time == \
        pytest.approx(10e-6 + LinkParameters().herald_wait)


def test_fibre_attenuates_each_arm_by_half_the_link():
    short = predict(LinkParameters(fibre_km=0.0, **{k: v for k, v in IDEAL.items()
                                                    if k != "fibre_km"}))
    long = predict(LinkParameters(fibre_km=50.0, fibre_loss_db_per_km=0.2,
                                  **{k: v for k, v in IDEAL.items() if k != "fibre_km"}))
    # 25 km per arm at 0.2 dB/km = 5 dB -> transmission 0.316 per node, p ∝ η
    assert long.p_herald / short.p_herald == pytest.approx(10 ** -0.5, rel=1e-3)


def _no_click_probability(params: LinkParameters) -> float:
    total = 0.0
    a, b = params.bright_populations
    priors = {(True, True): a * b, (True, False): a * (1 - b),
              (False, True): (1 - a) * b, (False, False): (1 - a) * (1 - b)}
    for (a, b), prior in priors.items():
        probability = prior
        for round_index in range(params.rounds):
            bright = (a, b) if round_index == 0 else (not a, not b)
            clicks = round_clicks(*bright, params.eta_total_a, params.eta_total_b,
                                  params.visibility, params.p_dark)
            probability *= clicks.total("none")
        total += probability
    return total


@settings(max_examples=60, deadline=None)
@given(protocol=st.sampled_from(["single-click", "barrett-kok"]),
       alpha=st.floats(0.0, 1.0), alpha_b=st.none() | st.floats(0.0, 1.0),
       eta_a=st.floats(0.0, 1.0), eta_b=st.floats(0.0, 1.0),
       visibility=st.floats(0.0, 1.0), phase_noise=st.floats(0.0, 3.0),
       dark=st.floats(0.0, 1e7), double=st.floats(0.0, 1.0))
def test_branches_form_a_probability_distribution_of_valid_states(
        protocol, alpha, alpha_b, eta_a, eta_b, visibility, phase_noise, dark, double):
    params = LinkParameters(protocol=protocol, alpha=alpha, alpha_b=alpha_b,
                            eta_a=eta_a, eta_b=eta_b,
                            visibility=visibility, phase_noise=phase_noise,
                            dark_count_rate=dark, double_excitation=double)
    branches = herald_branches(params)
    total = sum(b.probability for b in branches) + _no_click_probability(params)
    assert total == pytest.approx(1.0, abs=1e-9)
    for branch in branches:
        assert branch.probability >= 0
        if branch.heralds:
            assert states.is_density_matrix(branch.state, tolerance=1e-7)


def test_asymmetric_alpha_ideal_state_is_pure_with_unequal_weights():
    """√(α_A(1-α_B))|01> + √((1-α_A)α_B)|10> heralded: purity 1 in the low-loss limit."""
    params = LinkParameters(alpha=0.1, alpha_b=0.3, eta_a=1e-6, eta_b=1e-6,
                            **{k: v for k, v in IDEAL.items()})
    rho = predict(params).states["Psi+"]
    w01, w10 = 0.1 * 0.7, 0.9 * 0.3
    bb = 2 * 0.1 * 0.3  # two emitters: twice the chance that one photon is detected
    total = w01 + w10 + bb
    assert rho[1, 1].real == pytest.approx(w01 / total, rel=1e-4)
    assert rho[1, 2].real == pytest.approx(np.sqrt(w01 * w10) / total, rel=1e-4)


def test_round_click_patterns_are_exhaustive():
    clicks = round_clicks(True, True, 0.3, 0.6, 0.8, 0.01)
    assert sum(clicks.total(c) for c in CLICKS) == pytest.approx(1.0)


@pytest.mark.parametrize("field, value, message", [
    ("alpha", 1.5, "alpha must be within [0, 1]"),
    ("alpha", -0.1, "alpha must be within [0, 1]"),
    ("eta_a", 1.2, "eta_a must be within [0, 1]"),
    ("visibility", float("nan"), "visibility must be finite"),
    ("fibre_km", -1.0, "fibre_km must not be negative"),
    ("dark_count_rate", -5.0, "dark_count_rate must not be negative"),
    ("window", float("inf"), "window must be finite"),
    ("attempt_time", 0.0, "attempt_time must be positive"),
    ("protocol", "teleport", "protocol must be one of"),
])
def test_bad_parameters_raise_value_error_naming_the_parameter(field, value, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        LinkParameters(**{field: value})


def test_prediction_state_is_normalised_and_correlators_are_in_psi_plus_frame():
    prediction = predict(LinkParameters())
    assert np.trace(prediction.state_psi_plus).real == pytest.approx(1.0)
    assert prediction.correlators["XX"] > 0 and prediction.correlators["ZZ"] < 0
