"""One experiment across three lab PCs, played by processes on loopback.

A virtual lab of ``stations/two_node.yaml`` (``labctl sim serve``), three
``labctl node serve`` processes (node A, node B, the heralding station with
the herald bus) joining it, and ``labctl run`` as the orchestrator with
``stations/remote/orchestrator.yaml``. The same experiment run in one
process on a fresh virtual lab of the same file (same seed) is the
reference. Killing a node or the orchestrator mid-run must leave the
instruments that can still be reached in their safe state.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

from experiments.entanglement import Entanglement, EntanglementConfig
from labctl.data.archive import Archive
from labctl.engine.runner import Engine
from labctl.remote.address import RemoteSpec
from labctl.remote.nodes import RemoteNodes
from labctl.simulation import ControlClient
from tests.remote.conftest import HEARTBEAT_TIMEOUT, REPO, TWO_NODE, hazards
from tests.waiting import wait_for_blocks

SMALL = ("--set", "blocks=3", "--set", "block_seconds=20")
LONG = ("--set", "blocks=300", "--set", "block_seconds=20")


def node_status(endpoint: str) -> dict:
    nodes = RemoteNodes(call_timeout=10.0)
    try:
        status, _ = nodes.client(RemoteSpec(endpoint)).request("status")
        return status
    finally:
        nodes.close()


def start_run(processes, orchestrator: Path, data: Path) -> subprocess.Popen[str]:
    run = subprocess.Popen([sys.executable, "-m", "labctl.cli", "run", "entanglement",
                            "--station", str(orchestrator), *LONG, "--json", "--data-dir",
                            str(data)], cwd=REPO, env=processes.env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    processes.started.append(run)
    return run


def test_entanglement_across_three_nodes_gives_the_single_process_results(processes, link,
                                                                          tmp_path):
    remote = processes.run("run", "entanglement", "--station", str(link.orchestrator), *SMALL,
                           "--json", "--data-dir", str(tmp_path / "remote"))
    assert remote.returncode == 0, remote.stderr
    alone_env = {**processes.env, "LABCTL_RUNTIME_DIR": str(tmp_path / "alone")}
    local = subprocess.run([sys.executable, "-m", "labctl.cli", "run", "entanglement",
                            "--station", TWO_NODE, *SMALL, "--json", "--data-dir",
                            str(tmp_path / "local")], cwd=REPO, env=alone_env,
                           capture_output=True, text=True, timeout=300, check=False)
    assert local.returncode == 0, local.stderr
    across, single = json.loads(remote.stdout), json.loads(local.stdout)
    assert across["status"] == single["status"] == "completed"
    assert across["heralds"] == single["heralds"] > 100
    for key in ("herald_rate_hz", "herald_rate_err_hz", "fidelity", "fidelity_err", "seconds"):
        assert across[key] == single[key], key
    assert across["correlators"] == single["correlators"]
    assert across["correlator_errors"] == single["correlator_errors"]

    # the herald bus brought every herald to both nodes, none missed
    for node in ("node_a", "node_b"):
        heralds = node_status(link.nodes[node].endpoint)["heralds"]
        assert heralds["received"] == across["heralds"] and heralds["missed"] == 0, heralds
    # the run is over everywhere, its instruments safe, the snapshot names the real drivers
    assert all(node_status(n.endpoint)["run"] is None for n in link.nodes.values())
    assert all(hazards().values()), hazards()
    archive = Archive(tmp_path / "remote")
    snapshot = archive.station_snapshot(across["run_id"])["instruments"]
    archive.close()
    assert snapshot["herald_tagger"]["__class__"] == "drivers.idq_id1000.IDQID1000"
    assert snapshot["herald_tagger"]["remote"] == link.nodes["heralding"].endpoint


def test_killing_a_node_mid_run_stops_the_run_on_every_node(processes, link, tmp_path):
    data = tmp_path / "archive"
    run = start_run(processes, link.orchestrator, data)
    run_id = wait_for_blocks(data, 2)
    node_a = link.nodes["node_a"].process
    node_a.kill()
    node_a.wait(timeout=30)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 1, err
    result = json.loads(out)
    assert result["status"] == "failed" and result["blocks"] >= 2
    assert "node_a at" in result["reason"] and "lost" in result["reason"], result["reason"]
    archive = Archive(data)
    info = archive.info(run_id)
    archive.close()
    assert info.status == "failed" and info.reason == result["reason"]
    # node A's own instruments cannot be reached by anyone; the rest were made safe ...
    survivors = hazards(("node_b", "heralding"))
    assert all(survivors.values()), survivors
    # ... and the surviving nodes were disarmed, without needing their own watchdog
    for node in ("node_b", "heralding"):
        status = node_status(link.nodes[node].endpoint)
        assert status["run"] is None and status["safe_states"] == [], status


def test_killing_the_orchestrator_makes_every_node_safe_within_its_heartbeat_timeout(
        processes, link, tmp_path):
    data = tmp_path / "archive"
    run = start_run(processes, link.orchestrator, data)
    run_id = wait_for_blocks(data, 1)
    assert not all(hazards().values())           # the link is up: lasers on, AWGs running
    run.kill()
    run.wait(timeout=30)
    deadline = time.monotonic() + HEARTBEAT_TIMEOUT + 10.0      # safety net, not a measure
    pending = dict(link.nodes)
    while pending and time.monotonic() < deadline:
        for name, node in list(pending.items()):
            status = node_status(node.endpoint)
            if status["safe_states"]:
                [entry] = status["safe_states"]
                assert entry["ok"], entry
                assert f"during run {run_id}" in entry["reason"]
                assert f"no heartbeat for {HEARTBEAT_TIMEOUT:g} s" in entry["reason"]
                assert status["run"] is None
                del pending[name]
        time.sleep(0.2)
    assert not pending, f"not in safe state: {sorted(pending)}"
    assert all(hazards().values()), hazards()
    for node in link.nodes.values():
        assert "putting the instruments in safe state" in node.log_text()


def test_an_instrument_timeout_on_a_node_is_retried_there_and_the_run_completes(
        link, tmp_path, caplog):
    control = ControlClient(link.lab.info["control_port"])
    dropped = []

    def glitch(index: int) -> None:
        if index == 0:      # slower than the node's 5 s VISA timeout, for about two seconds
            control.set_fault("herald_tagger", "latency", 6.0)
            dropped.append(index)
            threading.Timer(2.0, control.clear_faults).start()

    archive = Archive(tmp_path / "archive")
    try:
        with caplog.at_level(logging.WARNING, logger="labctl.engine.runner"):
            outcome = Engine(archive, retries=3, progress=False, on_block=glitch).start(
                Entanglement(EntanglementConfig(blocks=3, block_seconds=20.0)),
                link.orchestrator, "sim")
    finally:
        control.clear_faults()
        archive.close()
    assert dropped == [0]
    assert outcome.status == "completed" and outcome.blocks == 3, outcome.reason
    assert "reconnecting (retry 1 of 3)" in caplog.text
    assert "herald_tagger" in caplog.text
    assert all(hazards().values()), hazards()


def test_a_node_that_refuses_to_arm_fails_the_run_and_everything_is_made_safe(link,
                                                                             tmp_path):
    other = RemoteNodes()       # another orchestrator holds node B for its own run
    try:
        other.client(RemoteSpec(link.nodes["node_b"].endpoint)).request("arm", run_id=999)
        archive = Archive(tmp_path / "archive")
        outcome = Engine(archive, progress=False).start(
            Entanglement(EntanglementConfig(blocks=3, block_seconds=20.0)),
            link.orchestrator, "sim")
        info = archive.info(outcome.run_id)
        archive.close()
        assert node_status(link.nodes["node_b"].endpoint)["run"]["run_id"] == 999
    finally:
        other.close()
    assert outcome.status == "failed" and outcome.blocks == 0
    assert "failed to arm" in outcome.reason and "busy" in outcome.reason, outcome.reason
    assert info.status == "failed" and info.reason == outcome.reason
    for node in ("node_a", "heralding"):       # armed before node B refused: disarmed again
        assert node_status(link.nodes[node].endpoint)["run"] is None
    assert all(hazards().values()), hazards()
