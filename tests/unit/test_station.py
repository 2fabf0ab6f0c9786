"""Station files: loading a profile, roles, safety limits, and one-line errors for mistakes."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from qcodes.instrument import Instrument

from labctl import station as station_module
from labctl.errors import LabctlError, StationError

LASER = "drivers.santec_tsl570.SantecTSL570"
TWIN = "sim_instruments.visa:santec_tsl570.yaml"

GOOD = f"""
description: two lasers
instruments:
  laser_a:
    type: {LASER}
    node: node_a
    role: excitation_laser
  laser_b:
    type: {LASER}
    node: node_b
    role: excitation_laser
profiles:
  sim:
    instruments:
      laser_a:
        address: GPIB::1::INSTR
        init: {{pyvisa_sim_file: "{TWIN}"}}
      laser_b:
        address: GPIB::2::INSTR
        init: {{pyvisa_sim_file: "{TWIN}"}}
        safety_limits:
          power: [0, 0.005]
  lab:
    instruments:
      laser_a: {{address: "TCPIP0::10.0.0.11::5000::SOCKET"}}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "station.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_loads_profile_and_finds_instruments_by_role(tmp_path):
    with station_module.load(write(tmp_path, GOOD), "sim") as station:
        assert station.profile == "sim"
        laser = station.instrument("excitation_laser", node="node_b")
        assert laser.name == "laser_b"
        assert laser.IDN()["model"] == "TSL-570"
        assert set(station.components) == {"laser_a", "laser_b"}


def test_unknown_role_names_the_known_ones(tmp_path):
    with (station_module.load(write(tmp_path, GOOD), "sim") as station,
          pytest.raises(LabctlError, match="node_a/excitation_laser")):
        station.instrument("time_tagger")


def test_safety_limit_narrows_but_never_widens(tmp_path):
    with station_module.load(write(tmp_path, GOOD), "sim") as station:
        limited = station.components["laser_b"]
        limited.power(0.004)
        with pytest.raises(ValueError):
            limited.power(0.006)
        free = station.components["laser_a"]
        free.power(0.006)  # only laser_b carries the limit
        with pytest.raises(ValueError):
            free.power(0.5)  # above the instrument's own maximum


def test_instruments_are_closed_when_the_station_closes(tmp_path):
    station = station_module.load(write(tmp_path, GOOD), "sim")
    assert Instrument.exist("laser_a")
    station.close()
    assert not station.components
    assert not Instrument.exist("laser_a")


def test_safe_state_all_reaches_every_hazardous_instrument(tmp_path):
    with station_module.load(write(tmp_path, GOOD), "sim") as station:
        for name in ("laser_a", "laser_b"):
            station.components[name].output(True)
        station.safe_state_all()
        assert [station.components[n].output() for n in ("laser_a", "laser_b")] == [False, False]


def test_spec_keeps_labctl_keys_out_of_the_qcodes_config(tmp_path):
    spec = station_module.read_spec(write(tmp_path, GOOD), "sim")
    qcodes_yaml = spec.qcodes_yaml()
    for key in ("node:", "role:", "safety_limits"):
        assert key not in qcodes_yaml
    assert "GPIB::2::INSTR" in qcodes_yaml


# --- mistakes: each gives one line naming the file, the instrument and the key ---

def replace(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new, 1)


