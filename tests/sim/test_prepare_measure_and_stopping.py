"""Prepare and measure agrees with the model; the Bell test's stopping rules stop it early."""

from __future__ import annotations

import math

import numpy as np
import pytest

from experiments.bell_test import (
    SETTING_DIRECTIONS,
    BellTest,
    BellTestConfig,
    bell_program,
    bell_settings,
    readout_rotation,
)
from experiments.bringup import RABI_FULL_SCALE_HZ, AttemptDesign
from experiments.entanglement import EntanglementConfig
from experiments.prepare_measure import PrepareMeasure, binary_entropy
from labctl.data.archive import Archive
from labctl.engine.runner import Engine
from labctl.engine.stopping import History, StatisticBelow
from labctl.physics.bell import (
    chsh_value,
    correlator_from_probabilities,
    max_chsh,
    outcome_probabilities,
)
from labctl.physics.emitter import Readout
from labctl.physics.link import predict
from labctl.physics.states import correlators
from labctl.station import DEFAULT_STATION
from sim_instruments.spin import measured_direction, step_unitaries
from sim_instruments.world import WorldConfig
from tests.sim.test_entanglement import WORLDS, expected

Z = 4.0
#: In the Ψ+ frame B holds the state A found (X, Y) or the other one (Z).
SIGN = {"Z": -1.0, "X": 1.0, "Y": 1.0}


def run(tmp_path, experiment, profile="sim"):
    archive = Archive(tmp_path / "archive")
    outcome = Engine(archive, progress=False).start(experiment, DEFAULT_STATION, profile)
    archive.close()
    assert outcome.status == "completed", outcome.reason
    return outcome


def test_prepare_and_measure_matches_the_predicted_state(tmp_path):
    """p = heralds per attempt, and ε_T from the predicted heralded state with node A's
    readout errors (they are part of the preparation) but not node B's."""
    world = WorldConfig()
    config = EntanglementConfig(blocks=3, block_seconds=200.0, alpha=0.1,
                                readout_f0=world.readout.f0, readout_f1=world.readout.f1)
    result = run(tmp_path, PrepareMeasure(config)).result
    prediction = predict(expected({}, PrepareMeasure(config)._design()))
    p = prediction.p_herald
    assert abs(result.p - p) < Z * math.sqrt(p / result.attempts), (result.p, p)
    errors = {}
    for basis in ("Z", "X", "Y"):
        probabilities = outcome_probabilities(prediction.state_psi_plus, basis, basis,
                                              world.readout, Readout(1.0, 1.0))
        errors[basis] = (1 - SIGN[basis] * correlator_from_probabilities(probabilities)) / 2
    epsilon_t = sum(errors.values()) / 2
    assert abs(result.epsilon_t - epsilon_t) < Z * result.epsilon_t_err, (
        result.epsilon_t, epsilon_t, result.epsilon_t_err)
    assert result.epsilon_m == max(1 - world.readout.f0, 1 - world.readout.f1)
    fraction = max(0.0, 1 - binary_entropy(result.qber["X"]) - binary_entropy(result.qber["Z"]))
    assert result.key_fraction == fraction
    assert all(0 < q < 0.5 for q in result.qber.values())


def test_the_bell_test_stops_once_the_p_value_is_small_enough(tmp_path):
    config = BellTestConfig(blocks=20, block_seconds=20.0, alpha=0.03, stop_p_value=1e-3)
    outcome = run(tmp_path, BellTest(config), profile="sim-prepare-measure")
    assert outcome.blocks < config.blocks
    assert outcome.reason.startswith("p-value = ") and "below 0.001" in outcome.reason
    assert outcome.result.p_value < 1e-3 and outcome.result.S > 2
    # a run that may stop early reports the p-value valid at any stopping time
    assert outcome.result.p_value_method == "test-supermartingale"
    assert 0.75 < outcome.result.xi < 0.8


def test_the_bell_test_stops_once_s_exceeds_2_by_the_requested_sigmas(tmp_path):
    config = BellTestConfig(blocks=20, block_seconds=20.0, alpha=0.03, stop_sigmas=5.0)
    outcome = run(tmp_path, BellTest(config), profile="sim-prepare-measure")
    result = outcome.result
    assert outcome.blocks < config.blocks, outcome.reason
    assert "exceeds 2 by" in outcome.reason
    assert (result.S - 2) / result.S_err >= 5.0
    # S in σ only decides when to stop; the p-value reported is the supermartingale's,
    # valid at this stopping time however small or large it is after a few blocks
    assert result.p_value_method == "test-supermartingale"
    assert result.xi > 0.75 and 0.0 < result.p_value <= 1.0


