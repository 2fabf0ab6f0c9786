"""Real processes on loopback: ``labctl sim serve``, ``labctl node serve``, ``labctl run``.

`Processes.start` runs a ``labctl`` command with ``--json`` and waits for the
JSON object it prints when it is ready; every process still running at the
end of the test is stopped (SIGTERM, then SIGKILL). `link` serves the
two-node link as three nodes (node A, node B, the heralding station with
the herald bus) against one virtual lab of ``stations/two_node.yaml`` and
writes the orchestrator's station file with the ports they got.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from labctl import station as station_module
from labctl.simulation import joining

REPO = Path(__file__).parents[2]
STATIONS = REPO / "stations" / "remote"
TWO_NODE = "stations/two_node.yaml"
#: Short, so the tests that kill a process finish quickly.
HEARTBEAT_TIMEOUT = 2.0
#: Safety net for a process to get ready (never a measurement).
READY_TIMEOUT = 60.0


@dataclass
class Served:
    name: str
    process: subprocess.Popen[str]
    info: dict[str, Any]
    log: Path

    @property
    def endpoint(self) -> str:
        return str(self.info["endpoint"])

    def log_text(self) -> str:
        return self.log.read_text()


@dataclass
class Processes:
    folder: Path
    env: dict[str, str]
    started: list[subprocess.Popen[str]] = field(default_factory=list)

    def start(self, name: str, *args: str) -> Served:
        """``labctl ARGS --json``, once it has printed its JSON object."""
        log = self.folder / f"{name}.log"
        process = subprocess.Popen([sys.executable, "-m", "labctl.cli", *args, "--json"],
                                   cwd=REPO, env=self.env, stdout=subprocess.PIPE,
                                   stderr=log.open("w"), text=True)
        self.started.append(process)
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=_read_lines, args=(process, lines), daemon=True).start()
        text = ""
        while True:
            try:
                line = lines.get(timeout=READY_TIMEOUT)
            except queue.Empty:
                raise AssertionError(f"{name} did not get ready: {log.read_text()}") from None
            assert line, f"{name} ended before it was ready: {log.read_text()}"
            text += line
            if line.startswith("}"):
                return Served(name, process, json.loads(text), log)

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "labctl.cli", *args], cwd=REPO,
                              env=self.env, capture_output=True, text=True, timeout=timeout,
                              check=False)

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.started:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)


def _read_lines(process: subprocess.Popen[str], lines: queue.Queue[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        lines.put(line)
    lines.put("")


@pytest.fixture
def processes(tmp_path, monkeypatch):
    """Start ``labctl`` processes sharing a private runtime folder (this process joins it)."""
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    monkeypatch.setenv("LABCTL_RUNTIME_DIR", str(runtime))
    env = {**os.environ, "LABCTL_RUNTIME_DIR": str(runtime), "PYTHONUNBUFFERED": "1"}
    started = Processes(tmp_path, env)
    yield started
    started.stop_all()


@dataclass
class Link:
    lab: Served
    nodes: dict[str, Served]
    orchestrator: Path


@pytest.fixture
def link(processes, tmp_path) -> Link:
    """Three nodes on loopback, one virtual lab; the orchestrator's station file for them."""
    lab = processes.start("sim", "sim", "serve", TWO_NODE)
    common = ("--bind", "tcp://127.0.0.1:*", "--heartbeat-timeout", str(HEARTBEAT_TIMEOUT),
              "--sim-lab", TWO_NODE)
    heralding = processes.start("heralding", "node", "serve", "--station",
                                str(STATIONS / "heralding.yaml"), *common,
                                "--herald-bus", "tcp://127.0.0.1:*")
    nodes = {"heralding": heralding}
    for node in ("node_a", "node_b"):
        nodes[node] = processes.start(node, "node", "serve", "--station",
                                      str(STATIONS / f"{node}.yaml"), *common,
                                      "--herald-source", heralding.info["herald_bus"])
    text = (STATIONS / "orchestrator.yaml").read_text()
    for port, node in (("5551", "node_a"), ("5552", "node_b"), ("5553", "heralding")):
        text = text.replace(f"tcp://127.0.0.1:{port}", nodes[node].endpoint)
    orchestrator = tmp_path / "orchestrator.yaml"
    orchestrator.write_text(text)
    return Link(lab, nodes, orchestrator)


def hazards(nodes: tuple[str, ...] = ("node_a", "node_b", "heralding")) -> dict[str, bool]:
    """What the virtual lab's hazardous instruments report now (True: safe).

    Read through a station of the whole link that joins the served virtual lab.
    """
    report = {}
    with joining(), station_module.load(REPO / TWO_NODE) as station:
        for node in nodes:
            if node == "heralding":
                snspd = station.instrument("snspd", "heralding")
                report["snspd bias down"] = all(ch.bias_current() == 0 for ch in snspd.channels)
                report["reference laser off"] = station.instrument(
                    "phase_reference_laser", "heralding").output() is False
                continue
            report[f"{node} laser off"] = station.instrument(
                "excitation_laser", node).output() is False
            report[f"{node} pump off"] = station.instrument(
                "frequency_converter", node).pump_emission() is False
            report[f"{node} microwave off"] = station.instrument(
                "mw_source", node).status() is False
            report[f"{node} awg stopped"] = station.instrument(
                "awg", node).run_state() == "stopped"
    return report
