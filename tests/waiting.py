"""Waiting, in tests, on other processes: a run reaching its blocks, a server's announcement."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from labctl.data.chunk_format import SUFFIX


def wait_for_blocks(data_dir: Path, count: int, timeout: float = 120.0) -> int:
    """The id of the newest run once ``count`` of its block chunks are on disk.

    Watches the chunk files (``raw/run-N/block-NNNNNN.zip``) rather than the
    database: opening the archive while the run's process is still creating
    it would race QCoDeS's schema set-up. AssertionError after ``timeout``.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = sorted((int(folder.name.removeprefix("run-")), folder)
                      for folder in (data_dir / "raw").glob("run-*") if folder.is_dir())
        if runs and len(list(runs[-1][1].glob(f"block-*{SUFFIX}"))) >= count:
            return runs[-1][0]
        time.sleep(0.1)
    raise AssertionError("the run did not reach its blocks in time")


def read_json_object(process: subprocess.Popen[str]) -> str:
    """The first JSON object a process prints (``labctl sim serve --json``), once whole.

    Reads its stdout line by line until the closing brace of the object;
    AssertionError with the process's stderr if it ends first.
    """
    lines = []
    assert process.stdout is not None
    while True:
        line = process.stdout.readline()
        if not line:   # its stderr, where it was piped (else it went to ours)
            said = process.stderr.read() if process.stderr is not None else "see its stderr"
            raise AssertionError(f"the process ended: {said}")
        lines.append(line)
        if line.startswith("}"):
            return "".join(lines)
