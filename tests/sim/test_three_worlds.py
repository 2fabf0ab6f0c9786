"""Bell test and memory benchmarks agree with the model in three different worlds.

The worlds are those of test_entanglement (a short NV link, a 25 km telecom
link, a noisy link), each with its own memory (T2*, dephasing per entangling
attempt). Measured CHSH S must agree with S computed from `predict`'s
heralded state for the same link, measured along the experiment's settings
with the world's readout fidelities; fitted T2* and N_1/e must agree with the
world's memory — each within 4 standard errors.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from experiments.bell_test import SETTING_DIRECTIONS, BellTest, BellTestConfig
from experiments.bringup import AttemptDesign
from experiments.spin_scans import MemoryConfig, MemoryRobustness, Ramsey, RamseyConfig
from labctl.data.archive import Archive
from labctl.engine.runner import Engine
from labctl.physics.bell import chsh_value
from labctl.physics.link import predict
from sim_instruments.world import WorldConfig
from tests.sim.test_entanglement import WORLDS, expected, station_for

Z = 4.0
MEMORIES = {
    "nv-short": {},
    "telecom-25km": {"t2_star": 12e-6, "dephasing_per_attempt": 2e-4},
    "noisy": {"t2_star": 2.5e-6, "dephasing_per_attempt": 2e-3},
}


def world_station(tmp_path, world):
    extra, mapping = WORLDS[world]
    memory = MEMORIES[world]
    if memory:
        extra += "      memory: {" + ", ".join(f"{k}: {v!r}" for k, v in memory.items()) + "}\n"
        mapping = {**mapping, "memory": memory}
    return station_for(tmp_path, extra), WorldConfig.from_mapping(mapping), mapping


def run(tmp_path, experiment, station):
    archive = Archive(tmp_path / "archive")
    outcome = Engine(archive, progress=False).start(experiment, station, "sim")
    archive.close()
    assert outcome.status == "completed", outcome.reason
    return outcome.result


@pytest.mark.parametrize("world", list(WORLDS))
def test_chsh_s_matches_the_prediction(tmp_path, world):
    station, config, mapping = world_station(tmp_path, world)
    bell = BellTestConfig(blocks=2, block_seconds=300.0)
    result = run(tmp_path, BellTest(bell), station)
    state = predict(expected(mapping, AttemptDesign(alpha=bell.alpha))).state_psi_plus
    settings_a, settings_b = (tuple(np.array(d) for d in SETTING_DIRECTIONS[node])
                              for node in ("node_a", "node_b"))
    predicted = chsh_value(state, settings_a, settings_b, config.readout, config.readout)
    assert result.trials > 1000
    assert abs(result.S - predicted) < Z * result.S_err, (result.S, predicted, result.S_err)
    assert result.wins <= result.trials and 0.0 <= result.p_value <= 1.0
    # the CHSH game and S describe the same trials: S ≈ 4(2ω − 1) for uniform settings
    assert abs(4 * (2 * result.win_fraction - 1) - result.S) < Z * result.S_err


def within(fit, name, truth):
    value, error = fit[name], fit[f"{name}_err"]
    assert fit["converged"], fit["message"]
    assert error is not None and 0 < error < 0.3 * abs(truth), (name, value, error)
    assert abs(value - truth) < Z * error, (name, value, truth, error)


@pytest.mark.parametrize("world", list(WORLDS))
def test_t2_star_and_attempts_to_1_over_e_match_the_world(tmp_path, world):
    station, config, _ = world_station(tmp_path, world)
    t2 = config.memory.t2_star
    ramsey = run(tmp_path / "ramsey", Ramsey(RamseyConfig(
        0.04 * t2, 2.4 * t2, steps=31, seconds_per_point=0.3, detuning_hz=2.5 / t2)), station)
    within(ramsey.fit, "t2_star", t2)
    n_1e = config.memory.n_1_over_e
    assert math.isfinite(n_1e)
    memory = run(tmp_path / "memory", MemoryRobustness(MemoryConfig(
        1, round(4 * n_1e), steps=9, seconds_per_point=6.0)), station)
    within(memory.fit, "n_1_over_e", n_1e)
