"""No silent sharing: a command uses a virtual lab another process serves only when asked.

``labctl sim serve`` announces its lab in the (private) runtime folder. Without
``--join`` (or ``join: true`` in the profile) a command starts its own lab
even then; with it, the command uses the served one and says on stderr — one
line — which: the serving pid, the station file and the profile.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labctl import station as station_module
from labctl.errors import LabctlError
from labctl.simulation import joining
from tests.waiting import read_json_object

REPO = Path(__file__).parents[2]
STATION = REPO / "stations" / "two_node.yaml"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """``labctl sim serve`` of the default station, announced in its own runtime folder."""
    runtime = tmp_path_factory.mktemp("runtime")
    env = {**os.environ, "LABCTL_RUNTIME_DIR": str(runtime)}
    server = subprocess.Popen([sys.executable, "-m", "labctl.cli", "sim", "serve", "--json"],
                              cwd=REPO, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        announced = json.loads(read_json_object(server))
        yield {"env": env, "runtime": runtime, "pid": server.pid,
               "addresses": announced["addresses"], "control_port": announced["control_port"]}
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def in_its_runtime(served: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("LABCTL_RUNTIME_DIR", str(served["runtime"]))
    return served


def _addresses(station: station_module.LabStation) -> dict[str, str]:
    return {s.name: str(s.qcodes_config["address"]) for s in station.spec.instruments}


def _show(served: dict[str, Any], *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "labctl.cli", "station", "show", "--json",
                           *options], cwd=REPO, env=served["env"], capture_output=True,
                          text=True, timeout=300, check=False)


def test_a_station_starts_its_own_lab_although_one_is_served(in_its_runtime, caplog):
    with caplog.at_level(logging.INFO), station_module.load() as station:
        assert station.simulation is not None and hasattr(station.simulation, "lab")
        own = _addresses(station)
    assert set(own) == set(in_its_runtime["addresses"])
    assert not set(own.values()) & set(in_its_runtime["addresses"].values())
    assert "joined" not in caplog.text


def test_asked_to_join_it_uses_the_served_lab_and_says_which(in_its_runtime, caplog):
    with caplog.at_level(logging.WARNING, logger="labctl.simulation"), joining(), \
            station_module.load() as station:
        assert _addresses(station) == in_its_runtime["addresses"]
        station.instrument("excitation_laser", "node_a").power(0.003)
    joined = [r.getMessage() for r in caplog.records if "joined" in r.getMessage()]
    assert len(joined) == 1, joined
    assert joined[0].startswith(f"joined the virtual lab of pid {in_its_runtime['pid']} "
                                f"serving {STATION.resolve()} profile 'sim' (control port ")
    with joining(), station_module.load() as again:   # the served world kept the setting
        assert again.instrument("excitation_laser", "node_a").power() == pytest.approx(0.003)
        again.instrument("excitation_laser", "node_a").power(0.0)


def test_the_command_line_joins_only_with_join(served):
    alone = _show(served)
    assert alone.returncode == 0, alone.stderr
    assert "joined" not in alone.stderr
    addresses = {i["name"]: i["address"] for i in json.loads(alone.stdout)["instruments"]}
    assert not set(addresses.values()) & set(served["addresses"].values())

    joined = _show(served, "--join")
    assert joined.returncode == 0, joined.stderr
    addresses = {i["name"]: i["address"] for i in json.loads(joined.stdout)["instruments"]}
    assert addresses == served["addresses"]
    lines = [line for line in joined.stderr.splitlines() if "joined" in line]
    assert len(lines) == 1, joined.stderr
    assert f"joined the virtual lab of pid {served['pid']} serving {STATION.resolve()} " \
           "profile 'sim'" in lines[0]


def test_join_true_in_the_profile_joins_and_needs_a_served_lab(tmp_path):
    path = tmp_path / "station.yaml"
    path.write_text(STATION.read_text().replace(
        "    simulator: virtual_lab\n", "    simulator: virtual_lab\n    join: true\n", 1))
    spec = station_module.read_spec(path)
    assert spec.join and station_module.simulated_station(spec).join
    assert not station_module.simulated_station(station_module.read_spec(STATION)).join
    with pytest.raises(LabctlError, match=f"no virtual lab serves {path} profile 'sim'"):
        station_module.load(path)   # nothing serves this file: never a lab of its own


def test_resume_join_continues_an_interrupted_run_on_the_served_lab(in_its_runtime, tmp_path,
                                                                    capsys, caplog):
    from experiments.herald_rate import HeraldRate, HeraldRateConfig
    from labctl.cli import main
    from labctl.data.archive import Archive
    from labctl.engine.runner import Engine
    from labctl.simulation import ControlClient

    def interrupt(index: int) -> None:
        if index == 0:
            raise KeyboardInterrupt

    archive = Archive(tmp_path)
    experiment = HeraldRate(HeraldRateConfig(blocks=3, block_seconds=1.0))
    with joining():
        first = Engine(archive, progress=False, on_block=interrupt).start(
            experiment, STATION, "sim")
    archive.close()
    assert first.status == "interrupted" and first.blocks == 1
    served_clock = ControlClient(in_its_runtime["control_port"])
    before = served_clock.now()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="labctl.simulation"):
        code = main(["resume", str(first.run_id), "--join", "--json", "--data-dir",
                     str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert json.loads(out)["status"] == "completed"
    assert [r for r in caplog.records if "joined the virtual lab of pid "
            f"{in_its_runtime['pid']}" in r.getMessage()]
    assert served_clock.now() >= before + 2.0   # the two blocks passed on the served clock


def test_resume_join_with_nothing_served_is_refused_in_one_line(tmp_path, monkeypatch, capsys):
    from experiments.herald_rate import HeraldRate, HeraldRateConfig
    from labctl.cli import main
    from labctl.data.archive import Archive
    from labctl.engine.runner import Engine

    monkeypatch.setenv("LABCTL_RUNTIME_DIR", str(tmp_path / "runtime"))
    archive = Archive(tmp_path / "data")

    def interrupt(index: int) -> None:
        raise KeyboardInterrupt

    run = Engine(archive, progress=False, on_block=interrupt).start(
        HeraldRate(HeraldRateConfig(blocks=2, block_seconds=1.0)), STATION, "sim")
    archive.close()
    code = main(["resume", str(run.run_id), "--join", "--data-dir", str(tmp_path / "data")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err, err
    assert "--join" in err and "no virtual lab serves" in err, err
    assert Archive(tmp_path / "data", read_only=True).info(run.run_id).blocks == 1
