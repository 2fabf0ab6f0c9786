"""Waiting, in tests, for a run in another process to reach a number of blocks."""

from __future__ import annotations

import time
from pathlib import Path

from labctl.data.archive import Archive


def wait_for_blocks(data_dir: Path, count: int, timeout: float = 120.0) -> int:
    """The id of the newest run once it has ``count`` blocks (AssertionError after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (data_dir / "labctl.db").exists():
            archive = Archive(data_dir)
            try:
                runs = archive.runs()
                if runs and runs[-1].blocks >= count:
                    return runs[-1].run_id
            finally:
                archive.close()
        time.sleep(0.1)
    raise AssertionError("the run did not reach its blocks in time")
