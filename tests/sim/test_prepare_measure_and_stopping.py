"""Prepare and measure agrees with the model; the Bell test's stopping rules stop it early."""

from __future__ import annotations

import math

from experiments.bell_test import BellTest, BellTestConfig
from experiments.entanglement import EntanglementConfig
from experiments.prepare_measure import PrepareMeasure, binary_entropy
from labctl.data.archive import Archive
from labctl.engine.runner import Engine
from labctl.engine.stopping import History, StatisticBelow
from labctl.physics.bell import correlator_from_probabilities, outcome_probabilities
from labctl.physics.emitter import Readout
from labctl.physics.link import predict
from labctl.station import DEFAULT_STATION
from sim_instruments.world import WorldConfig
from tests.sim.test_entanglement import expected

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


def test_the_bell_test_stops_once_s_exceeds_2_by_the_requested_sigmas(tmp_path):
    config = BellTestConfig(blocks=20, block_seconds=20.0, alpha=0.03, stop_sigmas=5.0)
    outcome = run(tmp_path, BellTest(config), profile="sim-prepare-measure")
    result = outcome.result
    assert outcome.blocks < config.blocks, outcome.reason
    assert "exceeds 2 by" in outcome.reason
    assert (result.S - 2) / result.S_err >= 5.0


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
