"""A Barrett–Kok certification with every core busy gives the idle machine's result (issue 14).

Under load the virtual lab takes longer to compute a 600 s block; that time is
spent inside the station clock's advance (`VirtualClock.at`), never inside a
driver's request, so no reply times out, nothing is retried, and the seeded
world gives the same numbers. One CPU-bound process per core competes with the
run; the result must equal the idle one's in every stage and parameter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from labctl.cli import main

pytestmark = pytest.mark.slow

OPTIONS = ("--protocol", "barrett-kok", "--block-seconds", "600")


def certify(capsys, data: Path) -> dict:
    code = main(["certify", "--json", "--data-dir", str(data), *OPTIONS])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "Traceback" not in captured.err and "timed out" not in captured.err, captured.err
    return json.loads(captured.out)


@contextmanager
def busy_cores() -> Iterator[list[subprocess.Popen[str]]]:
    """One spinning process per core, each running before this yields."""
    hogs = [subprocess.Popen([sys.executable, "-c",
                              "print('spinning', flush=True)\nwhile True: pass"],
                             stdout=subprocess.PIPE, text=True)
            for _ in range(os.cpu_count() or 2)]
    try:
        for hog in hogs:
            assert hog.stdout is not None and hog.stdout.readline().strip() == "spinning"
        yield hogs
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def test_barrett_kok_certify_under_a_cpu_hog_matches_the_idle_result(
        capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LABCTL_RUNTIME_DIR", str(tmp_path / "runtime"))
    idle = certify(capsys, tmp_path / "idle")
    with busy_cores() as hogs:
        loaded = certify(capsys, tmp_path / "loaded")
        assert all(hog.poll() is None for hog in hogs)   # they spun all along
    assert loaded["stages"] == idle["stages"]
    assert loaded["stage"] == idle["stage"]
    for verdict in loaded["stages"].values():
        assert verdict["reason"] and "not testable" not in verdict["reason"]
