"""The `labctl` command as a user runs it: a real process, its output and its exit status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
DEFAULT_STATION = REPO / "stations" / "two_node.yaml"


def labctl(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labctl.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False)


def test_help_lists_the_commands():
    result = labctl("--help")
    assert result.returncode == 0
    assert "station" in result.stdout


def test_station_show_defaults_to_the_sim_profile_of_the_two_node_station():
    result = labctl("station", "show", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["profile"] == "sim"
    assert Path(summary["station"]) == Path("stations/two_node.yaml")
    nodes = {instrument["node"] for instrument in summary["instruments"]}
    assert {"node_a", "node_b", "heralding"} <= nodes
    for instrument in summary["instruments"]:
        assert instrument["idn"]["model"], instrument["name"]
        assert instrument["parameters"], instrument["name"]
        # channels reachable both as submodules and through a ChannelList appear once
        assert not any(name.startswith(instrument["name"]) for name in instrument["parameters"])
    awg = next(i for i in summary["instruments"] if i["name"] == "node_a_awg")
    assert "ch1.amplitude" in awg["parameters"]


def test_station_show_human_output_names_every_instrument():
    result = labctl("station", "show")
    assert result.returncode == 0, result.stderr
    summary = json.loads(labctl("station", "show", "--json").stdout)
    for instrument in summary["instruments"]:
        assert instrument["name"] in result.stdout


def test_station_check_contacts_nothing_and_accepts_every_profile_of_the_default_station():
    for profile in ("sim", "lab"):
        result = labctl("station", "check", "--profile", profile, "--json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["ok"] is True


@pytest.mark.parametrize("args, message", [
    (("station", "show", "no/such/station.yaml"), "station file not found"),
    (("station", "show", "--profile", "cryo"), "unknown profile 'cryo'"),
    (("station", "check", "--profile", "cryo"), "unknown profile 'cryo'"),
])
def test_bad_input_is_one_line_and_exit_status_2(args, message):
    result = labctl(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]


def test_unknown_command_exits_2():
    assert labctl("teleport").returncode == 2
