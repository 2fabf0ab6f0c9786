"""The archive with neighbours: another process's lock, a read-only archive, a full disk.

Real SQLite databases and real files under ``tmp_path``; the lock is held by
a real second process, and the full disk is the kernel refusing bytes: a
child process writes under ``RLIMIT_FSIZE`` (Python ignores ``SIGXFSZ``, so a
write past the limit fails with ``EFBIG`` on the real ``os.write`` path of
the chunk store, as a full disk fails it with ``ENOSPC``).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

from labctl.data.archive import Archive, ArchiveBusy, ArchiveReadOnly, RunMetadata
from labctl.data.locking import lock_holder
from labctl.errors import LabctlError

REPO = Path(__file__).resolve().parents[2]


def metadata(planned: int | None = 6) -> RunMetadata:
    return RunMetadata(experiment="bell_test", config={"attempts": 1000},
                       station_path="stations/two_node.yaml", profile="sim",
                       station_snapshot={}, code_version="0.1.0", planned_blocks=planned)


def arrays(block: int, size: int = 2_000) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(block)
    return {"timestamps": np.cumsum(rng.integers(1, 10**6, size)).astype(np.int64)}


def archive_with_run(root: Path, blocks: int = 3, finish: str | None = "completed") -> int:
    with Archive(root) as archive:
        writer = archive.create_run(metadata(), ["counts"])
        for block in range(blocks):
            writer.append({"counts": float(block)}, arrays(block))
        if finish:
            writer.finish(finish)  # type: ignore[arg-type]
        return writer.run_id


def tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` with its size and mtime (ns)."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


# -- another process holds the write lock ---------------------------------------------

HOLDER = textwrap.dedent("""
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("CREATE TABLE neighbour (x)")
    print("held", flush=True)
    sys.stdin.readline()          # hold the write lock until told to let go
    conn.execute("COMMIT")
    print("released", flush=True)
""")


@pytest.fixture
def lock_held_by_neighbour(tmp_path):
    """An archive whose write lock another process holds (until ``release()``)."""
    root = tmp_path / "data"
    archive_with_run(root, blocks=1)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(root / "labctl.db")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdin is not None
    assert holder.stdout.readline().strip() == "held"

    def release() -> None:
        assert holder.stdin is not None and holder.stdout is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "released"

    yield root, holder, release
    holder.kill()
    holder.wait()


def test_a_held_lock_is_waited_for_then_named_in_one_line(lock_held_by_neighbour):
    root, holder, _ = lock_held_by_neighbour
    assert lock_holder(root / "labctl.db") == holder.pid
    with Archive(root, lock_wait=0.6) as archive:
        assert [r.run_id for r in archive.runs()] == [1]     # readers do not wait
        with pytest.raises(ArchiveBusy) as refused:
            archive.create_run(metadata(), ["counts"])
    message = str(refused.value)
    assert "\n" not in message
    assert f"{root / 'labctl.db'} is locked by process {holder.pid}" in message
    waited = float(message.split("waiting ")[1].split(" s")[0])
    assert 0.6 <= waited < 5
    with Archive(root, read_only=True) as archive:
        assert len(archive.runs()) == 1, "nothing of the refused run may be left"


def test_a_writer_waits_for_the_lock_and_then_writes(lock_held_by_neighbour):
    root, _holder, release = lock_held_by_neighbour
    waiting = threading.Event()
    results: dict[str, object] = {}

    class Announced(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "waiting up to" in record.getMessage():
                waiting.set()

    def write() -> None:   # an archive belongs to the thread that opens it
        try:
            with Archive(root, lock_wait=60) as archive:
                writer = archive.create_run(metadata(), ["counts"])
                writer.append({"counts": 1.0}, arrays(0))
                writer.finish("completed")
                results["run"] = writer.run_id
        except LabctlError as error:  # reported to the test thread below
            results["error"] = error

    handler = Announced()
    logger = logging.getLogger("labctl.data.locking")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        worker = threading.Thread(target=write)
        worker.start()
        assert waiting.wait(30), "the writer did not wait for the lock"
        assert worker.is_alive()
        release()
        worker.join(60)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    assert "error" not in results, results.get("error")
    assert "run" in results, "the writer did not finish"
    with Archive(root, read_only=True) as archive:
        info = archive.info(int(results["run"]))  # type: ignore[call-overload]
        assert (info.status, info.blocks) == ("completed", 1)


# -- read-only ------------------------------------------------------------------------


def test_a_read_only_archive_reads_everything_and_writes_nothing(tmp_path):
    root = tmp_path / "data"
    done = archive_with_run(root, blocks=3)
    before = tree(root)
    out = tmp_path / "out"
    out.mkdir()
    with Archive(root, read_only=True) as archive:
        assert archive.read_only
        assert [(r.run_id, r.status, r.blocks) for r in archive.runs()] == [(done, "completed", 3)]
        data = archive.load(done)
        assert data.corrupt == ()
        assert np.array_equal(data.concatenated("timestamps"),
                              np.concatenate([arrays(b)["timestamps"] for b in range(3)]))
        exported = archive.export_netcdf(done, out)
        assert exported.parent == out and exported.stat().st_size > 0
        refusals = [lambda: archive.create_run(metadata(), ["counts"]),
                    lambda: archive.resume_run(done)]
        for refuse in refusals:
            with pytest.raises(ArchiveReadOnly) as refused:
                refuse()
            assert "\n" not in str(refused.value)
            assert f"the archive {root} is read-only" in str(refused.value)
        assert archive.reconcile() == []
    assert tree(root) == before, "a read-only archive must not touch a file"


def test_a_read_only_archive_shows_a_dead_writers_run_as_interrupted_without_writing(tmp_path):
    root = tmp_path / "data"
    child = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(REPO)!r})
        from tests.unit.test_archive_neighbours import metadata, arrays
        from labctl.data.archive import Archive
        archive = Archive({str(root)!r})
        writer = archive.create_run(metadata(), ["counts"])
        writer.append({{"counts": 0.0}}, arrays(0))
        archive.close()
        os._exit(0)          # ends without finishing the run
        """)], cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert child.returncode == 0, child.stderr
    before = tree(root)
    with Archive(root, read_only=True) as archive:
        (info,) = archive.runs()
        assert info.status == "interrupted" and "ended without finishing" in str(info.reason)
    assert tree(root) == before
    with Archive(root) as archive:    # a writable open still records it
        assert archive.runs()[0].status == "running"
        assert archive.reconcile() == [info.run_id]
        assert archive.runs()[0].status == "interrupted"


