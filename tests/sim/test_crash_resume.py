"""kill -9 at random moments never loses an acknowledged block, and resume completes the run.

A real `labctl run` process (with its own virtual lab) is killed with SIGKILL
at random moments — during start-up, during acquisitions, during chunk
writes — at least 20 times. After each kill the archive must open, every
acknowledged block must be intact (checksums), the run must show as
interrupted, and `labctl resume` continues it; the final resume completes it
to exactly the planned number of blocks, as an uninterrupted run would.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from labctl.data.archive import Archive

REPO = Path(__file__).parents[2]
PLANNED_BLOCKS = 300
KILLS = 20
SETTINGS = ["--set", f"blocks={PLANNED_BLOCKS}", "--set", "block_seconds=1",
            "--set", "conditional_filter=false"]   # ~180k tags, ~1.6 MB per chunk


def start(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "labctl.cli", *args], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


def check_archive(data_dir: Path) -> tuple[int | None, int, str | None]:
    """Open the archive after a kill; every acknowledged block must load intact."""
    archive = Archive(data_dir)
    try:
        archive.reconcile()
        runs = archive.runs()
        if not runs:
            return None, 0, None
        assert len(runs) == 1, "a resume must never start a second run"
        info = runs[0]
        data = archive.load(info.run_id)
        assert data.corrupt == (), f"acknowledged blocks corrupted: {data.corrupt}"
        assert np.array_equal(data.blocks, np.arange(info.blocks)), data.blocks
        for channels, stamps in zip(data.arrays("channels"), data.arrays("timestamps_ps"),
                                    strict=True):
            assert len(channels) == len(stamps) > 0
            assert np.all(np.diff(stamps) >= 0)
        return info.run_id, info.blocks, info.status
    finally:
        archive.close()


def test_sigkill_at_random_moments_then_resume_to_the_planned_total(tmp_path):
    rng = random.Random(20151021)
    data_dir = str(tmp_path)
    run_id: int | None = None
    kills = 0
    progress = []
    while kills < KILLS:
        args = (["resume", str(run_id)] if run_id is not None
                else ["run", "herald_rate", *SETTINGS]) + ["--data-dir", data_dir]
        process = start(args)
        time.sleep(rng.uniform(0.3, 3.0))
        if process.poll() is not None:
            break   # the run completed before this kill
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills += 1
        run_id, blocks, status = check_archive(tmp_path)
        if run_id is not None:
            progress.append(blocks)
            if status == "completed":   # killed while exiting after its last block
                assert blocks == PLANNED_BLOCKS
                break
            assert status == "interrupted", status
    assert kills >= KILLS or (progress and progress[-1] >= PLANNED_BLOCKS)
    print("blocks after each kill:", progress)
    assert progress == sorted(progress), "acknowledged blocks must never disappear"
    assert progress and progress[-1] > 0, "no kill fell after the first block"
    assert run_id is not None
    final = subprocess.run([sys.executable, "-m", "labctl.cli", "resume", str(run_id),
                            "--json", "--data-dir", data_dir], cwd=REPO,
                           capture_output=True, text=True, timeout=600, check=False)
    outcome = json.loads(final.stdout) if final.stdout else {}
    if final.returncode == 2 and "already completed" in final.stderr:
        outcome = {"status": "completed", "blocks": PLANNED_BLOCKS}
    assert outcome.get("status") == "completed", final.stderr
    assert outcome["blocks"] == PLANNED_BLOCKS
    run, blocks, status = check_archive(tmp_path)
    assert (run, blocks, status) == (run_id, PLANNED_BLOCKS, "completed")
