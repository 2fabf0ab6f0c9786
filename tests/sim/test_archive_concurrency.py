"""The archive with neighbours, as `labctl` runs: two writers, a read-only mount, a full disk.

- Two real ``labctl run`` processes on one ``--data-dir`` at once, several
  rounds (the first on a fresh folder, so both also create the database):
  both complete, and every block of both is in the index with an intact chunk.
- A read-only file system: the archive is bind-mounted read-only in a private
  mount namespace (``unshare -m``); ``runs``, ``show``, ``export`` (to a
  writable folder) and ``report`` work, ``fit`` and ``run`` are refused in one
  line naming the archive, and no file of the archive changes.
- A full disk: the data directory is a small tmpfs in a private mount
  namespace; the kernel's ``ENOSPC`` ends ``labctl run`` as ``failed`` with
  "no space left on <path>", no chunk or temporary file is left half-written,
  and after the tmpfs is grown (space freed) ``labctl resume`` completes it.

The namespace tests are skipped where this user may not create mount
namespaces (``unshare -m`` needs root or user namespaces).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from labctl.data.archive import Archive

REPO = Path(__file__).parents[2]
LABCTL = [sys.executable, "-m", "labctl.cli"]
BLOCKS = 8
SETTINGS = ["--set", f"blocks={BLOCKS}", "--set", "block_seconds=0.2",
            "--set", "conditional_filter=false"]   # ~36k tags a block
ROUNDS = 3
#: Blocks whose chunks fill a small disk: ~900k tags a block.
FULL_DISK_SETTINGS = [*SETTINGS, "--set", "block_seconds=5"]


def check_run(archive: Archive, run_id: int, blocks: int) -> None:
    """The run is completed with exactly ``blocks`` blocks, every chunk intact."""
    info = archive.info(run_id)
    assert (info.status, info.blocks) == ("completed", blocks), info
    data = archive.load(run_id)
    assert data.corrupt == ()
    assert data.blocks.tolist() == list(range(blocks))
    for channels, stamps in zip(data.arrays("channels"), data.arrays("timestamps_ps"),
                                strict=True):
        assert len(channels) == len(stamps) > 0
        assert np.all(np.diff(stamps) >= 0)


def test_two_runs_on_one_data_directory_both_complete(tmp_path):
    data_dir = tmp_path / "data"
    expected: list[int] = []
    for round_ in range(ROUNDS):
        processes = [subprocess.Popen([*LABCTL, "run", "herald_rate", *SETTINGS, "--json",
                                       "--data-dir", str(data_dir)], cwd=REPO,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True)
                     for _ in range(2)]
        outcomes = []
        for process in processes:
            out, err = process.communicate(timeout=600)
            assert process.returncode == 0, f"round {round_}: {err.strip()[-2000:]}"
            outcomes.append(json.loads(out[out.index("{"):]))
        assert [o["status"] for o in outcomes] == ["completed", "completed"]
        assert [o["blocks"] for o in outcomes] == [BLOCKS, BLOCKS]
        ids = sorted(o["run_id"] for o in outcomes)
        assert len(set(ids)) == 2, "the two runs must be two runs"
        expected.extend(ids)
    with Archive(data_dir, read_only=True) as archive:
        assert [info.run_id for info in archive.runs()] == sorted(expected)
        for run_id in expected:
            check_run(archive, run_id, BLOCKS)


# -- in a private mount namespace -------------------------------------------------------


def _namespaces_available(probe: Path) -> bool:
    probe.mkdir()
    if shutil.which("unshare") is None:
        return False
    result = subprocess.run(["unshare", "-m", "sh", "-c",
                             f"mount -t tmpfs -o size=2450k tmpfs {probe}"],
                            capture_output=True, timeout=30, check=False)
    return result.returncode == 0


@pytest.fixture
def namespace(tmp_path):
    """``namespace(script)``: run a shell script in a private mount namespace."""
    if not _namespaces_available(tmp_path / "probe"):
        pytest.skip("this user cannot create a mount namespace (unshare -m)")

    def run(script: str) -> None:
        done = subprocess.run(["unshare", "-m", "sh", "-c", script], cwd=REPO,
                              capture_output=True, text=True, timeout=900, check=False)
        assert done.returncode == 0, done.stderr

    return run


def _labctl(out: Path, name: str, *args: str) -> str:
    """A shell line running labctl; its stdout, stderr and exit status go to ``out``."""
    command = " ".join(f"'{a}'" for a in (*LABCTL, *args))
    return (f"{command} > '{out}/{name}.out' 2> '{out}/{name}.err'; "
            f"echo $? > '{out}/{name}.rc'\n")


def _result(out: Path, name: str) -> tuple[int, str, str]:
    return (int((out / f"{name}.rc").read_text()), (out / f"{name}.out").read_text(),
            (out / f"{name}.err").read_text())


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def _error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_a_read_only_archive_is_listed_shown_exported_and_reported(tmp_path, namespace):
    data_dir, mount, out = tmp_path / "data", tmp_path / "ro", tmp_path / "out"
    mount.mkdir()
    out.mkdir()
    made = subprocess.run([*LABCTL, "run", "herald_rate", *SETTINGS, "--json", "--data-dir",
                           str(data_dir)], cwd=REPO, capture_output=True, text=True,
                          timeout=600, check=False)
    assert made.returncode == 0, made.stderr
    before = _tree(data_dir)
    ro = str(mount)
    namespace(f"set -e\nmount --bind -o ro '{data_dir}' '{mount}'\n"
              f"! touch '{mount}/probe' 2>/dev/null\nset +e\n"
              + _labctl(out, "runs", "runs", "--json", "--data-dir", ro)
              + _labctl(out, "show", "show", "1", "--json", "--data-dir", ro)
              + _labctl(out, "export", "export", "1", str(out / "run1.nc"), "--data-dir", ro)
              + _labctl(out, "report", "report", "1", "--out", str(out / "report"),
                        "--data-dir", ro)
              + _labctl(out, "fit", "fit", "1", "--data-dir", ro)
              + _labctl(out, "run", "run", "herald_rate", *SETTINGS, "--data-dir", ro))
    code, listing, err = _result(out, "runs")
    assert code == 0, err
    assert [(r["run_id"], r["status"], r["blocks"]) for r in json.loads(listing)] == [
        (1, "completed", BLOCKS)]
    code, shown, err = _result(out, "show")
    assert code == 0, err
    assert json.loads(shown)["corrupt_blocks"] == []
    code, written, err = _result(out, "export")
    assert code == 0, err
    assert Path(written.strip()) == out / "run1.nc" and (out / "run1.nc").stat().st_size > 0
    code, _, err = _result(out, "report")
    assert code == 0, err
    assert (out / "report" / "index.html").is_file()
    for name, action in (("fit", "cannot save the plot of run 1"),
                         ("run", "cannot start a run")):
        code, _, err = _result(out, name)
        assert code == 2, err
        line = _error_line(err)
        assert action in line and f"the archive {mount} is read-only" in line, line
    assert _tree(data_dir) == before, "reading a read-only archive must not change it"


def test_a_full_disk_fails_the_run_with_the_reason_and_resume_completes_it(tmp_path,
                                                                            namespace):
    disk, out, copy = tmp_path / "disk", tmp_path / "out", tmp_path / "after"
    disk.mkdir()
    out.mkdir()
    # The index with the run's reserve for its end (~2.7 MB) and the first blocks'
    # chunks (~130 kB each, compressed) fit, not all 8 blocks.
    namespace(f"set -e\nmount -t tmpfs -o size=3300k tmpfs '{disk}'\nset +e\n"
              + _labctl(out, "run", "run", "herald_rate", *FULL_DISK_SETTINGS, "--json",
                        "--data-dir", str(disk))
              + f"cp -a '{disk}' '{copy}'\n"
              + f"mount -o remount,size=64m '{disk}'\n"
              + _labctl(out, "resume", "resume", "1", "--json", "--data-dir", str(disk))
              + f"cp -a '{disk}' '{tmp_path / 'resumed'}'\n")
    code, printed, err = _result(out, "run")
    assert code == 1, err
    assert "labctl: error" not in err, err     # ended through the engine, not an escape
    outcome = json.loads(printed[printed.index("{"):])
    assert outcome["status"] == "failed"
    assert outcome["reason"].startswith(f"no space left on {disk}"), outcome["reason"]
    stopped_at = outcome["blocks"]
    assert 0 < stopped_at < BLOCKS
    with Archive(copy, read_only=True) as archive:      # the archive as the full disk left it
        info = archive.info(1)
        assert (info.status, info.blocks, info.reason) == ("failed", stopped_at,
                                                           outcome["reason"])
        data = archive.load(1)
        assert data.corrupt == () and data.blocks.tolist() == list(range(stopped_at))
    names = sorted(p.name for p in (copy / "raw" / "run-1").iterdir()
                   if p.name.startswith((".", "block-")))      # not the run's plot
    assert names == [f"block-{b:06d}.zip" for b in range(stopped_at)], \
        "a block that did not fit must leave no file behind"
    code, printed, err = _result(out, "resume")
    assert code == 0, err
    assert json.loads(printed[printed.index("{"):])["status"] == "completed"
    with Archive(tmp_path / "resumed", read_only=True) as archive:
        check_run(archive, 1, BLOCKS)