def test_a_read_only_folder_without_a_database_has_no_runs(tmp_path):
    with Archive(tmp_path, read_only=True) as archive:
        assert archive.runs() == []
    assert list(tmp_path.iterdir()) == []


def test_insisting_on_writing_is_refused_where_the_folder_cannot_be_written(tmp_path):
    root = tmp_path / "data"
    archive_with_run(root, blocks=1)
    root.chmod(0o555)
    try:
        if os.access(root, os.W_OK):
            pytest.skip("this user (root) can write a mode 555 folder")
        with Archive(root) as archive:
            assert archive.read_only and len(archive.runs()) == 1
        with pytest.raises(ArchiveReadOnly, match=f"the archive {root} is read-only"):
            Archive(root, read_only=False)
    finally:
        root.chmod(0o755)


# -- a full disk ----------------------------------------------------------------------

FILLER = textwrap.dedent("""
    import json, resource, sys
    from pathlib import Path
    import numpy as np
    sys.path.insert(0, sys.argv[2])
    from tests.unit.test_archive_neighbours import metadata, arrays
    from labctl.data.archive import Archive
    from labctl.errors import LabctlError
    root = Path(sys.argv[1])
    archive = Archive(root)
    writer = archive.create_run(metadata(), ["counts"])
    for block in range(2):
        writer.append({"counts": float(block)}, arrays(block))
    # The kernel now refuses to grow any file past what the index needs: a chunk of
    # ~1 MB cannot be written, the database's small commits can.
    largest = max(p.stat().st_size for p in root.rglob("*") if p.is_file())
    limit = largest + 256 * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    outcome = {}
    try:
        noise = np.random.default_rng(2).random(131_072)   # ~1 MB that does not compress
        writer.append({"counts": 2.0}, {**arrays(2), "noise": noise})
    except LabctlError as error:
        outcome["error"] = str(error)
        outcome["type"] = type(error).__name__
        writer.finish("failed", str(error))
    archive.close()
    print(json.dumps(outcome))
""")


def test_a_full_disk_fails_the_block_cleanly_and_the_run_resumes(tmp_path):
    root = tmp_path / "data"
    child = subprocess.run([sys.executable, "-c", FILLER, str(root), str(REPO)], cwd=REPO,
                           capture_output=True, text=True, timeout=120, check=False)
    assert child.returncode == 0, child.stderr
    outcome = json.loads(child.stdout)
    assert outcome["type"] == "ArchiveFull"
    assert outcome["error"].startswith(f"no space left on {root / 'raw' / 'run-1'} (")
    assert "block 2 of run 1 was not written" in outcome["error"]
    folder = root / "raw" / "run-1"
    assert sorted(p.name for p in folder.iterdir()) == ["block-000000.zip", "block-000001.zip"]
    with Archive(root) as archive:
        info = archive.info(1)
        assert (info.status, info.blocks) == ("failed", 2)
        assert info.reason == outcome["error"]
        writer = archive.resume_run(1)          # space is back: the run carries on
        assert writer.next_block == 2
        noise = np.random.default_rng(2).random(131_072)   # ~1 MB that does not compress
        writer.append({"counts": 2.0}, {**arrays(2), "noise": noise})
        writer.finish("completed")
        data = archive.load(1)
        assert data.corrupt == () and data.blocks.tolist() == [0, 1, 2]
        assert archive.info(1).status == "completed"
