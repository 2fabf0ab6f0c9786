"""Day one in a lab, rehearsed on the virtual lab: ``labctl station check --contact``.

``labctl sim serve`` serves the default station; ``labctl sim lab-profile``
writes a copy of the station file with a lab-style profile (no simulator)
pointing at the served loopback addresses; ``station check --contact``
against that profile prints one line per instrument and names the one that
is missing or is not the unit its driver drives.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from labctl.contact import contact_lines, contact_station
from labctl.errors import StationError
from tests.waiting import read_json_object

REPO = Path(__file__).parents[2]


def _labctl(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labctl.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A ``labctl sim serve`` of the default station and a lab-style copy of its file."""
    folder = tmp_path_factory.mktemp("contact")
    env = {**os.environ, "LABCTL_RUNTIME_DIR": str(folder)}
    server = subprocess.Popen([sys.executable, "-m", "labctl.cli", "sim", "serve", "--json"],
                              cwd=REPO, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        announced = json.loads(read_json_object(server))
        station = folder / "station.yaml"
        written = _labctl("sim", "lab-profile", "--out", str(station), env=env)
        assert written.returncode == 0, written.stderr
        yield {"env": env, "station": station, "addresses": announced["addresses"]}
    finally:
        server.terminate()
        server.wait(timeout=10)


def _variant(served: dict[str, Any], tmp_path: Path, **addresses: str) -> Path:
    """The lab-style station file with some instruments moved to other addresses."""
    document = yaml.safe_load(served["station"].read_text())
    for name, address in addresses.items():
        document["profiles"]["loopback"]["instruments"][name]["address"] = address
    path = tmp_path / "variant.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def test_the_lab_profile_has_no_simulator_and_the_served_addresses(served):
    profile = yaml.safe_load(served["station"].read_text())["profiles"]["loopback"]
    assert "simulator" not in profile
    assert {name: entry["address"] for name, entry in profile["instruments"].items()} == \
        served["addresses"]


def test_contact_prints_one_ok_line_per_instrument(served):
    result = _labctl("station", "check", "--contact", str(served["station"]),
                     "--profile", "loopback", env=served["env"])
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    names = list(served["addresses"])
    assert [line.split()[0] for line in lines] == names
    for line in lines:
        assert line.split()[1] == "ok", line
        assert "error queue" in line or "identity" not in line
    by_name = dict(zip(names, lines, strict=True))
    assert "AWG5014C" in by_name["node_a_awg"]
    assert "SGS100A" in by_name["node_a_mw"]


def test_contact_as_json_reads_identity_and_safety_limited_ranges(served, tmp_path):
    document = yaml.safe_load(served["station"].read_text())
    document["profiles"]["loopback"]["instruments"]["node_a_mw"]["safety_limits"] = \
        {"power": [-30, 5]}
    path = tmp_path / "limited.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    result = _labctl("station", "check", "--contact", str(path), "--profile", "loopback",
                     "--json", env=served["env"])
    assert result.returncode == 0, result.stderr
    reports = {r["name"]: r for r in json.loads(result.stdout)["instruments"]}
    assert reports["node_a_mw"]["limits"]["power"][:2] == [-30.0, 5.0]
    assert reports["node_a_mw"]["identity"].startswith("Rohde&Schwarz SGS100A")
    assert reports["node_a_awg"]["errors"] == []


def test_an_instrument_that_is_not_there_is_named_missing(served, tmp_path):
    with socket.socket() as probe:   # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    path = _variant(served, tmp_path,
                    node_b_mw=f"TCPIP0::127.0.0.1::{closed}::SOCKET")
    reports = {r.name: r for r in contact_station(str(path), "loopback")}
    assert reports["node_b_mw"].state == "missing"
    assert "cannot connect" in reports["node_b_mw"].problem
    assert all(r.state == "ok" for name, r in reports.items() if name != "node_b_mw")
    line = next(line for line in contact_lines(reports.values())
                if line.startswith("node_b_mw"))
    assert "missing" in line and str(closed) in line


def test_an_instrument_of_another_model_at_the_address_is_named_wrong(served, tmp_path):
    # the SGS100A answers in its own framing (LF, not the Santec's CR): nothing readable
    path = _variant(served, tmp_path,
                    herald_reference_laser=served["addresses"]["node_a_mw"])
    reports = {r.name: r for r in contact_station(str(path), "loopback")}
    wrong = reports["herald_reference_laser"]
    assert wrong.state == "wrong"
    assert "identity reply could not be read" in wrong.problem
    assert reports["node_a_mw"].state == "ok"


def test_a_unit_that_answers_as_another_model_is_named_with_both_models(served, tmp_path):
    # QCoDeS's SGS100A driver (no I/O at connect beyond *IDN?), told to frame with the
    # Santec's CR, at the Santec's address: it reads an identity, of the wrong model
    document = yaml.safe_load(served["station"].read_text())
    entry = document["profiles"]["loopback"]["instruments"]["node_b_mw"]
    entry.update(type="qcodes.instrument_drivers.rohde_schwarz.RohdeSchwarzSGS100A",
                 adapter="drivers.rs_sgs100a.SGS100AMicrowave",
                 address=served["addresses"]["herald_reference_laser"],
                 init={"visalib": "@py", "terminator": "\r"})
    path = tmp_path / "other-model.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    reports = {r.name: r for r in contact_station(str(path), "loopback")}
    wrong = reports["node_b_mw"]
    assert wrong.state == "wrong", wrong
    assert "TSL-570" in wrong.identity
    assert "not the model" in wrong.problem and "SGS100A" in wrong.problem


def test_a_bad_station_file_fails_before_anything_is_contacted(served, tmp_path):
    document = yaml.safe_load(served["station"].read_text())
    document["profiles"]["loopback"]["instruments"]["node_a_mw"]["safety_limits"] = \
        {"no_such_parameter": [0, 1]}
    document["profiles"]["loopback"]["instruments"]["node_a_awg"]["role"] = "awg"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    with pytest.raises(StationError, match="node_a_awg"):
        contact_station(str(path), "loopback")


def test_lab_profile_without_a_served_lab_is_one_line(tmp_path):
    env = {**os.environ, "LABCTL_RUNTIME_DIR": str(tmp_path)}
    result = _labctl("sim", "lab-profile", "--out", str(tmp_path / "x.yaml"), env=env)
    assert result.returncode == 2
    assert "no virtual lab serves" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.yaml").exists()


def test_the_hardware_checks_run_and_pass_against_the_virtual_lab(served):
    env = {**served["env"], "LABCTL_HARDWARE_STATION": str(served["station"]),
           "LABCTL_HARDWARE_PROFILE": "loopback"}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "tests/hardware"], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-4000:]
    summary = result.stdout.strip().splitlines()[-1]
    assert f"{4 * len(served['addresses'])} passed" in summary, summary
    assert "skipped" not in summary and "failed" not in summary


def test_the_hardware_checks_skip_when_no_lab_is_named(served):
    env = {k: v for k, v in served["env"].items() if not k.startswith("LABCTL_HARDWARE")}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "tests/hardware"], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-2000:]
    assert "skipped" in result.stdout.strip().splitlines()[-1]
