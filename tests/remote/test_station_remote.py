"""The ``remote:`` key of station files, and the shipped files of stations/remote/.

Checked on load like every other key: a bad value is one `StationError`
naming the file, the instrument and the key, before anything is contacted.
"""

from __future__ import annotations

import re
import textwrap

import pytest
import yaml

from labctl import station as station_module
from labctl.errors import StationError
from labctl.remote.keys import generate
from labctl.remote.proxy import RemoteInstrument
from tests.remote.conftest import REPO, STATIONS


def write(tmp_path, entry: str, profile: str = "{}") -> str:
    path = tmp_path / "station.yaml"
    path.write_text(textwrap.dedent(f"""\
        instruments:
          laser:
            {entry}
        profiles:
          sim: {profile}
        """))
    return str(path)


@pytest.mark.parametrize("entry, key, message", [
    ("remote: 5551", "remote", "must be tcp://HOST:PORT"),
    ("remote: http://127.0.0.1:5551", "remote.address", "not an address of the form"),
    ("remote: tcp://127.0.0.1:*", "remote.address", "needs a port number"),
    ("remote: tcp://127.0.0.1:0", "remote.address", "not within 1..65535"),
    ("remote: tcp://bad_host!:5551", "remote.address", "not an address"),
    ("remote: tcp://10.0.1.10:5551", "remote.keys", "is not on this PC: give CURVE keys"),
    ("remote: {address: 'tcp://10.0.1.10:5551', keys: nowhere}", "remote.keys",
     "lacks server.key, client.key_secret"),
    ("remote: {address: 'tcp://127.0.0.1:5551', key: k}", "remote.key", "unknown key"),
    ("remote: {keys: k}", "remote.address", "missing 'address'"),
    ("{remote: 'tcp://127.0.0.1:5551', address: 'GPIB::1::INSTR'}", "address",
     "configured in its node's station file"),
    ("{remote: 'tcp://127.0.0.1:5551', safety_limits: {power: [0, 1]}}", "safety_limits",
     "configured in its node's station file"),
    ("{remote: 'tcp://127.0.0.1:5551', role: [1]}", "role", "must be a name"),
    ("{remote: 'tcp://127.0.0.1:5551', type: drivers.nope.Laser}", "type",
     "unknown instrument type"),
    ("{remote: 'tcp://127.0.0.1:5551', remotes: x}", "remotes", "did you mean 'remote'"),
])
def test_bad_remote_entries_are_one_line_naming_file_instrument_and_key(tmp_path, entry, key,
                                                                        message):
    path = write(tmp_path, entry)
    with pytest.raises(StationError) as caught:
        station_module.read_spec(path, "sim")
    error = caught.value
    assert (error.path, error.instrument, error.key) == (path, "laser", key)
    assert message in str(error) and "\n" not in str(error)


def test_a_profile_gives_each_lab_its_own_address_and_keys(tmp_path):
    generate(tmp_path / "keys")
    path = write(tmp_path, "{remote: 'tcp://127.0.0.1:5551', node: node_a, role: laser}",
                 "{instruments: {laser: {remote: {address: 'tcp://10.0.1.10:5551', "
                 "keys: keys}}}}")
    [spec] = station_module.read_spec(path, "sim").instruments
    assert spec.remote.address == "tcp://10.0.1.10:5551"
    assert spec.remote.keys == tmp_path / "keys"
    assert spec.driver is RemoteInstrument and (spec.node, spec.role) == ("node_a", "laser")
    assert "laser" not in station_module.read_spec(path, "sim").qcodes_yaml()


def test_an_unreachable_node_is_a_station_error_naming_the_instrument(tmp_path):
    path = write(tmp_path, "remote: tcp://127.0.0.1:9")
    message = re.escape("no labctl node answers at tcp://127.0.0.1:9")
    with pytest.raises(StationError, match=message) as caught:
        station_module.load(path, "sim")
    assert (caught.value.instrument, caught.value.key) == ("laser", "remote")


def load_yaml(name: str) -> dict:
    return yaml.safe_load((REPO / "stations" / name).read_text())


def test_the_shipped_remote_stations_check_and_split_the_two_node_station():
    two_node = load_yaml("two_node.yaml")["instruments"]
    orchestrator = load_yaml("remote/orchestrator.yaml")["instruments"]
    served = {}
    for node in ("node_a", "node_b", "heralding"):
        spec = station_module.read_spec(STATIONS / f"{node}.yaml", "sim")
        assert spec.simulator == "virtual_lab"
        served.update(load_yaml(f"remote/{node}.yaml")["instruments"])
    assert list(orchestrator) == list(two_node)        # same names, same (snapshot) order
    assert set(served) == set(two_node)
    for name, entry in two_node.items():
        assert served[name]["type"] == entry["type"]
        assert served[name].get("wiring") == entry.get("wiring"), name
        assert served[name].get("init") == entry.get("init"), name
        assert orchestrator[name].get("wiring") == entry.get("wiring"), name
        assert (orchestrator[name]["node"], orchestrator[name]["role"]) == (
            entry["node"], entry["role"])
    spec = station_module.read_spec(STATIONS / "orchestrator.yaml", "sim")
    assert all(s.remote is not None and s.remote.keys is None for s in spec.instruments)
