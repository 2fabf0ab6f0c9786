"""Each lmfit model recovers known parameters from data simulated with labctl.physics.

Data come from the same physics the virtual lab uses, with Poisson or
binomial noise from a seeded generator. A fit passes if every parameter is
within 3 reported standard errors of the truth and the errors are below
20 % of the value (parameters whose truth is zero: an absolute bound).
Failed fits (no counts, no signal, a scan that misses the feature) must
come back with ``converged=False``, NaN values and a clear message.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from labctl.analysis.fitting import AnalysisError, binomial_weights, fit, fit_counts
from labctl.analysis.models import (
    DecouplingModel,
    DetectorTimingModel,
    HomDipModel,
    MemoryAttemptsModel,
    PhaseMatchingModel,
    RabiModel,
    RamseyModel,
    SnspdBiasModel,
    operating_bias,
    phase_matching,
    snspd_dark_counts,
    snspd_efficiency,
    window_opening,
)
from labctl.physics import memory
from labctl.physics.detector import Detector
from labctl.physics.emitter import Readout
from labctl.physics.link import LinkParameters, round_clicks
from labctl.physics.optics import FrequencyConverter, Interference
from labctl.physics.sampling import Timing, sample_attempts

READOUT = Readout()  # NV readout of Humphreys et al. 2018: F0 = 0.950, F1 = 0.995


def assert_recovers(result, truth, max_relative_error=0.2, absolute=None):
    """Every parameter in ``truth`` within 3 standard errors, errors not absurdly large."""
    absolute = absolute or {}
    assert result.converged, result.message
    assert result.message == "fitted"
    for name, true in truth.items():
        value, error = result.values[name], result.errors[name]
        assert math.isfinite(error) and error > 0, f"{name}: error {error}"
        assert abs(value - true) <= 3 * error, f"{name}: {value} ± {error}, truth {true}"
        limit = absolute.get(name, max_relative_error * abs(true))
        assert error < limit, f"{name}: error {error} too large for {true}"


def assert_refused(result, *words):
    assert not result.converged
    assert all(math.isnan(v) for v in result.values.values()), result.values
    message = result.message.lower()
    assert "\n" not in message and message != "fitted"
    assert any(word in message for word in words), result.message


def readout_probability(p_bright):
    """P(report 0) for a true bright population, through the readout assignment matrix."""
    (m00, m01), _ = READOUT.assignment_matrix
    return m00 * p_bright + m01 * (1 - p_bright)


def measured_probability(rng, p_bright, shots):
    p = readout_probability(np.asarray(p_bright))
    return rng.binomial(shots, p) / shots


# --- phase matching --------------------------------------------------------------------------

CONVERTER = FrequencyConverter(phase_matching_temperature_c=85.0, phase_matching_fwhm_c=1.0)
PUMP_W = 1.0
FLUX = 2e5  # photons/s into the converter, 1 s per point


def converted_counts(rng, temperatures):
    efficiency = np.array([CONVERTER.efficiency(t, PUMP_W) for t in temperatures])
    return rng.poisson(FLUX * efficiency + CONVERTER.noise_rate(PUMP_W))


def test_phase_matching_lineshape_is_the_converters():
    temperatures = np.linspace(80, 90, 101)
    peak = CONVERTER.efficiency(85.0, PUMP_W)
    expected = [CONVERTER.efficiency(t, PUMP_W) for t in temperatures]
    assert phase_matching(temperatures, peak, 85.0, 1.0) == pytest.approx(expected, abs=1e-15)
    assert phase_matching([84.5, 85.5], 1.0, 85.0, 1.0) == pytest.approx([0.5, 0.5], abs=1e-4)


def test_phase_matching_fit_recovers_the_converter():
    rng = np.random.default_rng(11)
    temperatures = np.linspace(82, 88, 61)
    counts = converted_counts(rng, temperatures)
    result = fit_counts(PhaseMatchingModel(), temperatures, counts)
    assert_recovers(result, {"amplitude": FLUX * CONVERTER.efficiency(85.0, PUMP_W),
                             "center": 85.0, "fwhm": 1.0,
                             "background": CONVERTER.noise_rate(PUMP_W)})


@pytest.mark.parametrize("temperatures", [np.linspace(80, 84.4, 45), np.linspace(90, 95, 51)],
                         ids=["flank-only", "far-tail"])
def test_phase_matching_scan_missing_the_resonance_is_refused(temperatures):
    counts = converted_counts(np.random.default_rng(12), temperatures)
    result = fit_counts(PhaseMatchingModel(), temperatures, counts)
    assert_refused(result, "does not contain the resonance", "no significant signal")


def test_phase_matching_side_lobe_is_not_taken_for_the_peak():
    temperatures = np.linspace(86.2, 90, 39)  # only the side lobes of the sinc²
    counts = converted_counts(np.random.default_rng(13), temperatures)
    result = fit_counts(PhaseMatchingModel(), temperatures, counts)
    assert_refused(result, "does not describe the data", "does not contain")


@pytest.mark.parametrize("seed", range(5))
def test_phase_matching_flat_noise_is_no_signal(seed):
    temperatures = np.linspace(82, 88, 61)
    counts = np.random.default_rng(seed).poisson(150.0, size=len(temperatures))
    result = fit_counts(PhaseMatchingModel(), temperatures, counts)
    assert_refused(result, "no significant signal", "does not contain", "not determined")


def test_phase_matching_all_zero_counts():
    temperatures = np.linspace(82, 88, 61)
    result = fit(PhaseMatchingModel(), temperatures, np.zeros(61))
    assert_refused(result, "no signal: all counts zero")


# --- SNSPD bias scan -------------------------------------------------------------------------

SNSPD = Detector(dark_count_floor=300.0)  # stray light makes the floor measurable
PHOTON_FLUX = 2e4  # photons/s on the detector, 1 s per bias point


def bias_scan_counts(rng, biases, detector=SNSPD):
    rate = [PHOTON_FLUX * detector.efficiency_at(b) + detector.dark_count_rate_at(b)
            for b in biases]
    return rng.poisson(rate)


def test_snspd_lineshapes_are_the_detectors():
    biases = np.linspace(1e-6, 21.9e-6, 50)
    d = SNSPD
    efficiency = snspd_efficiency(biases, d.max_efficiency, d.half_efficiency_bias,
                                  d.efficiency_width)
    dark = snspd_dark_counts(biases, d.dark_count_floor, d.intrinsic_dark_rate,
                             d.dark_count_slope, d.switching_current)
    assert efficiency == pytest.approx([d.efficiency_at(b) for b in biases], rel=1e-12)
    assert dark == pytest.approx([d.dark_count_rate_at(b) for b in biases], rel=1e-12)


def test_snspd_fit_recovers_plateau_and_dark_rise_and_chooses_the_bias():
    biases = np.arange(2e-6, 21.6e-6, 0.25e-6)
    counts = bias_scan_counts(np.random.default_rng(21), biases)
    result = fit_counts(SnspdBiasModel(), biases, counts)
    top = biases.max()
    d = SNSPD
    assert_recovers(result, {
        "amplitude": PHOTON_FLUX * d.max_efficiency, "half_point": d.half_efficiency_bias,
        "width": d.efficiency_width, "dark_floor": d.dark_count_floor,
        "dark_scale": d.intrinsic_dark_rate * math.exp((top - d.switching_current)
                                                       / d.dark_count_slope),
        "dark_slope": d.dark_count_slope})
    assert result.values["reference_bias"] == top and result.errors["reference_bias"] == 0

    point = operating_bias(result, fraction=0.95, scan_range=(biases.min(), top))
    true_bias = d.half_efficiency_bias + d.efficiency_width * math.log(19)
    assert point.bias == pytest.approx(true_bias, abs=0.1e-6)
    assert d.efficiency_at(point.bias) == pytest.approx(0.95 * d.max_efficiency, rel=0.01)
    # the knee: dark counts twice the floor
    true_knee = d.switching_current + d.dark_count_slope * math.log(
        d.dark_count_floor / d.intrinsic_dark_rate)
    assert point.knee_bias == pytest.approx(true_knee, abs=0.1e-6)
    assert point.bias < point.knee_bias
    assert point.dark_count_rate == pytest.approx(d.dark_count_rate_at(point.bias), rel=0.05)
    with pytest.raises(AnalysisError, match="above the dark-count knee"):
        operating_bias(result, fraction=0.9999, max_dark_rate=result.values["dark_floor"] + 1.0)


def test_snspd_scan_below_the_step_is_refused_and_gives_no_operating_bias():
    biases = np.arange(2e-6, 5e-6, 0.1e-6)
    counts = bias_scan_counts(np.random.default_rng(22), biases)
    result = fit_counts(SnspdBiasModel(dark_counts=False), biases, counts)
    assert_refused(result, "does not contain the efficiency step", "not determined",
                   "no significant signal")
    with pytest.raises(AnalysisError, match="cannot choose an operating bias"):
        operating_bias(result)


# --- Rabi ------------------------------------------------------------------------------------

RABI_HZ = 2.5e6


@pytest.mark.parametrize("decay_time", [None, 1.5e-6])
def test_rabi_fit_recovers_frequency_and_pi_time(decay_time):
    rng = np.random.default_rng(31)
    shots = 400
    t = np.linspace(0, 2e-6, 101)
    damping = 1.0 if decay_time is None else np.exp(-t / decay_time)
    bright = 0.5 + 0.5 * np.cos(2 * np.pi * RABI_HZ * t) * damping  # resonant Rabi flopping
    p = measured_probability(rng, bright, shots)
    result = fit(RabiModel(decay=decay_time is not None), t, p,
                 weights=binomial_weights(p, shots))
    truth = {"offset": readout_probability(0.5),
             "amplitude": readout_probability(1.0) - readout_probability(0.5),
             "frequency": RABI_HZ, "pi_time": 1 / (2 * RABI_HZ), "phase": 0.0}
    if decay_time is not None:
        truth["decay_time"] = decay_time
    assert_recovers(result, truth, absolute={"phase": 0.1})


def test_rabi_without_oscillation_is_no_signal():
    rng = np.random.default_rng(32)
    t = np.linspace(0, 2e-6, 101)
    p = measured_probability(rng, np.full(len(t), 0.5), 400)
    result = fit(RabiModel(), t, p, weights=binomial_weights(p, 400))
    assert_refused(result, "no significant signal", "not determined", "rests on its bound")


# --- Ramsey, echo, memory under attempts -----------------------------------------------------

NODE_MEMORY = memory.Memory()


def test_ramsey_fit_recovers_t2_star_and_detuning_through_readout_errors():
    rng = np.random.default_rng(41)
    shots = 500
    t = np.linspace(0, 15e-6, 121)
    detuning, phase = 0.6e6, 0.3
    bright = memory.ramsey(t, NODE_MEMORY.t2_star, 1.0, detuning, phase)
    p = measured_probability(rng, bright, shots)
    result = fit(RamseyModel(), t, p, weights=binomial_weights(p, shots))
    contrast = readout_probability(1.0) - readout_probability(0.0)
    assert_recovers(result, {"t2_star": NODE_MEMORY.t2_star, "detuning": detuning,
                             "phase": phase, "amplitude": contrast,
                             "offset": readout_probability(0.5)})


def test_ramsey_with_fixed_offset_for_corrected_data():
    rng = np.random.default_rng(42)
    t = np.linspace(0, 12e-6, 97)
    p = rng.binomial(1000, memory.ramsey(t, 4e-6, 0.9, 0.8e6, -0.5)) / 1000
    result = fit(RamseyModel(offset=0.5), t, p, weights=binomial_weights(p, 1000))
    assert_recovers(result, {"t2_star": 4e-6, "detuning": 0.8e6, "amplitude": 0.9,
                             "phase": -0.5})
    assert result.values["offset"] == 0.5 and result.errors["offset"] == 0.0


def test_echo_fit_recovers_coherence_time_and_exponent():
    rng = np.random.default_rng(51)
    shots = 500
    t = np.linspace(0, 3e-3, 61)
    bright = memory.decoupled_decay(t, NODE_MEMORY.coherence_time,
                                    NODE_MEMORY.decoupling_exponent)
    p = measured_probability(rng, bright, shots)
    result = fit(DecouplingModel(), t, p, weights=binomial_weights(p, shots))
    contrast = readout_probability(1.0) - readout_probability(0.0)
    assert_recovers(result, {"coherence_time": NODE_MEMORY.coherence_time,
                             "exponent": NODE_MEMORY.decoupling_exponent,
                             "amplitude": contrast, "offset": readout_probability(0.5)})


def test_echo_scan_far_shorter_than_the_coherence_time_is_refused():
    rng = np.random.default_rng(52)
    t = np.linspace(0, 0.05e-3, 41)
    p = measured_probability(rng, memory.decoupled_decay(t, 1e-3, 2.0), 500)
    result = fit(DecouplingModel(), t, p, weights=binomial_weights(p, 500))
    assert_refused(result, "not determined", "rests on its bound", "covariance",
                   "no significant signal")


def test_memory_fit_recovers_attempts_to_1_over_e():
    rng = np.random.default_rng(61)
    shots = 4000
    n_1_over_e = NODE_MEMORY.n_1_over_e
    attempts = np.arange(0, 4001, 250)
    fidelity = memory.fidelity_after_attempts(attempts, 0.85, n_1_over_e)
    measured = rng.binomial(shots, fidelity) / shots
    result = fit(MemoryAttemptsModel(), attempts, measured,
                 weights=binomial_weights(measured, shots))
    assert_recovers(result, {"initial_fidelity": 0.85, "n_1_over_e": n_1_over_e})
    assert n_1_over_e == pytest.approx(memory.attempts_to_1_over_e(5e-4))


# --- HOM dip ---------------------------------------------------------------------------------

def test_hom_fit_recovers_visibility_and_zero_delay():
    """Coincidence probability per photon pair from the link model's round_clicks, with the
    virtual lab's visibility × exp(−mismatch/lifetime) and realistic dark counts."""
    rng = np.random.default_rng(72)
    lifetime, zero_delay = 12e-9, 3e-9
    interference = Interference(visibility=0.9)
    eta, p_dark, pairs = 0.3, 1e-4, 200_000
    delays = np.arange(-60e-9, 60.1e-9, 2e-9)

    def coincidence(visibility):
        return round_clicks(True, True, eta, eta, visibility, p_dark).total("both")

    p = [coincidence(interference.visibility * math.exp(-abs(d - zero_delay) / lifetime))
         for d in delays]
    counts = rng.binomial(pairs, p)
    result = fit_counts(HomDipModel(), delays, counts)
    baseline = pairs * coincidence(0.0)
    visibility = 1 - coincidence(interference.visibility) / coincidence(0.0)
    assert_recovers(result, {"baseline": baseline, "visibility": visibility,
                             "center": zero_delay, "lifetime": lifetime})
    fixed = fit_counts(HomDipModel(lifetime=lifetime), delays, counts)
    assert_recovers(fixed, {"visibility": visibility, "center": zero_delay})
    assert fixed.errors["center"] <= result.errors["center"] * 1.01


