"""Components: emitter, fibre, converter, detector, interference, memory laws."""

from __future__ import annotations

import math

import numpy as np
import pytest

from labctl.physics import memory
from labctl.physics.detector import Detector, dark_click_probability
from labctl.physics.emitter import Emitter, Readout
from labctl.physics.optics import Fibre, FrequencyConverter, Interference, fibre_loss_db_per_km
from labctl.physics.presets import PRESETS, preset


def test_fibre_transmission_and_delay():
    fibre = Fibre(length_km=10.0, loss_db_per_km=0.2)
    assert fibre.transmission == pytest.approx(10 ** -0.2)
    assert fibre.delay == pytest.approx(10.0 / 2.07e5)


def test_fibre_loss_by_wavelength():
    assert fibre_loss_db_per_km(1550e-9) == pytest.approx(0.2)
    assert 5.0 <= fibre_loss_db_per_km(637e-9) <= 8.0
    assert fibre_loss_db_per_km(800e-9) < fibre_loss_db_per_km(637e-9)


def test_converter_peaks_at_phase_matching_and_halves_at_half_width():
    converter = FrequencyConverter(max_efficiency=0.2, phase_matching_temperature_c=80.0,
                                   phase_matching_fwhm_c=2.0, full_pump_power=1.5)
    peak = converter.efficiency(80.0, 1.5)
    assert peak == pytest.approx(0.2)
    assert converter.efficiency(81.0, 1.5) == pytest.approx(0.1, rel=1e-3)
    assert converter.efficiency(79.0, 1.5) == pytest.approx(0.1, rel=1e-3)
    temperatures = np.linspace(70, 90, 201)
    best = temperatures[np.argmax([converter.efficiency(t, 1.5) for t in temperatures])]
    assert best == pytest.approx(80.0)


def test_converter_efficiency_grows_with_pump_and_noise_is_linear_in_pump():
    converter = FrequencyConverter()
    powers = [0.0, 0.5, 1.0, 2.0]
    efficiencies = [converter.efficiency(85.0, p) for p in powers]
    assert efficiencies == sorted(efficiencies) and efficiencies[0] == 0.0
    assert converter.noise_rate(2.0) == pytest.approx(2 * converter.noise_rate(1.0))


def test_snspd_efficiency_plateaus_and_dark_counts_rise_with_bias():
    detector = Detector()
    biases = np.linspace(2e-6, 21.5e-6, 40)
    efficiency = [detector.efficiency_at(b) for b in biases]
    dark = [detector.dark_count_rate_at(b) for b in biases]
    assert all(np.diff(efficiency) >= 0) and all(np.diff(dark) >= 0)
    assert efficiency[-1] == pytest.approx(detector.max_efficiency, rel=1e-3)
    assert efficiency[-1] - efficiency[-10] < 1e-3  # a plateau
    assert dark[-1] > 100 * dark[0]
    assert detector.efficiency_at(23e-6) == 0.0 and detector.latched_at(23e-6)


def test_dark_click_probability():
    assert dark_click_probability(20.0, 25e-9) == pytest.approx(20 * 25e-9, rel=1e-6)
    assert dark_click_probability(1e12, 1.0) == pytest.approx(1.0)


def test_interference_phase_coherence():
    assert Interference(phase_noise=0.0).phase_coherence == 1.0
    assert Interference(phase_noise=0.3).phase_coherence == pytest.approx(math.exp(-0.045))


def test_emitter_defaults_are_nv_like():
    emitter = Emitter()
    assert emitter.zpl_fraction == 0.03 and emitter.readout == Readout(0.95, 0.995)
    assert emitter.photon_efficiency == pytest.approx(0.003)


def test_ramsey_and_decoupling_laws():
    assert memory.ramsey(0.0, 5e-6) == pytest.approx(1.0)
    assert memory.ramsey(5e-6, 5e-6) == pytest.approx(0.5 + 0.5 / math.e)
    assert memory.ramsey(1.0, 5e-6) == pytest.approx(0.5)
    assert memory.decoupled_decay(1e-3, 1e-3, 3.0) == pytest.approx(0.5 + 0.5 / math.e)
    t = np.array([0.5e-3, 1e-3, 2e-3])
    steeper = memory.decoupled_decay(t, 1e-3, 4.0)
    gentler = memory.decoupled_decay(t, 1e-3, 1.0)
    assert steeper[0] > gentler[0] and steeper[2] < gentler[2]


def test_attempts_to_1_over_e():
    p_d = 1e-3
    n = memory.attempts_to_1_over_e(p_d)
    assert n == pytest.approx(-1 / math.log(1 - 2 * p_d))
    assert memory.fidelity_after_attempts(n, 0.9, n) == pytest.approx(0.5 + 0.4 / math.e)
    assert memory.attempts_to_1_over_e(0.0) == math.inf


@pytest.mark.parametrize("factory, message", [
    (lambda: Emitter(alpha=2.0), "alpha must be within"),
    (lambda: Emitter(lifetime=0.0), "lifetime must be positive"),
    (lambda: Emitter(collection_efficiency=1.5), "collection_efficiency must be within"),
    (lambda: Readout(f0=float("nan")), "readout f0 must be finite"),
    (lambda: Fibre(length_km=-1.0), "length_km must not be negative"),
    (lambda: FrequencyConverter(max_efficiency=1.2), "max_efficiency must be within"),
    (lambda: FrequencyConverter().efficiency(85.0, -1.0), "pump_power must not be negative"),
    (lambda: Detector(max_efficiency=1.01), "max_efficiency must be within"),
    (lambda: Detector(jitter=float("nan")), "jitter must be finite"),
    (lambda: Detector().efficiency_at(-1e-6), "bias must not be negative"),
    (lambda: Interference(visibility=-0.1), "visibility must be within"),
    (lambda: memory.Memory(t2_star=-1.0), "t2_star must be positive"),
    (lambda: memory.decoupled_decay(1.0, 1.0, 5.0), "exponent must be within"),
    (lambda: memory.attempts_to_1_over_e(0.7), "dephasing_per_attempt must be within"),
])
def test_bad_parameters_raise_value_error_naming_the_parameter(factory, message):
    with pytest.raises(ValueError, match=message):
        factory()


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_are_entangling_links(name):
    from labctl.physics.link import predict

    prediction = predict(preset(name))
    assert 0.5 < prediction.fidelity < 1.0
    assert prediction.rate_hz > 0


def test_unknown_preset_names_the_known_ones():
    with pytest.raises(ValueError, match="nv-short"):
        preset("moon-link")
