"""The engine on the virtual lab: runs, Ctrl-C, failures, retries, safe state, bad input.

A virtual lab served by `labctl sim serve` in another process outlives every
run, so after each run the test can look at the instruments and check that
they were left in their safe state.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from experiments.herald_rate import HeraldRate, HeraldRateConfig
from labctl import station as station_module
from labctl.data.archive import Archive
from labctl.engine.experiment import Block, Experiment, RunContext
from labctl.engine.runner import Engine
from labctl.simulation import ControlClient, joining
from tests.waiting import wait_for_blocks

REPO = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A virtual lab in its own process, announced in its own runtime directory."""
    runtime = tmp_path_factory.mktemp("runtime")
    env = {**os.environ, "LABCTL_RUNTIME_DIR": str(runtime)}
    process = subprocess.Popen([sys.executable, "-m", "labctl.cli", "sim", "serve", "--json"],
                               cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    lines = []
    while not (line := process.stdout.readline()).startswith("}"):
        assert line, "sim serve ended"
        lines.append(line)
    announced = json.loads("".join(lines) + "}")
    yield {"env": env, "runtime": runtime,
           "control": ControlClient(announced["control_port"])}
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def served(server, monkeypatch):
    """The module's virtual lab; runs in this process join it (its runtime directory)."""
    monkeypatch.setenv("LABCTL_RUNTIME_DIR", str(server["runtime"]))
    with joining():
        yield server


def hazards_off() -> dict[str, bool]:
    """What the hazardous instruments report now (True: safe)."""
    with station_module.load() as station:
        report = {}
        for node in ("node_a", "node_b"):
            report[f"{node} laser off"] = station.instrument("excitation_laser", node).output() \
                is False
            report[f"{node} pump off"] = station.instrument(
                "frequency_converter", node).pump_emission() is False
            report[f"{node} microwave off"] = station.instrument("mw_source", node).status() \
                is False
            report[f"{node} awg stopped"] = station.instrument(
                "awg", node).run_state() == "stopped"
        snspd = station.instrument("snspd", "heralding")
        report["snspd bias down"] = all(ch.bias_current() == 0 for ch in snspd.channels)
        return report


@dataclass(frozen=True)
class FailingConfig:
    blocks: int = 5
    fail_at: int = 2


class FailsAtBlock(HeraldRate):
    name: ClassVar[str] = "fails_at_block"
    config_type: ClassVar[type] = FailingConfig

    def __init__(self, config: FailingConfig) -> None:
        Experiment.__init__(self, config)
        self.inner = HeraldRateConfig(block_seconds=5.0, blocks=config.blocks)

    def prepare(self, context: RunContext) -> None:
        saved, self.config = self.config, self.inner
        try:
            super().prepare(context)
        finally:
            self.config = saved

    def acquire(self, context: RunContext, index: int) -> Block:
        if index == self.config.fail_at:
            raise RuntimeError("the analysis PC ran out of patience")
        saved, self.config = self.config, self.inner
        try:
            return super().acquire(context, index)
        finally:
            self.config = saved


def test_a_completed_run_is_archived_and_leaves_the_station_safe(served, tmp_path):
    archive = Archive(tmp_path)
    outcome = Engine(archive, progress=False).start(
        HeraldRate(HeraldRateConfig(blocks=4, block_seconds=20.0)),
        station_module.DEFAULT_STATION, "sim")
    assert outcome.status == "completed" and outcome.blocks == 4
    assert 10 < outcome.result.herald_rate_hz < 40
    info = archive.info(outcome.run_id)
    assert info.status == "completed" and info.profile == "sim"
    assert info.config["blocks"] == 4 and "labctl" in info.code_version
    assert "node_a_laser" in archive.station_snapshot(outcome.run_id)["instruments"]
    data = archive.load(outcome.run_id)
    assert data.values["heralds"].sum() == outcome.result.heralds
    assert len(data.concatenated("timestamps_ps")) > 0
    assert all(hazards_off().values()), hazards_off()


def test_an_exception_fails_the_run_keeps_its_blocks_and_makes_the_station_safe(served,
                                                                              tmp_path):
    archive = Archive(tmp_path)
    outcome = Engine(archive, progress=False).start(FailsAtBlock(FailingConfig(fail_at=2)),
                                                   station_module.DEFAULT_STATION, "sim")
    assert outcome.status == "failed" and outcome.blocks == 2
    assert "RuntimeError: the analysis PC ran out of patience" in outcome.reason
    info = archive.info(outcome.run_id)
    assert info.status == "failed" and info.blocks == 2
    assert all(hazards_off().values()), hazards_off()


def test_a_dropped_instrument_is_retried_then_the_run_fails_with_its_blocks(served,
                                                                           tmp_path):
    archive = Archive(tmp_path)
    control = served["control"]
    dropped = []

    def drop_after_two(index: int) -> None:
        if index == 1:
            control.set_fault("herald_tagger", "drop")
            dropped.append(index)

    try:
        outcome = Engine(archive, retries=2, progress=False, on_block=drop_after_two).start(
            HeraldRate(HeraldRateConfig(blocks=5, block_seconds=5.0)),
            station_module.DEFAULT_STATION, "sim")
    finally:
        control.clear_faults()
    assert dropped == [1]
    assert outcome.status == "failed" and outcome.blocks == 2
    assert "gave up after 2 retries" in outcome.reason
    assert archive.info(outcome.run_id).blocks == 2
    assert all(hazards_off().values()), hazards_off()


def test_a_passing_glitch_is_retried_and_the_run_completes(served, tmp_path):
    archive = Archive(tmp_path)
    control = served["control"]

    def glitch(index: int) -> None:
        if index == 0:   # replies slower than the 5 s timeout, for about two seconds
            control.set_fault("herald_tagger", "latency", 6.0)
            threading.Timer(2.0, control.clear_faults).start()

    outcome = Engine(archive, retries=3, progress=False, on_block=glitch).start(
        HeraldRate(HeraldRateConfig(blocks=3, block_seconds=5.0)),
        station_module.DEFAULT_STATION, "sim")
    control.clear_faults()
    assert outcome.status == "completed" and outcome.blocks == 3, outcome.reason


def run_cli(*args: str, env: dict[str, str], **kwargs) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "labctl.cli", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **kwargs)


