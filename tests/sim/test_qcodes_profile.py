"""The ``sim-qcodes`` profile: QCoDeS's own AWG5014 and SGS100A drivers run the default station.

The profile is the virtual lab and world of ``sim`` with the AWGs and the
microwave sources driven by QCoDeS's drivers through labctl's adapters; every
experiment runs unchanged, and the emulators decode what QCoDeS's driver
uploads exactly as what labctl's own driver uploads.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pyvisa
from qcodes.instrument_drivers.rohde_schwarz import RohdeSchwarzSGS100A
from qcodes.instrument_drivers.tektronix import TektronixAWG5014

from drivers.qcodes_awg5014 import QcodesAWG5014Sequencer
from drivers.rs_sgs100a import SGS100AMicrowave
from labctl import station as station_module
from labctl.cli import main
from labctl.data.archive import Archive
from labctl.pulses.program import Marker, Program, Rotation, Segment
from sim_instruments.emulators.tektronix_awg5014c import encode_words
from sim_instruments.virtual_lab import EMULATORS

STATION = Path(__file__).parents[2] / "stations" / "two_node.yaml"
QCODES_AWG = "qcodes.instrument_drivers.tektronix.AWG5014.TektronixAWG5014"
QCODES_MW = "qcodes.instrument_drivers.rohde_schwarz.SGS100A.RohdeSchwarzSGS100A"
NODES = ("node_a", "node_b")


@pytest.fixture(autouse=True)
def private_runtime(tmp_path, monkeypatch):
    """No virtual lab served elsewhere is joined: each test starts its own."""
    monkeypatch.setenv("LABCTL_RUNTIME_DIR", str(tmp_path / "runtime"))


def program(node: str) -> Program:
    """An attempt until an event, then a readout the dynamic-jump pattern selects."""
    phase = 0.4 if node == "node_a" else 1.9
    return Program(
        segments=(
            Segment("attempt", 5.5e-6,
                    markers=(Marker("excitation", 1e-6, 2e-9),
                             Marker("detection_window", 1.02e-6, 25e-9)),
                    rotations=(Rotation(100e-9, 41e-9, 0.7713, phase),)),
            Segment("setting0", 3e-6, markers=(Marker("readout", 1e-6, 1e-6),),
                    rotations=(Rotation(20e-9, 25e-9, 1.0, math.pi / 2 + phase),)),
            Segment("setting1", 3e-6, markers=(Marker("readout", 1e-6, 1e-6),))),
        sequence=(("attempt", None, 2, None), ("setting0", 1, None, 1),
                  ("setting1", 1, None, 1)),
        dynamic_jumps=((0, 2), (1, 3)))


def test_the_profile_names_the_virtual_labs_emulators_exactly():
    qcodes = station_module.simulated_station(station_module.read_spec(STATION, "sim-qcodes"))
    sim = station_module.simulated_station(station_module.read_spec(STATION, "sim"))
    drivers = {i.name: i.driver for i in qcodes.instruments}
    assert {drivers[f"{node}_awg"] for node in NODES} == {QCODES_AWG}
    assert {drivers[f"{node}_mw"] for node in NODES} == {QCODES_MW}
    assert all(driver in EMULATORS for driver in drivers.values())
    others = {i.name: i.driver for i in sim.instruments if not i.name.endswith(("_awg", "_mw"))}
    assert others.items() <= drivers.items()
    assert qcodes.world == sim.world


def test_qcodes_drivers_load_and_snapshot_on_the_virtual_lab():
    with station_module.load(STATION, "sim-qcodes") as station:
        lab = station.simulation.lab
        for node in NODES:
            awg = station.instrument("awg", node)
            mw = station.instrument("mw_source", node)
            assert type(awg) is TektronixAWG5014 and type(mw) is RohdeSchwarzSGS100A
            assert isinstance(station.sequencer(node).device, QcodesAWG5014Sequencer)
            assert isinstance(station.microwave(node), SGS100AMicrowave)
            awg.snapshot(update=True)
            mw.snapshot(update=True)
            for instrument in (awg, mw):
                assert list(lab.servers[instrument.name].emulator.errors) == [], instrument.name


def loaded(profile: str) -> dict[str, Any]:
    """Each node's decoded sequence and uploaded words after playing `program` on ``profile``."""
    found: dict[str, Any] = {}
    with station_module.load(STATION, profile) as station:
        world = station.simulation.lab.world
        for node in NODES:
            station.sequencer(node).play(program(node))
            awg = world.state.nodes[node].awg
            found[node] = {
                "decoded": world.sequence(node),
                "words": {name: encode_words(w) for name, w in awg.waveforms.items()},
                "table": [dataclass_tuple(e) for e in awg.sequence],
                "amplitudes": [c.amplitude_vpp for c in awg.channels],
                "outputs": [c.output for c in awg.channels],
            }
    return found


