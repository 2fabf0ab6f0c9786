"""Experiments by capability: cabling from the station file only, capabilities on the lab.

- swapping two tagger inputs in the station's wiring (the virtual lab is
  cabled from the same file, so it is recabled to match) changes no result;
- the smallest experiment (`experiments/dark_counts.py`, the one the docs
  show) measures the detectors' dark counts the world has, on the tagger's
  count-rate capability.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from experiments.dark_counts import DarkCounts, DarkCountsConfig
from experiments.entanglement import Entanglement, EntanglementConfig
from labctl.data.archive import Archive
from labctl.engine.runner import Engine
from sim_instruments.world import WorldConfig

REPO = Path(__file__).parents[2]
STATION = REPO / "stations" / "two_node.yaml"
TAGGER_WIRING = ("    wiring: {herald_plus: 1, herald_minus: 2, sync: 3,    "
                 "# what each input receives\n")


def swapped_station(tmp_path: Path) -> Path:
    """The default station with the sync and the + detector on each other's inputs."""
    text = STATION.read_text()
    assert TAGGER_WIRING in text
    path = tmp_path / "swapped.yaml"
    path.write_text(text.replace(TAGGER_WIRING, TAGGER_WIRING.replace(
        "herald_plus: 1", "herald_plus: 3").replace("sync: 3", "sync: 1")))
    return path


def run(station: Path, experiment: object, folder: Path, profile: str = "sim") -> object:
    archive = Archive(folder)
    try:
        outcome = Engine(archive, progress=False).start(experiment, station, profile)
    finally:
        archive.close()
    assert outcome.status == "completed", outcome.reason
    return outcome.result


def test_swapping_two_tagger_inputs_in_the_wiring_changes_no_result(tmp_path):
    config = EntanglementConfig(blocks=3, block_seconds=60.0)
    straight = run(STATION, Entanglement(config), tmp_path / "straight")
    swapped = run(swapped_station(tmp_path), Entanglement(config), tmp_path / "swapped")
    assert straight.heralds > 100
    assert swapped.heralds == straight.heralds
    assert swapped.fidelity == pytest.approx(straight.fidelity, abs=1e-12)
    assert swapped.correlators == pytest.approx(straight.correlators, abs=1e-12)


@pytest.mark.parametrize("profile", ["sim", "sim-qcodes", "sim-swabian"])
def test_dark_counts_match_the_worlds_detectors_on_every_profile(tmp_path, profile):
    config = DarkCountsConfig(blocks=4, block_seconds=50.0, bias_a=17e-6)
    result = run(STATION, DarkCounts(config), tmp_path / "archive", profile)
    detector = dataclasses.replace(WorldConfig().detector, bias=config.bias_a)
    expected = detector.dark_count_rate
    seconds = config.blocks * config.block_seconds
    assert expected * seconds > 100   # enough counts for the comparison to mean something
    for name, (rate, error) in result.items():
        tolerance = 4 * math.sqrt(expected * seconds) / seconds
        assert abs(rate - expected) < tolerance, (name, rate, error, expected)


def test_a_laser_that_loses_its_lock_says_so_through_its_capability():
    from labctl import station as station_module

    with station_module.load(STATION, "sim") as station:
        laser = station.laser("excitation_laser", "node_a")
        laser.set_wavelength_nm(637.22)
        laser.set_emission(True)
        assert laser.status().locked and laser.status().healthy
        lab = station.simulation.lab   # the in-process virtual lab of this station
        lab.set_fault("node_a_laser", "unlock")
        try:
            status = laser.status()
            assert status.emission and not status.locked and not status.healthy
        finally:
            lab.clear_faults("node_a_laser")
        assert laser.status().locked
        laser.safe_state()
        assert not laser.status().emission