def psi_plus_frame(world):
    """The predicted heralded state of a test world (single-click, the Bell test's α)."""
    return predict(expected(WORLDS[world][1], AttemptDesign(alpha=BellTestConfig().alpha))
                   ).state_psi_plus


def test_the_default_settings_are_optimal_for_a_single_click_state():
    """(1 − α)Ψ+ + α|↑↑⟩ weakens ZZ only: the XY plane reaches max_chsh, today's XZ
    settings (S 1.61 against 1.73 raw on the default world) do not."""
    alpha = BellTestConfig().alpha
    psi_plus = np.zeros((4, 4), dtype=complex)
    psi_plus[1, 1] = psi_plus[2, 2] = psi_plus[1, 2] = psi_plus[2, 1] = 0.5
    bright_bright = np.zeros((4, 4), dtype=complex)
    bright_bright[0, 0] = 1.0
    state = (1 - alpha) * psi_plus + alpha * bright_bright
    settings = [tuple(np.array(d) for d in SETTING_DIRECTIONS[n]) for n in ("node_a", "node_b")]
    assert chsh_value(state, *settings) == pytest.approx(max_chsh(state), rel=1e-9)
    assert max_chsh(state) > 2.6


@pytest.mark.parametrize("world", list(WORLDS))
def test_settings_from_the_predicted_correlators_reach_max_chsh(world):
    """With the predicted state's XX, YY, ZZ (`labctl predict`) the settings are optimal
    for it, with perfect readout and with the world's readout."""
    state = psi_plus_frame(world)
    t = correlators(state)
    config = BellTestConfig(expected_xx=t["XX"], expected_yy=t["YY"], expected_zz=t["ZZ"])
    chosen = bell_settings(config)
    settings = [chosen[n] for n in ("node_a", "node_b")]
    assert chsh_value(state, *settings) == pytest.approx(max_chsh(state), rel=1e-9)
    readout = WorldConfig().readout
    for other in (BellTestConfig(), BellTestConfig(protocol="barrett-kok")):
        fixed = [bell_settings(other)[n] for n in ("node_a", "node_b")]
        assert (chsh_value(state, *settings, readout, readout)
                >= chsh_value(state, *fixed, readout, readout) - 1e-12)


@pytest.mark.parametrize("protocol", ["single-click", "barrett-kok"])
def test_the_programmed_rotations_measure_the_chosen_directions(protocol):
    """Each setting's readout pulse, as the world decodes its unitary, measures the
    direction `bell_settings` chose."""
    design = AttemptDesign(alpha=0.1, protocol=protocol,
                           period=8e-6 if protocol == "barrett-kok" else 4e-6)
    config = BellTestConfig(protocol=protocol)
    for node, directions in bell_settings(config).items():
        program = bell_program(design, node, bell_settings(config))
        for segment, direction in zip(program.segments[1:], directions, strict=True):
            rotation = readout_rotation(direction)
            assert (rotation is None) == (not segment.rotations)
            unitary = np.eye(2, dtype=complex)
            for pulse in segment.rotations:   # the world's spin dynamics for the I/Q pulse
                i, q = (np.array([pulse.amplitude * f(pulse.phase)]) for f in (np.cos, np.sin))
                unitary = step_unitaries(i, q, pulse.duration, RABI_FULL_SCALE_HZ, 0.0)[0] @ unitary
            np.testing.assert_allclose(measured_direction(unitary), direction, atol=1e-9)


def test_statistic_below_waits_for_data_and_ignores_nan():
    rule = StatisticBelow("p", lambda history: float(history.array("p")[-1]), 0.01)
    history = History()
    assert rule.done(history) is None
    history.add({"p": math.nan})
    assert rule.done(history) is None
    history.add({"p": 0.2})
    assert rule.done(history) is None
    history.add({"p": 0.005})
    assert rule.done(history) == "p = 0.005 is below 0.01"