def dataclass_tuple(element: Any) -> tuple[Any, ...]:
    return (tuple(element.waveforms), element.loop_count, element.infinite,
            element.wait_for_trigger, element.jump_target, element.goto_enabled,
            element.goto_index)


def test_qcodes_driver_loads_what_labctls_own_driver_loads():
    own, qcodes = loaded("sim"), loaded("sim-qcodes")
    for node in NODES:
        mine, theirs = own[node], qcodes[node]
        assert theirs["decoded"].running and theirs["decoded"].dynamic_jumps == {0: 2, 1: 3}
        assert theirs["decoded"] == mine["decoded"]    # markers, timings, jumps, loops
        drives = [(a, b) for ours, other in zip(mine["decoded"].elements,
                                                theirs["decoded"].elements, strict=True)
                  for a, b in zip(ours.drives, other.drives, strict=True)]
        assert len(drives) == 2                        # the attempt's and setting0's pulse
        for a, b in drives:
            assert np.array_equal(a.i, b.i) and np.array_equal(a.q, b.q)   # rotations
        assert theirs["words"].keys() == mine["words"].keys()
        for name, words in mine["words"].items():
            assert np.array_equal(theirs["words"][name], words), (node, name)
        assert theirs["table"] == mine["table"]
        assert theirs["amplitudes"] == mine["amplitudes"]
        assert theirs["outputs"] == mine["outputs"]


def read_fresh(resource: str, queries: list[str]) -> list[str]:
    """Ask a unit through a new connection of its own (not the driver's cached values)."""
    manager = pyvisa.ResourceManager("@py")
    try:
        unit = manager.open_resource(resource, read_termination="\n",
                                     write_termination="\n", timeout=5000)
        return [unit.query(query).strip() for query in queries]
    finally:
        manager.close()


def test_safe_state_turns_outputs_off_and_stops_read_back_fresh():
    with station_module.load(STATION, "sim-qcodes") as station:
        lab = station.simulation.lab
        for node in NODES:
            station.sequencer(node).play(program(node))
            station.microwave(node).set_output(True)
            assert lab.world.state.nodes[node].awg.running
        station.safe_state_all()
        for node in NODES:
            awg = lab.servers[f"{node}_awg"].resource
            assert read_fresh(awg, [f"OUTPut{n}:STATe?" for n in range(1, 5)]
                              + ["AWGControl:RSTate?"]) == ["0"] * 5
            assert read_fresh(lab.servers[f"{node}_mw"].resource, ["OUTP:STAT?"]) == ["0"]


def herald_rate(capsys, data_dir: Path, profile: str) -> dict[str, Any]:
    code = main(["run", "herald_rate", "--profile", profile, "--set", "blocks=2",
                 "--set", "block_seconds=5", "--data-dir", str(data_dir), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    result: dict[str, Any] = json.loads(captured.out)
    assert result["status"] == "completed" and result["blocks"] == 2
    return result


def test_herald_rate_agrees_with_the_sim_profile(capsys, tmp_path):
    sim = herald_rate(capsys, tmp_path / "sim", "sim")
    qcodes = herald_rate(capsys, tmp_path / "qcodes", "sim-qcodes")
    snapshot = Archive(tmp_path / "qcodes").station_snapshot(qcodes["run_id"])["instruments"]
    assert snapshot["node_a_awg"]["__class__"] == QCODES_AWG
    assert snapshot["node_b_mw"]["__class__"] == QCODES_MW
    for result in (sim, qcodes):
        # ~20 Hz over 10 s: a program that lost its markers or rotations heralds far fewer
        assert result["heralds"] >= 100, result
    sigma = math.hypot(sim["herald_rate_err_hz"], qcodes["herald_rate_err_hz"])
    assert abs(qcodes["herald_rate_hz"] - sim["herald_rate_hz"]) <= 4 * sigma, (sim, qcodes)
