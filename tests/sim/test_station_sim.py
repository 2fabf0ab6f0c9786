"""Simulated profiles: the station reaches the virtual lab, and mistakes are one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from labctl import station as station_module
from labctl.errors import LabctlError, StationError
from labctl.simulation import find_simulator

REPO = Path(__file__).parents[2]
DEFAULT = (REPO / "stations" / "two_node.yaml").read_text()


def variant(tmp_path: Path, old: str, new: str) -> Path:
    assert old in DEFAULT, old
    path = tmp_path / "station.yaml"
    path.write_text(DEFAULT.replace(old, new, 1))
    return path


def test_sim_profile_instruments_are_served_over_loopback_tcp():
    with station_module.load() as station:
        servers = station.simulation.lab.servers
        assert set(servers) == {i.name for i in station.loaded_instruments()}
        for spec in station.spec.instruments:   # each on its own port, its unit's transport
            address = str(spec.qcodes_config["address"])
            assert "127.0.0.1" in address and str(servers[spec.name].port) in address, \
                (spec.name, address)
        laser = station.instrument("excitation_laser", "node_b")
        laser.power(0.004)
        world = station.simulation.lab.world
        assert world.state.nodes["node_b"].laser.power_w == pytest.approx(0.004)
        before = station.clock.now()
        station.clock.sleep(3.0)
        assert station.clock.now() == pytest.approx(before + 3.0)


def test_closing_a_station_stops_its_lab_and_the_next_load_starts_a_fresh_one():
    with station_module.load() as first:
        first.instrument("excitation_laser", "node_a").power(0.007)
        lab = first.simulation.lab
    assert not lab.servers  # stopped with the station
    with station_module.load() as second:
        assert second.instrument("excitation_laser", "node_a").power() == pytest.approx(0.0)


@pytest.mark.parametrize("old, new, instrument, key, message", [
    ("      preset: nv-short", "      preset: nv-shrot", None, "world", "unknown world"),
    ("      seed: 20180613", "      seed: 20180613\n      colour: blue", None, "world",
     "unknown world key(s): colour"),
    ("      excitation: {channel: 1, marker: 1}", "      excitation: {channel: 9, marker: 1}",
     "node_a_awg", "wiring", "channel 1-4"),
    ("      mw_q: 2                                     # Q",
     "      mw_qq: 2", "node_a_awg", "wiring", "unknown AWG wiring 'mw_qq'"),
])
def test_simulated_world_mistakes_are_one_line(tmp_path, old, new, instrument, key, message):
    path = variant(tmp_path, old, new)
    with pytest.raises(LabctlError) as caught:
        station_module.load(path, "sim")
    text = str(caught.value)
    assert "\n" not in text and str(path) in text and message in text
    assert f"key '{key}'" in text
    if instrument:
        assert f"instrument '{instrument}'" in text


def test_unknown_simulator_names_the_installed_ones(tmp_path):
    path = variant(tmp_path, "    simulator: virtual_lab", "    simulator: holodeck")
    with pytest.raises(LabctlError, match=r"no simulator named 'holodeck'.*virtual_lab"):
        station_module.load(path, "sim")


def test_a_driver_the_virtual_lab_cannot_emulate_is_refused(tmp_path):
    path = variant(tmp_path, "    type: drivers.santec_tsl570.SantecTSL570",
                   "    type: qcodes.instrument_drivers.Keithley.Keithley2450\n"
                   "    adapter: drivers.santec_tsl570.TSL570Laser")
    with pytest.raises(StationError, match="no emulator for") as caught:
        station_module.load(path, "sim")
    assert caught.value.instrument == "herald_reference_laser"


def test_the_virtual_lab_is_registered_as_an_entry_point():
    assert hasattr(find_simulator("virtual_lab"), "attach")


def test_sim_serve_needs_a_profile_with_a_simulator():
    result = subprocess.run([sys.executable, "-m", "labctl.cli", "sim", "serve",
                             "--profile", "lab"], cwd=REPO, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "names no simulator" in result.stderr


def test_sim_serve_refuses_a_bad_fault():
    result = subprocess.run([sys.executable, "-m", "labctl.cli", "sim", "serve",
                             "--fault", "node_a_laser:explode"], cwd=REPO, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "unknown fault 'explode'" in result.stderr
