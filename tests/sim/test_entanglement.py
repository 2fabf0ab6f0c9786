"""The entanglement experiment measures what `labctl predict` expects, in three worlds.

Each world is the default station with a different `world:` section; the
expected link parameters are worked out by hand from the design and the
world's constants (as in test_virtual_lab_physics), passed to `predict`, and
compared with the measured herald rate and readout-corrected fidelity and
correlators within 4 standard errors.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from experiments.bringup import AttemptDesign
from experiments.entanglement import Entanglement, EntanglementConfig
from labctl.data.archive import Archive
from labctl.engine.runner import Engine
from labctl.physics.link import predict
from labctl.physics.presets import preset
from sim_instruments.world import WorldConfig
from tests.sim.test_virtual_lab_physics import expected_link

REPO = Path(__file__).parents[2]
DEFAULT = (REPO / "stations" / "two_node.yaml").read_text()
Z = 4.0

WORLDS = {
    "nv-short": ("", {}),
    "telecom-25km": ("      fibre_km: 25.0\n", {"fibre_km": 25.0}),
    "noisy": ("      preset: noisy\n      detector: {dark_count_floor: 3000.0}\n",
              {"preset": "noisy", "detector": {"dark_count_floor": 3000.0}}),
}


def station_for(tmp_path: Path, extra: str) -> Path:
    text = DEFAULT.replace("      preset: nv-short          # link physics defaults "
                           "(Humphreys et al. 2018)\n", "      preset: nv-short\n")
    for line in extra.splitlines():   # a key given again would be a duplicate: drop the old
        key = line.split(":")[0] + ":"
        text = "".join(kept for kept in text.splitlines(keepends=True)
                       if not kept.startswith(key + " "))
    text = text.replace("      seed: 20180613\n", "      seed: 20180613\n" + extra)
    path = tmp_path / "station.yaml"
    path.write_text(text)
    return path


def expected(world: dict, design: AttemptDesign | None = None) -> object:
    """The link the world should realise: the design's α and η, the world's fibre,
    detector dark counts, converter noise through the fibre, and its preset's
    visibility and phase noise."""
    config = WorldConfig.from_mapping(world)
    design = design or Entanglement(EntanglementConfig())._design()
    base = expected_link(design)
    detector = dataclasses.replace(config.detector, bias=15e-6)
    arm = 10 ** (-config.fibre_loss_db_per_km * config.fibre_km / 2 / 10)
    noise = 2 * config.converter.noise_rate(2.0) * arm / 2   # both pumps, per detector
    world_preset = preset(config.preset)
    return dataclasses.replace(
        base, fibre_km=config.fibre_km, fibre_loss_db_per_km=config.fibre_loss_db_per_km,
        visibility=world_preset.visibility, phase_noise=world_preset.phase_noise,
        dark_count_rate=detector.dark_count_rate + detector.efficiency * noise)


@pytest.mark.parametrize("world", list(WORLDS))
def test_rate_fidelity_and_correlators_match_the_prediction(tmp_path, world):
    extra, mapping = WORLDS[world]
    station = station_for(tmp_path, extra)
    archive = Archive(tmp_path / "archive")
    outcome = Engine(archive, progress=False).start(
        Entanglement(EntanglementConfig(blocks=3, block_seconds=400.0)), station, "sim")
    archive.close()
    assert outcome.status == "completed", outcome.reason
    result = outcome.result
    prediction = predict(expected(mapping))
    rate_error = math.sqrt(prediction.rate_hz * result.seconds) / result.seconds
    assert abs(result.herald_rate_hz - prediction.rate_hz) < Z * rate_error, (
        result.herald_rate_hz, prediction.rate_hz)
    assert abs(result.fidelity - prediction.fidelity) < Z * result.fidelity_err, (
        result.fidelity, prediction.fidelity, result.fidelity_err)
    for name, value in prediction.correlators.items():
        assert abs(result.correlators[name] - value) < Z * result.correlator_errors[name], (
            name, result.correlators[name], value)


#: A cavity-enhanced emitter (ZPL fraction 46 %, Humphreys 2018 SI) so Barrett–Kok,
#: whose rate goes with η², heralds often enough for a quick test.
CAVITY = {"zpl_fraction": 0.46, "collection_efficiency": 0.3}


def test_barrett_kok_rate_and_fidelity_match_the_prediction(tmp_path):
    extra = ("      emitter: {" + ", ".join(f"{k}: {v}" for k, v in CAVITY.items()) + "}\n")
    station = station_for(tmp_path, extra)
    archive = Archive(tmp_path / "archive")
    config = EntanglementConfig(protocol="barrett-kok", blocks=3, block_seconds=30.0)
    outcome = Engine(archive, progress=False).start(Entanglement(config), station, "sim")
    archive.close()
    assert outcome.status == "completed", outcome.reason
    result = outcome.result
    world = WorldConfig.from_mapping({"emitter": CAVITY})
    design = Entanglement(config)._design()
    assert design.protocol == "barrett-kok" and design.rounds == 2
    base = expected({}, design)
    gain = world.emitter.photon_efficiency / WorldConfig().emitter.photon_efficiency
    link = dataclasses.replace(base, protocol="barrett-kok", eta_a=base.eta_a * gain,
                               eta_b=base.eta_b * gain)
    prediction = predict(link)
    assert result.heralds > 300
    rate_error = math.sqrt(prediction.rate_hz * result.seconds) / result.seconds
    assert abs(result.herald_rate_hz - prediction.rate_hz) < Z * rate_error, (
        result.herald_rate_hz, prediction.rate_hz)
    assert abs(result.fidelity - prediction.fidelity) < Z * result.fidelity_err, (
        result.fidelity, prediction.fidelity, result.fidelity_err)
    # Barrett–Kok needs no phase reference: the reference laser stayed off
    assert prediction.fidelity > 0.9