MISTAKES = {
    "unknown profile": (GOOD, "cryo", None, "profiles", "unknown profile 'cryo'"),
    "unknown instrument type": (
        replace(LASER, "drivers.santec_tsl570.SantecTSL999"), "sim", "laser_a", "type",
        "has no 'SantecTSL999'"),
    "unimportable driver module": (
        replace(LASER, "drivers.no_such_module.Laser"), "sim", "laser_a", "type",
        "cannot import"),
    "type that is not an instrument": (
        replace(LASER, "labctl.station.load"), "sim", "laser_a", "type",
        "not a QCoDeS instrument class"),
    "missing type": (
        replace(f"    type: {LASER}\n    node: node_a", "    node: node_a"), "sim", "laser_a",
        "type", "missing the driver class"),
    "missing address": (GOOD, "lab", "laser_b", "address", "no address for this profile"),
    "address of the wrong type": (
        replace("address: GPIB::1::INSTR", "address: 17"), "sim", "laser_a", "address",
        "VISA resource string"),
    "limit of the wrong type": (
        replace("power: [0, 0.005]", "power: [0, high]"), "sim", "laser_b",
        "safety_limits.power", "'high' is not a number"),
    "limit that is not a pair": (
        replace("power: [0, 0.005]", "power: 0.005"), "sim", "laser_b",
        "safety_limits.power", "[min, max]"),
    "limit with min above max": (
        replace("power: [0, 0.005]", "power: [0.01, 0.005]"), "sim", "laser_b",
        "safety_limits.power", "above maximum"),
    "limit on an unknown parameter": (
        replace("power: [0, 0.005]", "powr: [0, 0.005]"), "sim", "laser_b",
        "safety_limits.powr", "did you mean 'power'"),
    "limit on a non-numeric parameter": (
        replace("power: [0, 0.005]", "output: [0, 1]"), "sim", "laser_b",
        "safety_limits.output", "not numeric"),
    "limit outside the instrument's range": (
        replace("power: [0, 0.005]", "power: [1, 2]"), "sim", "laser_b",
        "safety_limits.power", "leave no value"),
    "misspelt instrument key": (
        replace("    role: excitation_laser\n  laser_b", "    rol: excitation_laser\n  laser_b"),
        "sim", "laser_a", "rol", "did you mean 'role'"),
    "profile names an undefined instrument": (
        replace("      laser_a: {address", "      laser_c: {address"), "lab", "laser_c",
        "profiles.lab.instruments", "does not define"),
    "duplicate role": (
        replace("node: node_b", "node: node_a"), "sim", "laser_b", "role",
        "already played by 'laser_a'"),
    "unreachable address": (
        replace(f'address: GPIB::1::INSTR\n        init: {{pyvisa_sim_file: "{TWIN}"}}',
                'address: TCPIP0::127.0.0.1::9::SOCKET\n        init: {visalib: "@py"}'),
        "sim", "laser_a", "address", "cannot connect"),
}


@pytest.mark.parametrize("text, profile, instrument, key, message", MISTAKES.values(),
                         ids=list(MISTAKES))
def test_mistake_is_reported_in_one_line(tmp_path, text, profile, instrument, key, message):
    path = write(tmp_path, text)
    with pytest.raises(StationError) as caught:
        station_module.load(path, profile)
    error = caught.value
    line = str(error)
    assert "\n" not in line
    assert line.startswith(str(path))
    assert message in line
    assert error.instrument == instrument
    assert error.key == key
    if instrument is not None:
        assert f"instrument '{instrument}'" in line
    assert f"key '{key}'" in line


@pytest.mark.parametrize("text, message", [
    ("instruments: [\n", "not valid YAML at line"),
    ("- a\n- b\n", "must be a mapping"),
    ("profiles: {sim: {}}\n", "defines no instruments"),
    (GOOD + "extras: 1\n", "unknown key"),
])
def test_malformed_file_is_reported_in_one_line(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(StationError, match=message) as caught:
        station_module.load(path, "sim")
    assert "\n" not in str(caught.value)


def test_missing_file_is_reported(tmp_path):
    with pytest.raises(StationError, match="station file not found"):
        station_module.load(tmp_path / "nope.yaml")


def test_a_failed_load_leaves_no_instrument_open(tmp_path):
    bad = replace(f'address: GPIB::2::INSTR\n        init: {{pyvisa_sim_file: "{TWIN}"}}',
                  'address: TCPIP0::127.0.0.1::9::SOCKET\n        init: {visalib: "@py"}')
    with pytest.raises(StationError):
        station_module.load(write(tmp_path, bad), "sim")
    # laser_a was connected before laser_b failed; its name must be free again
    with station_module.load(write(tmp_path, GOOD), "sim") as station:
        assert "laser_a" in station.components
