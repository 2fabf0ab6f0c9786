"""Spin-scan experiments on the virtual lab measure the physics of the world.

Each scan runs through the engine and the real drivers; the bright fraction
of every point must agree with the model of the simulated world (Rabi
oscillation, Ramsey fringe with its T2* envelope, echo decay, memory decay
per entangling attempt, each seen through the readout fidelities) within
4 standard errors of the counted shots.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from experiments.spin_scans import (
    DecouplingConfig,
    DynamicalDecoupling,
    MemoryConfig,
    MemoryRobustness,
    Rabi,
    RabiConfig,
    Ramsey,
    RamseyConfig,
    ScanConfig,
)
from labctl import station as station_module
from labctl.data.archive import Archive
from labctl.engine.runner import Engine
from labctl.physics import memory
from sim_instruments.world import WorldConfig

Z = 4.0
WORLD = WorldConfig()
F0, F1 = WORLD.readout.f0, WORLD.readout.f1


def measured(tmp_path, experiment):
    archive = Archive(tmp_path)
    outcome = Engine(archive, progress=False).start(experiment, station_module.DEFAULT_STATION,
                                                    "sim")
    assert outcome.status == "completed", outcome.reason
    data = archive.load(outcome.run_id)
    archive.close()
    return data.values["x"], data.values["bright"], data.values["shots"]


def reported(p_bright: np.ndarray) -> np.ndarray:
    """Bright fraction as read out: ≥1 photon with probability F0 (bright), 1-F1 (dark)."""
    return F0 * p_bright + (1 - F1) * (1 - p_bright)


def assert_agrees(bright, shots, expected, systematic=0.0):
    fraction = bright / shots
    error = np.sqrt(np.maximum(expected * (1 - expected), 1e-4) / shots)
    assert np.all(np.abs(fraction - expected) < Z * error + systematic), (
        fraction, expected, error)


def test_rabi_oscillation(tmp_path):
    x, bright, shots = measured(tmp_path, Rabi(RabiConfig(0, 150e-9, steps=7,
                                                          seconds_per_point=0.2)))
    rabi = WORLD.rabi_hz_at_reference  # full scale, 10 dBm
    assert_agrees(bright, shots, reported(np.cos(math.pi * rabi * x) ** 2))


def test_ramsey_fringe_decays_with_t2_star(tmp_path):
    detuning = 0.5e6
    x, bright, shots = measured(tmp_path, Ramsey(RamseyConfig(
        0.5e-6, 9e-6, steps=7, seconds_per_point=0.4, detuning_hz=detuning)))
    # two π/2 pulses about x: P(bright) = 1 − Ramsey(τ) for the world's T2*
    ideal = 1 - memory.ramsey(x, WORLD.memory.t2_star, 1.0, detuning)
    # the finite pulses add a small phase; allow it by comparing the envelope's contrast
    fraction = bright / shots
    assert abs(fraction[0] - reported(ideal[0])) < 0.08
    late = fraction[-2:]
    assert np.all(np.abs(late - reported(np.full(2, 0.5))) < 0.1)  # dephased after ~2 T2*


def test_echo_decays_with_the_coherence_time_and_exponent(tmp_path):
    x, bright, shots = measured(tmp_path, DynamicalDecoupling(DecouplingConfig(
        0.2e-3, 2.5e-3, steps=5, seconds_per_point=2.0, pulses=1)))
    m = WORLD.memory
    expected = 1 - memory.decoupled_decay(x, m.coherence_time, m.decoupling_exponent)
    # π/2 – π – π/2 about x returns the spin to bright: P = decay law mirrored
    assert_agrees(bright, shots, reported(1 - expected))


def test_memory_decays_with_entangling_attempts(tmp_path):
    x, bright, shots = measured(tmp_path, MemoryRobustness(MemoryConfig(
        1, 2500, steps=5, seconds_per_point=3.0)))
    n_1e = WORLD.memory.n_1_over_e
    # π/2 – N attempts – π/2: dark for N = 0, relaxing to 1/2 as the coherence goes
    p_bright = 0.5 - 0.5 * np.exp(-np.round(x) / n_1e)
    # the short gaps around the π/2 pulses add a little T2* dephasing the law leaves out
    assert_agrees(bright, shots, reported(p_bright), systematic=0.002)


@pytest.mark.parametrize("settings, message", [
    (dict(start=1.0, stop=0.5), "need 0 <= start < stop"),
    (dict(start=0, stop=1e-6, steps=2), "steps must be at least 3"),
    (dict(start=0, stop=1e-6, pulses=0), "pulses must be at least 1"),
])
def test_bad_scan_settings_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        ScanConfig(**settings)


def fitted(tmp_path, experiment):
    archive = Archive(tmp_path)
    outcome = Engine(archive, progress=False).start(experiment, station_module.DEFAULT_STATION,
                                                    "sim")
    archive.close()
    assert outcome.status == "completed", outcome.reason
    assert outcome.result.fit["converged"], outcome.result.fit["message"]
    assert outcome.plot and outcome.plot.endswith(".png")
    return outcome.result.fit


def within(fit, name, truth):
    value, error = fit[name], fit[f"{name}_err"]
    assert error is not None and 0 < error < 0.3 * abs(truth), (name, value, error)
    assert abs(value - truth) < Z * error, (name, value, truth, error)


def test_fits_recover_the_rabi_frequency_and_t2_star(tmp_path):
    rabi = fitted(tmp_path / "rabi", Rabi(RabiConfig(0, 250e-9, steps=21,
                                                     seconds_per_point=0.1)))
    within(rabi, "frequency", WORLD.rabi_hz_at_reference)
    ramsey = fitted(tmp_path / "ramsey", Ramsey(RamseyConfig(
        0.2e-6, 12e-6, steps=31, seconds_per_point=0.3, detuning_hz=0.5e6)))
    within(ramsey, "t2_star", WORLD.memory.t2_star)


def test_fit_recovers_attempts_to_1_over_e(tmp_path):
    memory_fit = fitted(tmp_path, MemoryRobustness(MemoryConfig(
        1, 4000, steps=9, seconds_per_point=6.0)))
    within(memory_fit, "n_1_over_e", WORLD.memory.n_1_over_e)


def test_a_scan_with_no_signal_is_reported_as_not_converged(tmp_path):
    """The readout never sees the spin move (microwave far off resonance): no Rabi fit."""
    archive = Archive(tmp_path)
    outcome = Engine(archive, progress=False).start(
        Rabi(RabiConfig(0, 150e-9, steps=9, seconds_per_point=0.1, detuning_hz=200e6)),
        station_module.DEFAULT_STATION, "sim")
    archive.close()
    assert outcome.status == "completed"
    assert outcome.result.fit["converged"] is False
    assert outcome.result.fit["message"] and outcome.result.fit["frequency"] is None


def test_a_recording_whose_length_is_not_a_round_number_of_picoseconds_is_complete(tmp_path):
    """8.799999999999999 s (a float product) is recorded in full: the tagger is done when
    the clock reaches the end within its picosecond resolution (a regression: points of
    such a scan used to come back empty)."""
    _, _, shots = measured(tmp_path, MemoryRobustness(MemoryConfig(
        1, 4000, steps=3, seconds_per_point=400 * 4000 * 5.5e-6)))
    assert np.all(shots > 0), shots


def test_shots_per_point_sizes_each_point_by_its_passes(tmp_path):
    _, _, shots = measured(tmp_path, MemoryRobustness(MemoryConfig(
        1, 100_000, steps=3, shots_per_point=300)))
    # one pass: π/2, x attempts of 5.5 µs, the readout element
    assert np.all(np.abs(shots - 300) <= 2), shots
