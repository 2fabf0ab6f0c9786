"""A soak: one long Bell test through random faults and kills, to exactly its blocks (issue 14).

A lab trusts a week-long run to labctl only if nothing it meets loses data or
leaves it unsafe. Here `labctl run bell_test` on a virtual lab served by another
process (`labctl sim serve`, its drivers' timeouts short) meets, at seeded
random moments, a fault of a random kind on the laser, the AWG, the SNSPD
controller or the tagger (mostly a glitch, now and then one that outlasts the
engine's retries), or a SIGKILL; a killed or failed run is taken up
again with `labctl resume --join` until it completes. Then the archive holds
exactly the asked-for blocks, none corrupt, no block twice; every run that
ended by itself ended with a one-line reason; and every hazardous instrument
reads back safe over fresh connections.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from labctl.data.archive import Archive
from labctl.simulation import ControlClient
from tests.sim.test_fault_matrix import TIMEOUT_S, Lab, _station_file, hazards_off
from tests.waiting import read_json_object

pytestmark = pytest.mark.slow

REPO = Path(__file__).parents[2]
SEED = 20261202
BLOCKS = 400
BLOCK_SECONDS = 20.0
#: Wall time between chaos events, s (uniform), and the longest a transient fault lasts.
BETWEEN_S = (1.0, 4.0)
LASTS_S = (0.3, 2.0 * TIMEOUT_S)
#: Now and then a fault outlasts the engine's retries (the run fails and is resumed), s.
LONG_S, LONG_SHARE = 12.0, 0.2
#: The soak's bound: attempts (run + resumes) and wall time.
MAX_ATTEMPTS = 40
MAX_WALL_S = 900.0

UNITS = ("node_a_laser", "node_a_awg", "herald_snspd", "herald_tagger")
KINDS = {"node_a_laser": ("latency", "drop", "garbage", "silent", "unlock"),
         "node_a_awg": ("latency", "drop", "garbage", "silent"),
         "herald_snspd": ("latency", "drop", "garbage", "silent", "latch"),
         "herald_tagger": ("latency", "drop", "garbage", "silent")}
VALUES = {"latency": 3 * TIMEOUT_S, "latch": 1.0}


@dataclass
class Log:
    """What the chaos did and how each attempt ended."""

    faults: list[str] = field(default_factory=list)
    kills: int = 0
    endings: list[tuple[str, str | None]] = field(default_factory=list)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lab, dict[str, str]]]:
    folder = tmp_path_factory.mktemp("soak")
    station = _station_file(folder)
    env = {**os.environ, "LABCTL_RUNTIME_DIR": str(folder / "runtime"),
           "LABCTL_DATA_DIR": str(folder / "data")}
    server = subprocess.Popen([sys.executable, "-m", "labctl.cli", "sim", "serve", str(station),
                               "--json"], cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    try:
        announced = json.loads(read_json_object(server))
        yield Lab(station, "sim", ControlClient(announced["control_port"])), env
    finally:
        server.terminate()
        server.wait(timeout=10)


def _command(lab: Lab, run_id: int | None) -> list[str]:
    labctl = [sys.executable, "-m", "labctl.cli"]
    if run_id is None:
        return [*labctl, "run", "bell_test", "--station", str(lab.station), "--join", "--json",
                "--set", f"blocks={BLOCKS}", "--set", f"block_seconds={BLOCK_SECONDS}"]
    return [*labctl, "resume", str(run_id), "--join", "--json"]


def _the_run(env: dict[str, str]) -> int | None:
    archive = Archive(Path(env["LABCTL_DATA_DIR"]), read_only=True)
    try:
        runs = archive.runs()
    finally:
        archive.close()
    assert len(runs) <= 1, runs
    return runs[0].run_id if runs else None


def _chaos(lab: Lab, process: subprocess.Popen[str], rng: np.random.Generator,
           log: Log) -> None:
    """Faults and at most one kill until ``process`` ends."""
    while process.poll() is None:
        try:
            process.wait(timeout=rng.uniform(*BETWEEN_S))
            return
        except subprocess.TimeoutExpired:
            pass
        if rng.random() < 0.25:
            process.send_signal(signal.SIGKILL)
            log.kills += 1
            process.wait()
            return
        unit = str(rng.choice(UNITS))
        kind = str(rng.choice(KINDS[unit]))
        lasts = LONG_S if rng.random() < LONG_SHARE else rng.uniform(*LASTS_S)
        lab.control.set_fault(unit, kind, VALUES.get(kind, 0.0))
        log.faults.append(f"{unit}:{kind}:{lasts:.1f}s")
        clearing = threading.Timer(lasts, lab.control.clear_faults, args=(unit,))
        clearing.start()
        clearing.join(timeout=lasts + 10)


def test_a_long_run_through_random_faults_and_kills_ends_with_all_its_blocks_and_safe(
        lab, monkeypatch) -> None:
    served, env = lab
    monkeypatch.setenv("LABCTL_RUNTIME_DIR", env["LABCTL_RUNTIME_DIR"])
    rng = np.random.default_rng(SEED)
    log = Log()
    started = time.monotonic()
    status = None
    for _ in range(MAX_ATTEMPTS):
        assert time.monotonic() - started < MAX_WALL_S, log
        process = subprocess.Popen(_command(served, _the_run(env)), cwd=REPO, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _chaos(served, process, rng, log)
        out, err = process.communicate(timeout=120)
        served.control.clear_faults()
        if process.returncode == -signal.SIGKILL:
            continue
        assert "Traceback" not in err, err
        if not out.strip():   # the station refused to load (a fault at that moment): one line
            errors = [line for line in err.splitlines() if line.startswith("labctl: error:")]
            assert process.returncode != 0 and len(errors) == 1, err
            log.endings.append(("refused", errors[0]))
            continue
        ending = json.loads(out)
        log.endings.append((ending["status"], ending.get("reason")))
        reason = ending.get("reason")
        assert reason is None or "\n" not in reason, reason
        assert "Traceback" not in err, err
        status = ending["status"]
        if status == "completed":
            break
        assert status in ("failed", "interrupted"), ending
    assert status == "completed", log
    assert log.faults and log.kills, log   # the chaos did happen

    run_id = _the_run(env)
    assert run_id is not None
    archive = Archive(Path(env["LABCTL_DATA_DIR"]), read_only=True)
    try:
        data = archive.load(run_id)
        info = archive.info(run_id)
    finally:
        archive.close()
    assert info.status == "completed" and info.blocks == BLOCKS
    assert not data.corrupt
    assert data.blocks.tolist() == list(range(BLOCKS))
    safe = hazards_off(served)
    assert all(safe.values()), safe
    print(f"soak: {len(log.faults)} faults, {log.kills} kills, endings {log.endings}, "
          f"{time.monotonic() - started:.0f} s")
