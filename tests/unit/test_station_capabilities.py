"""Roles need capabilities: checked from the station file alone, before anything is contacted.

The instruments' addresses below are unroutable (TEST-NET-1): a check that
contacted anything would hang or fail on the connection, not on the role.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from labctl import station as station_module
from labctl.errors import StationError
from labctl.instruments.roles import ROLES, adapter_class, missing_members

REPO = Path(__file__).parents[2]

STATION = """
instruments:
  awg:
    type: {awg_type}
    node: node_a
    role: awg
    address: "TCPIP0::192.0.2.1::4000::SOCKET"{extra}
profiles:
  lab: {{}}
"""


def write(tmp_path: Path, awg_type: str, extra: str = "") -> Path:
    path = tmp_path / "station.yaml"
    path.write_text(textwrap.dedent(STATION.format(awg_type=awg_type, extra=extra)))
    return path


def check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labctl.cli", "station", "check", str(path),
                           "--profile", "lab"], capture_output=True, text=True, timeout=120,
                          cwd=REPO)


def test_a_role_given_to_an_instrument_without_its_capability_fails_in_one_line(tmp_path):
    result = check(write(tmp_path, "drivers.rs_sgs100a.RohdeSchwarzSGS100A"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert "instrument 'awg'" in line and "role 'awg'" in line
    assert "PulseSequencer" in line
    assert "lacks" in line and "load_sequence" in line


def test_qcodes_driver_without_an_adapter_is_refused_and_with_one_accepted(tmp_path):
    qcodes_awg = "qcodes.instrument_drivers.tektronix.TektronixAWG5014"
    refused = check(write(tmp_path, qcodes_awg))
    assert refused.returncode == 2
    assert "name an adapter" in refused.stderr
    adapter = "\n    adapter: drivers.qcodes_awg5014.QcodesAWG5014Sequencer"
    accepted = check(write(tmp_path, qcodes_awg, adapter))
    assert accepted.returncode == 0, accepted.stderr


@pytest.mark.parametrize("extra, key, message", [
    ("\n    adapter: drivers.no_such.Adapter", "adapter", "cannot import 'drivers.no_such'"),
    ("\n    adapter: drivers.rs_sgs100a.SGS100AMicrowave", "adapter",
     "its adapter SGS100AMicrowave lacks"),
    ("\n    adapter: 42", "adapter", "not an import path"),
    ("\n    wiring: {excitation: {channel: 7, marker: 1}}", "wiring", "channel 1-4"),
    ("\n    wiring: {laser: {channel: 1, marker: 1}}", "wiring", "unknown AWG wiring"),
])
def test_bad_adapters_and_wiring_are_one_line_naming_the_key(tmp_path, extra, key, message):
    path = write(tmp_path, "drivers.tektronix_awg5014c.TektronixAWG5014C", extra)
    with pytest.raises(StationError) as caught:
        station_module.read_spec(path, "lab")
    assert caught.value.key == key and caught.value.instrument == "awg"
    assert message in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("wiring, message", [
    ("{sync: 3, herald_plus: 3}", "more than one name"),
    ("{sync: three}", "must be a port number"),
])
def test_tagger_wiring_is_checked_on_load(tmp_path, wiring, message):
    path = tmp_path / "station.yaml"
    path.write_text(textwrap.dedent(f"""
        instruments:
          tagger:
            type: drivers.idq_id1000.IDQID1000
            node: heralding
            role: time_tagger
            address: "TCPIP0::192.0.2.1::5555::SOCKET"
            wiring: {wiring}
        profiles:
          lab: {{}}
        """))
    with pytest.raises(StationError, match=message) as caught:
        station_module.read_spec(path, "lab")
    assert caught.value.key == "wiring"


def test_every_role_of_the_default_station_is_provided_in_every_profile():
    for profile in station_module.read_spec(REPO / "stations" / "two_node.yaml").profiles:
        spec = station_module.read_spec(REPO / "stations" / "two_node.yaml", profile)
        for instrument in spec.instruments:
            role = ROLES[instrument.role or ""]
            provider = adapter_class(instrument.driver, instrument.adapter)
            assert missing_members(provider, role.capability) == (), (profile, instrument.name)