def test_first_ctrl_c_finishes_the_block_and_stops_cleanly(served, tmp_path):
    process = run_cli("run", "herald_rate", "--join", "--set", "blocks=200", "--set",
                      "block_seconds=20", "--data-dir", str(tmp_path), "--json",
                      env=served["env"])
    run_id = wait_for_blocks(tmp_path, 2)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    result = json.loads(out)
    assert result["status"] == "interrupted" and "stopped by Ctrl-C" in result["reason"]
    archive = Archive(tmp_path)
    info = archive.info(run_id)
    assert info.status == "interrupted" and info.blocks == result["blocks"] >= 2
    assert not archive.load(run_id).corrupt
    archive.close()
    assert all(hazards_off().values()), hazards_off()


def test_second_ctrl_c_aborts_at_once(served, tmp_path):
    process = run_cli("run", "herald_rate", "--join", "--set", "blocks=200", "--set",
                      "block_seconds=20", "--data-dir", str(tmp_path), "--json",
                      env=served["env"])
    wait_for_blocks(tmp_path, 1)
    served["control"].set_fault("herald_tagger", "latency", 1.0)  # blocks now take seconds
    try:
        time.sleep(1.5)
        process.send_signal(signal.SIGINT)
        time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        served["control"].clear_faults()
    assert process.returncode == 130, err
    result = json.loads(out)
    assert result["status"] == "interrupted" and "aborted by a second Ctrl-C" in result["reason"]
    assert all(hazards_off().values()), hazards_off()


@pytest.mark.parametrize("args, message", [
    (("run", "teleportation"), "no experiment named 'teleportation'"),
    (("run", "herald_rate", "--set", "colour=red"), "unknown --set key 'colour'"),
    (("run", "herald_rate", "--set", "blocks=many"), "blocks=many: not a int"),
    (("run", "herald_rate", "--set", "alpha=1.5"), "alpha must be within (0, 1)"),
    (("run", "herald_rate", "--station", "nope.yaml"), "station file not found"),
    (("resume", "999"), "no run 999"),
    (("show", "999"), "no run 999"),
])
def test_bad_input_is_one_line_exit_2_and_archives_nothing(tmp_path, args, message):
    result = subprocess.run([sys.executable, "-m", "labctl.cli", *args, "--data-dir",
                             str(tmp_path)], cwd=REPO, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and message in result.stderr
    archive = Archive(tmp_path)
    assert archive.runs() == []
    archive.close()


def test_runs_and_show_list_what_was_run(served, tmp_path):
    archive = Archive(tmp_path)
    engine = Engine(archive, progress=False)
    first = engine.start(HeraldRate(HeraldRateConfig(blocks=1, block_seconds=5.0)),
                         station_module.DEFAULT_STATION, "sim")
    second = engine.start(FailsAtBlock(FailingConfig(fail_at=0)),
                          station_module.DEFAULT_STATION, "sim")
    archive.close()
    listed = json.loads(subprocess.run(
        [sys.executable, "-m", "labctl.cli", "runs", "--json", "--data-dir", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, check=True).stdout)
    assert [r["run_id"] for r in listed] == [first.run_id, second.run_id]
    assert [r["status"] for r in listed] == ["completed", "failed"]
    assert set(listed[0]) >= {"run_id", "experiment", "status", "blocks", "started"}
    shown = json.loads(subprocess.run(
        [sys.executable, "-m", "labctl.cli", "show", str(first.run_id), "--json",
         "--data-dir", str(tmp_path)], cwd=REPO, capture_output=True, text=True,
        check=True).stdout)
    assert shown["result"]["heralds"] == first.result.heralds


def test_export_writes_a_netcdf_file_xarray_reads(served, tmp_path):
    import xarray

    archive = Archive(tmp_path / "archive")
    outcome = Engine(archive, progress=False).start(
        HeraldRate(HeraldRateConfig(blocks=2, block_seconds=5.0)),
        station_module.DEFAULT_STATION, "sim")
    archive.close()
    result = subprocess.run([sys.executable, "-m", "labctl.cli", "export",
                             str(outcome.run_id), str(tmp_path / "run.nc"), "--data-dir",
                             str(tmp_path / "archive")], cwd=REPO, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stderr
    with xarray.open_dataset(result.stdout.strip(), engine="h5netcdf") as exported:
        names = set(exported.variables)
        assert "heralds" in names
        assert int(exported["heralds"].sum()) == outcome.result.heralds