def test_hom_scan_missing_the_dip_is_refused():
    rng = np.random.default_rng(73)
    delays = np.arange(40e-9, 200e-9, 2e-9)
    p = 0.5 * (1 - 0.9 * np.exp(-np.abs(delays) / 12e-9))
    counts = rng.binomial(20_000, p)
    result = fit_counts(HomDipModel(), delays, counts)
    assert_refused(result, "does not contain the dip", "no significant signal")


# --- detector timing -------------------------------------------------------------------------

def test_timing_fit_recovers_onset_and_jitter_from_sampled_clicks():
    """Click times drawn by labctl.physics.sampling (as the virtual lab's time tagger),
    histogrammed in ps like time tags."""
    rng = np.random.default_rng(81)
    onset, jitter, lifetime, window = 5e-9, 50e-12, 12e-9, 50e-9
    params = LinkParameters(alpha=0.5, eta_a=0.2, eta_b=0.2, dark_count_rate=2e5,
                            window=window)
    sampled = sample_attempts(params, 2_000_000, rng,
                              Timing(lifetime=lifetime, jitter=jitter, emission_start=onset))
    edges = np.arange(0.0, window * 1e12 + 1, 10.0)
    counts, _ = np.histogram(sampled.click_time * 1e12, bins=edges)
    centers = (edges[:-1] + edges[1:]) / 2
    result = fit_counts(DetectorTimingModel(), centers, counts)
    assert_recovers(result, {"onset": onset * 1e12, "jitter": jitter * 1e12,
                             "lifetime": lifetime * 1e12})
    # dark clicks are uniform in the window: a flat background (its exact level depends
    # on which click a threshold detector reports, so only its presence is checked)
    assert result.values["background"] > 3 * result.errors["background"]
    opening = window_opening(result, margin=3.0)
    spread = math.hypot(result.errors["onset"], 3 * result.errors["jitter"])
    assert opening == pytest.approx((onset - 3 * jitter) * 1e12, abs=3 * spread)


def test_timing_histogram_of_dark_counts_only_is_refused():
    rng = np.random.default_rng(82)
    centers = np.arange(5.0, 50_000, 10.0)
    counts = rng.poisson(20.0, size=len(centers))
    result = fit_counts(DetectorTimingModel(), centers, counts)
    assert_refused(result, "no significant signal", "does not contain", "not determined",
                   "rests on its bound", "covariance")
    with pytest.raises(AnalysisError, match="cannot place the detection window"):
        window_opening(result)


def test_helpers_refuse_bad_arguments():
    with pytest.raises(ValueError, match="fraction"):
        operating_bias(fit(SnspdBiasModel(), [1.0, 2.0], [1.0, 2.0]), fraction=1.0)
    with pytest.raises(ValueError, match="lifetime"):
        HomDipModel(lifetime=0.0)
    with pytest.raises(ValueError, match="margin"):
        window_opening(fit(DetectorTimingModel(), [1.0, 2.0], [0.0, 0.0]), margin=-1.0)
