"""The archive: QCoDeS index + raw chunks, resumption, corruption, reconcile, kill -9.

Everything here uses a real SQLite database and real files under ``tmp_path``;
the crash tests kill real processes with SIGKILL.
"""

from __future__ import annotations

import json
import logging
import signal
import sqlite3
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import blosc2
import numpy as np
import pytest
import qcodes
from qcodes.dataset import connect, experiments, load_by_id

from labctl.data.archive import Archive, RunMetadata, RunWriter
from labctl.data.chunks import ChunkError
from labctl.data.liveness import Liveness, ProcessIdentity, current_process, liveness
from labctl.data.location import data_root
from labctl.errors import LabctlError

REPO = Path(__file__).resolve().parents[2]
ARRAYS = ("channels", "timestamps")


def metadata(experiment: str = "bell_test", planned: int | None = 10) -> RunMetadata:
    return RunMetadata(
        experiment=experiment,
        config={"bases": ["X", "Z"], "attempts": 1_000_000, "window_ps": 2500.0},
        station_path="stations/two_node.yaml",
        profile="sim",
        station_snapshot={"instruments": {"laser_a": {"parameters": {
            "power": {"value": 0.001, "unit": "W"}}}}},
        code_version="0.1.0+g5afc662",
        planned_blocks=planned,
    )


def block_payload(seed: int, block: int) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Deterministic values and time tags of one block (the crash child uses it too)."""
    rng = np.random.default_rng([seed, block])
    n = int(rng.integers(1_000, 20_000))
    arrays = {"channels": rng.integers(0, 4, n, dtype=np.uint8),
              "timestamps": np.cumsum(rng.integers(1, 10**6, n)).astype(np.int64)}
    return {"counts": float(block), "rate": float(rng.normal(1e3, 10))}, arrays


@pytest.fixture
def archive(tmp_path):
    with Archive(tmp_path / "data") as opened:
        yield opened


def write_blocks(writer: RunWriter, seed: int, count: int) -> None:
    for _ in range(count):
        values, arrays = block_payload(seed, writer.next_block)
        writer.append(values, arrays)


def one_line(error: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


# -- round trip ----------------------------------------------------------------------


def test_round_trip_values_and_arrays(archive):
    writer = archive.create_run(metadata(), ["counts", "rate"])
    write_blocks(writer, seed=7, count=4)
    assert writer.append({"counts": 4.0}, {}) == 4  # no arrays, no chunk; rate missing: NaN
    writer.finish("completed")

    data = archive.load(writer.run_id)
    assert data.blocks.tolist() == [0, 1, 2, 3, 4]
    assert data.blocks.dtype == np.int64
    assert data.corrupt == ()
    assert data.values["counts"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    expected = [block_payload(7, b) for b in range(4)]
    np.testing.assert_allclose(data.values["rate"][:4], [v["rate"] for v, _ in expected])
    assert np.isnan(data.values["rate"][4])
    timestamps = data.arrays("timestamps")
    assert len(timestamps) == 4
    for got, (_, arrays) in zip(timestamps, expected, strict=True):
        np.testing.assert_array_equal(got, arrays["timestamps"])
        assert got.dtype == np.int64
    channels = data.concatenated("channels")
    assert channels.dtype == np.uint8
    np.testing.assert_array_equal(channels, np.concatenate([a["channels"] for _, a in expected]))
    assert data.block_arrays(4) == {}
    assert data.chunk_path(4) is None

    info = data.info
    assert info.run_id == writer.run_id
    assert (info.experiment, info.status, info.blocks) == ("bell_test", "completed", 5)
    assert info.config == {"bases": ["X", "Z"], "attempts": 1_000_000, "window_ps": 2500.0}
    assert (info.station_path, info.profile) == ("stations/two_node.yaml", "sim")
    assert (info.code_version, info.planned_blocks) == ("0.1.0+g5afc662", 10)
    assert info.started.endswith("+00:00") and info.ended is not None
    assert info.reason is None
    assert info.segments == (writer.run_id,)
    assert archive.station_snapshot(writer.run_id) == metadata().station_snapshot


def test_append_is_committed_and_durable_when_it_returns(archive):
    writer = archive.create_run(metadata(), ["counts", "rate"])
    write_blocks(writer, seed=1, count=2)
    # A second, independent connection only sees committed transactions.
    with sqlite3.connect(archive.database) as other:
        table = other.execute("SELECT result_table_name FROM runs WHERE run_id = ?",
                              (writer.qcodes_run_id,)).fetchone()[0]
        rows = other.execute(f'SELECT block, chunk, size_bytes FROM "{table}" ORDER BY block'
                             ).fetchall()
    assert [row[0] for row in rows] == [0, 1]
    for block, chunk, size in rows:
        path = archive.root / chunk
        assert path.name == f"block-{block:06d}.zip"
        assert path.stat().st_size == size
    assert not list((archive.root / "raw").rglob("*.tmp"))
    assert archive.info(writer.run_id).status == "running"


def test_chunks_are_zip_files_that_unzip_blosc2_and_numpy_read(archive):
    writer = archive.create_run(metadata(), ["counts", "rate"])
    write_blocks(writer, seed=3, count=2)
    writer.finish("completed")
    path = archive.root / "raw" / f"run-{writer.run_id}" / "block-000001.zip"
    assert archive.load(writer.run_id).chunk_path(1) == path
    _, arrays = block_payload(3, 1)
    with zipfile.ZipFile(path) as zipped:
        assert sorted(zipped.namelist()) == ["channels.b2nd", "manifest.json",
                                             "timestamps.b2nd"]
        assert {info.compress_type for info in zipped.infolist()} == {zipfile.ZIP_STORED}
        manifest = json.loads(zipped.read("manifest.json"))
        assert manifest["arrays"]["timestamps"]["encoding"] == "delta"
        assert manifest["arrays"]["channels"]["encoding"] == "none"
        deltas = blosc2.ndarray_from_cframe(zipped.read("timestamps.b2nd"))[:]
        channels = blosc2.ndarray_from_cframe(zipped.read("channels.b2nd"))[:]
    np.testing.assert_array_equal(np.cumsum(deltas), arrays["timestamps"])
    np.testing.assert_array_equal(channels, arrays["channels"])


def test_runs_are_listed_oldest_first_with_status_and_blocks(archive):
    first = archive.create_run(metadata("calibration"), ["counts", "rate"])
    write_blocks(first, seed=1, count=3)
    first.finish("completed")
    second = archive.create_run(metadata("bell_test", planned=None), ["counts", "rate"])
    write_blocks(second, seed=2, count=1)
    second.finish("failed", "DriverError: laser_a: command 'POW 9' was refused:\n-222")
    third = archive.create_run(metadata("memory"), [])
    third.mark("interrupted", "interrupted by Ctrl-C")

    runs = archive.runs()
    assert [r.run_id for r in runs] == [first.run_id, second.run_id, third.run_id]
    assert [r.run_id for r in runs] == sorted(r.run_id for r in runs)
    assert [(r.experiment, r.status, r.blocks) for r in runs] == [
        ("calibration", "completed", 3), ("bell_test", "failed", 1),
        ("memory", "interrupted", 0)]
    assert runs[1].reason == "DriverError: laser_a: command 'POW 9' was refused: -222"
    assert runs[1].planned_blocks is None
    assert runs[2].ended is None
    third.mark("running")
    assert archive.info(third.run_id).reason is None


def test_empty_archive_lists_no_runs(archive):
    assert archive.runs() == []
    assert archive.reconcile() == []


# -- resumption ----------------------------------------------------------------------


def test_resume_continues_block_numbering_in_one_logical_run(archive):
    writer = archive.create_run(metadata(), ["counts", "rate"])
    write_blocks(writer, seed=5, count=3)
    writer.finish("interrupted", "interrupted by Ctrl-C")
    other = archive.create_run(metadata("other"), ["counts", "rate"])  # ids interleave
    other.finish("completed")

    resumed = archive.resume_run(writer.run_id)
    assert resumed.run_id == writer.run_id
    assert resumed.next_block == 3
    assert resumed.qcodes_run_id not in (writer.run_id, other.run_id)
    assert archive.info(writer.run_id).status == "running"
    write_blocks(resumed, seed=5, count=2)
    resumed.finish("completed")

    data = archive.load(writer.run_id)
    assert data.blocks.tolist() == [0, 1, 2, 3, 4]
    assert data.values["counts"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert len(data.arrays("timestamps")) == 5
    info = data.info
    assert info.segments == (writer.run_id, resumed.qcodes_run_id)
    assert (info.status, info.blocks, info.reason) == ("completed", 5, None)
    assert [r.run_id for r in archive.runs()] == [writer.run_id, other.run_id]


def test_resume_of_a_completed_run_is_refused(archive):
    writer = archive.create_run(metadata(), ["counts", "rate"])
    writer.finish("completed")
    with pytest.raises(LabctlError, match="is completed") as error:
        archive.resume_run(writer.run_id)
    assert one_line(error).startswith(f"run {writer.run_id} ")


def test_resume_of_a_run_still_being_written_is_refused(archive):
    writer = archive.create_run(metadata(), ["counts", "rate"])
    with pytest.raises(LabctlError, match="still being written by process"):
        archive.resume_run(writer.run_id)


def test_unknown_run_id_is_one_line_error(archive):
    with pytest.raises(LabctlError) as error:
        archive.info(17)
    assert one_line(error) == f"no run 17 in {archive.root}"
    for operation in (archive.resume_run, archive.load, archive.station_snapshot):
        with pytest.raises(LabctlError, match="no run 17 in"):
            operation(17)


def test_a_segment_id_is_not_a_run_id(archive):
    writer = archive.create_run(metadata(), ["counts", "rate"])
    writer.finish("failed", "boom")
    resumed = archive.resume_run(writer.run_id)
    with pytest.raises(LabctlError, match=rf"is segment 1 of run {writer.run_id}\)"):
        archive.info(resumed.qcodes_run_id)


# -- corruption and crash leftovers --------------------------------------------------


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def delete(path: Path) -> None:
    path.unlink()


def extend(path: Path) -> None:
    path.write_bytes(path.read_bytes() + b"\0")


@pytest.mark.parametrize("damage", [flip_a_byte, truncate, delete, extend])
def test_a_damaged_chunk_is_reported_and_the_rest_loads(archive, damage, caplog):
    writer = archive.create_run(metadata(), ["counts", "rate"])
    write_blocks(writer, seed=11, count=3)
    writer.finish("completed")
    damaged = archive.root / "raw" / f"run-{writer.run_id}" / "block-000001.zip"
    damage(damaged)

    with caplog.at_level(logging.WARNING, logger="labctl.data"):
        data = archive.load(writer.run_id)
    assert data.corrupt == (1,)
    assert data.blocks.tolist() == [0, 1, 2]  # its values are still there
    assert data.values["counts"].tolist() == [0.0, 1.0, 2.0]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"run {writer.run_id} block 1" in w and str(damaged) in w for w in warnings)

    timestamps = data.arrays("timestamps")
    assert len(timestamps) == 2
    np.testing.assert_array_equal(timestamps[1], block_payload(11, 2)[1]["timestamps"])
    with pytest.raises(ChunkError):
        data.block_arrays(1)


def test_damage_after_loading_is_caught_when_reading(archive, caplog):
    writer = archive.create_run(metadata(), ["counts", "rate"])
    write_blocks(writer, seed=12, count=2)
    data = archive.load(writer.run_id)
    flip_a_byte(archive.root / "raw" / f"run-{writer.run_id}" / "block-000000.zip")
    with caplog.at_level(logging.WARNING, logger="labctl.data"):
        assert len(data.arrays("channels")) == 1
    assert "fails its sha256 checksum" in caplog.text


def test_crash_leftovers_without_index_rows_are_ignored_and_overwritten(archive):
    writer = archive.create_run(metadata(), ["counts", "rate"])
    write_blocks(writer, seed=13, count=2)
    folder = archive.root / "raw" / f"run-{writer.run_id}"
    orphan = folder / "block-000002.zip"  # renamed, but its index row never committed
    orphan.write_bytes(b"half a chunk")
    leftover = folder / ".block-000003.zip.4242.0badf00d.tmp"  # killed before the rename
    leftover.write_bytes(b"\0" * 100)

    data = archive.load(writer.run_id)
    assert data.blocks.tolist() == [0, 1]
    assert data.corrupt == ()
    assert len(data.arrays("timestamps")) == 2

    writer.finish("interrupted", "killed")
    resumed = archive.resume_run(writer.run_id)
    assert not leftover.exists()
    assert resumed.next_block == 2
    write_blocks(resumed, seed=13, count=1)  # block 2 again: replaces the orphan
    data = archive.load(writer.run_id)
    assert data.corrupt == ()
    np.testing.assert_array_equal(data.arrays("timestamps")[2],
                                  block_payload(13, 2)[1]["timestamps"])


def test_chunks_of_an_unknown_run_are_moved_aside(tmp_path):
    stale = tmp_path / "data" / "raw" / "run-1"
    stale.mkdir(parents=True)
    (stale / "block-000000.npz").write_bytes(b"from an older database")
    with Archive(tmp_path / "data") as archive:
        writer = archive.create_run(metadata(), ["counts", "rate"])
        assert writer.run_id == 1
        write_blocks(writer, seed=1, count=1)
        assert archive.load(1).corrupt == ()
    moved = list((tmp_path / "data" / "raw").glob("run-1.stale-*"))
    assert len(moved) == 1
    assert (moved[0] / "block-000000.npz").read_bytes() == b"from an older database"


# -- reconcile and kill -9 (real processes) ------------------------------------------

START_AND_EXIT = textwrap.dedent("""
    import sys
    from pathlib import Path
    from labctl.data.archive import Archive
    from tests.unit.test_archive import block_payload, metadata

    archive = Archive(Path(sys.argv[1]))
    writer = archive.create_run(metadata(), ["counts", "rate"])
    values, arrays = block_payload(1, 0)
    writer.append(values, arrays)
    print(writer.run_id, flush=True)
    # exits without finish(): the run stays marked running
""")


def run_child(script: str, *args: object, killed: bool) -> list[str]:
    process = subprocess.run([sys.executable, "-c", script, *map(str, args)], cwd=REPO,
                             capture_output=True, text=True, timeout=120, check=False)
    expected = -signal.SIGKILL if killed else 0
    assert process.returncode == expected, process.stderr
    return process.stdout.split()


def test_reconcile_marks_runs_of_dead_processes_interrupted(archive):
    child_run = int(run_child(START_AND_EXIT, archive.root, killed=False)[0])
    mine = archive.create_run(metadata("mine"), ["counts", "rate"])  # this process: alive
    finished = archive.create_run(metadata("done"), [])
    finished.finish("completed")
    assert archive.info(child_run).status == "running"

    assert archive.reconcile() == [child_run]
    info = archive.info(child_run)
    assert info.status == "interrupted"
    assert "ended without finishing" in info.reason
    assert info.blocks == 1
    assert archive.info(mine.run_id).status == "running"
    assert archive.info(finished.run_id).status == "completed"
    conn = connect(archive.database)
    try:
        assert load_by_id(child_run, conn=conn).completed  # closed for the QCoDeS tools
    finally:
        conn.close()
    assert archive.reconcile() == []

    resumed = archive.resume_run(child_run)
    assert resumed.next_block == 1


def test_a_run_whose_writer_died_can_be_resumed_without_reconcile(archive):
    child_run = int(run_child(START_AND_EXIT, archive.root, killed=False)[0])
    resumed = archive.resume_run(child_run)
    assert resumed.next_block == 1
    info = archive.info(child_run)
    assert info.status == "running"
    assert len(info.segments) == 2
    assert archive.reconcile() == []  # this process writes it now


def test_liveness_tells_alive_gone_recycled_and_foreign_processes():
    me = current_process()
    assert liveness(me) is Liveness.ALIVE
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
    dead = ProcessIdentity(pid=int(finished.stdout), hostname=me.hostname)
    assert liveness(dead) is Liveness.GONE
    if me.start_token:  # procfs: a recycled pid is not the writer
        recycled = ProcessIdentity(pid=me.pid, hostname=me.hostname, start_token="other:1")
        assert liveness(recycled) is Liveness.GONE
    foreign = ProcessIdentity(pid=me.pid, hostname=me.hostname + "-elsewhere")
    assert liveness(foreign) is Liveness.UNKNOWN


CRASH = textwrap.dedent("""
    import os, signal, sys, threading
    from pathlib import Path
    import numpy as np
    from labctl.data.archive import Archive
    from tests.unit.test_archive import block_payload, metadata

    root, mode = Path(sys.argv[1]), sys.argv[2]
    seed, kill_block = int(sys.argv[3]), int(sys.argv[4])
    current = -1
    fsyncs = 0

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        global fsyncs
        if current == kill_block:
            fsyncs += 1
            if mode == "before-fsync" and fsyncs == 1:
                die()  # the temporary file is written but not synced
            real_fsync(fd)
            if mode == "after-dir-fsync" and fsyncs == 2:
                die()  # the chunk is durable; its index row is not committed
        else:
            real_fsync(fd)

    def replace(source, target):
        if current == kill_block and mode == "before-rename":
            die()  # synced temporary file, never renamed
        real_replace(source, target)
        if current == kill_block and mode == "after-rename":
            die()  # renamed, folder not synced, no index row

    os.fsync, os.replace = fsync, replace
    archive = Archive(root)
    writer = archive.create_run(metadata(), ["counts", "rate"])
    print("run", writer.run_id, flush=True)
    if mode == "timer":
        delay = np.random.default_rng(seed).uniform(0.05, 0.6)
        threading.Timer(delay, die).start()
    for block in range(1_000_000):
        current = block
        values, arrays = block_payload(seed, block)
        writer.append(values, arrays)
        print(block, flush=True)  # acknowledged
""")


@pytest.mark.parametrize(("mode", "seed"), [
    ("before-fsync", 21), ("before-rename", 22), ("after-rename", 23),
    ("after-dir-fsync", 24), ("timer", 1), ("timer", 2), ("timer", 3)])
def test_kill_9_loses_at_most_the_block_in_flight(tmp_path, mode, seed):
    root = tmp_path / "data"
    kill_block = 3 + seed % 4
    output = run_child(CRASH, root, mode, seed, kill_block, killed=True)
    assert output[0] == "run"
    run_id = int(output[1])
    acknowledged = [int(token) for token in output[2:]]
    assert acknowledged == list(range(len(acknowledged)))
    if mode != "timer":
        assert len(acknowledged) == kill_block

    with sqlite3.connect(root / "labctl.db") as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with Archive(root) as archive:
        data = archive.load(run_id)
        assert data.corrupt == ()
        committed = data.blocks.tolist()
        # Every acknowledged block is there; at most the one in flight beyond them.
        assert committed in (acknowledged, [*acknowledged, len(acknowledged)])
        for block, timestamps in zip(committed, data.arrays("timestamps"), strict=True):
            np.testing.assert_array_equal(timestamps, block_payload(seed, block)[1]["timestamps"])
        assert data.values["counts"].tolist() == [float(b) for b in committed]

        assert archive.reconcile() == [run_id]
        resumed = archive.resume_run(run_id)
        assert resumed.next_block == len(committed)
        write_blocks(resumed, seed=seed, count=2)
        resumed.finish("completed")
        data = archive.load(run_id)
        assert data.corrupt == ()
        assert data.blocks.tolist() == list(range(len(committed) + 2))
        assert len(data.arrays("timestamps")) == len(committed) + 2
    assert not list((root / "raw").rglob("*.tmp"))


# -- QCoDeS, xarray and netCDF -------------------------------------------------------


def test_runs_are_ordinary_qcodes_datasets(archive):
    db_location = qcodes.config.core.db_location
    writer = archive.create_run(metadata(), ["counts", "rate"])
    write_blocks(writer, seed=4, count=3)
    writer.finish("completed")
    assert qcodes.config.core.db_location == db_location  # no global state touched

    conn = connect(archive.database)
    try:
        assert [e.name for e in experiments(conn=conn)] == ["bell_test"]
        dataset = load_by_id(writer.run_id, conn=conn)
        assert (dataset.exp_name, dataset.sample_name) == ("bell_test", "labctl")
        assert dataset.completed
        assert dataset.number_of_results == 3
        assert dataset.metadata["labctl_status"] == "completed"
        assert dataset.metadata["labctl_run_id"] == writer.run_id
        assert dataset.snapshot["station"] == metadata().station_snapshot
        data = dataset.get_parameter_data("counts")["counts"]
        assert data["block"].tolist() == [0, 1, 2]
        assert data["counts"].tolist() == [0.0, 1.0, 2.0]
        xarray_dataset = dataset.to_xarray_dataset()
        assert xarray_dataset["rate"].dims == ("block",)
    finally:
        conn.close()


def test_export_refuses_to_overwrite_an_existing_file_unless_told(archive, tmp_path):
    writer = archive.create_run(metadata(), ["counts", "rate"])
    write_blocks(writer, seed=6, count=2)
    writer.finish("completed")
    target = tmp_path / "kept.nc"
    target.write_bytes(b"someone's data")
    with pytest.raises(LabctlError, match="exists; not overwriting it"):
        archive.export_netcdf(writer.run_id, target)
    assert target.read_bytes() == b"someone's data"
    assert archive.export_netcdf(writer.run_id, target, overwrite=True) == target
    assert target.read_bytes() != b"someone's data"


def test_export_netcdf_opens_with_xarray_and_h5netcdf(archive, tmp_path):
    xr = pytest.importorskip("xarray")
    writer = archive.create_run(metadata(), ["counts", "rate"])
    write_blocks(writer, seed=6, count=3)
    writer.finish("completed")
    path = archive.export_netcdf(writer.run_id, tmp_path / "out" / "bell.nc")
    assert path == tmp_path / "out" / "bell.nc"

    with xr.open_dataset(path, engine="h5netcdf") as exported:
        assert exported["block"].values.tolist() == [0, 1, 2]
        np.testing.assert_array_equal(exported["counts"].values, [0.0, 1.0, 2.0])
        np.testing.assert_allclose(exported["rate"].values,
                                   [block_payload(6, b)[0]["rate"] for b in range(3)])
        assert exported.attrs["experiment"] == "bell_test"
        assert exported.attrs["status"] == "completed"
        assert exported.attrs["labctl_run_id"] == writer.run_id
        counts = exported["timestamps_count"].values
        assert exported["timestamps_count"].attrs["sample_dimension"] == "timestamps_sample"
        tags = exported["timestamps"].values
        assert tags.size == counts.sum()
        last = block_payload(6, 2)[1]["timestamps"]
        np.testing.assert_array_equal(tags[-counts[-1]:], last)

    into_folder = archive.export_netcdf(writer.run_id, tmp_path)
    assert into_folder == tmp_path / f"run-{writer.run_id}.nc"
    h5py = pytest.importorskip("h5py")
    with h5py.File(into_folder, "r") as raw:
        assert raw["counts"][()].tolist() == [0.0, 1.0, 2.0]


# -- mistakes: one-line LabctlErrors -------------------------------------------------


@pytest.mark.parametrize(("names", "message"), [
    (["block"], "reserved"), (["rate", "rate"], "given twice"),
    (["not a name"], "not a valid identifier"), ("rate", "not one string"),
    (["rate", "index"], "SQL keyword")])
def test_bad_value_names_are_refused(archive, names, message):
    with pytest.raises(LabctlError, match=message) as error:
        archive.create_run(metadata(), names)
    one_line(error)
    assert archive.runs() == []


def test_bad_appends_and_statuses_are_refused(archive):
    writer = archive.create_run(metadata(), ["counts", "rate"])
    with pytest.raises(LabctlError, match="unknown value 'S'"):
        writer.append({"S": 2.5}, {})
    with pytest.raises(LabctlError, match="'rate' is not a number"):
        writer.append({"rate": "fast"}, {})
    with pytest.raises(LabctlError, match="Python objects"):
        writer.append({}, {"tags": np.array([object()])})
    with pytest.raises(LabctlError, match="not a valid identifier"):
        writer.append({}, {"bad/name": np.zeros(3)})
    assert writer.next_block == 0
    with pytest.raises(LabctlError, match="unknown run status"):
        writer.mark("paused")  # type: ignore[arg-type]
    with pytest.raises(LabctlError, match="cannot finish as 'running'"):
        writer.finish("running")
    with pytest.raises(LabctlError, match="by finish"):
        writer.mark("completed")
    writer.finish("completed")
    assert writer.finished
    with pytest.raises(LabctlError, match="is finished") as error:
        writer.append({}, {})
    one_line(error)
    assert archive.load(writer.run_id).blocks.tolist() == []


def test_missing_arrays_and_closed_archives(archive):
    writer = archive.create_run(metadata(), ["counts", "rate"])
    writer.append({"counts": 0.0}, {})
    data = archive.load(writer.run_id)
    assert data.arrays("timestamps") == []
    assert data.concatenated("timestamps").size == 0
    write_blocks(writer, seed=1, count=1)
    with pytest.raises(LabctlError, match=r"has no array 'tags' \(its chunks hold: channels"):
        archive.load(writer.run_id).arrays("tags")
    archive.close()
    with pytest.raises(LabctlError, match="is closed"):
        archive.runs()
    with pytest.raises(LabctlError, match="is closed"):
        writer.append({}, {})


def test_a_file_that_is_not_a_database_is_one_line_error(tmp_path):
    (tmp_path / "labctl.db").write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(LabctlError, match="cannot open the archive database") as error:
        Archive(tmp_path)
    one_line(error)


# -- where the data lives ------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    monkeypatch.delenv("LABCTL_DATA_DIR", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return monkeypatch


def test_data_root_defaults_to_the_home_data_folder(clean_env, tmp_path):
    root = data_root()
    assert root == tmp_path / "home" / ".local" / "share" / "labctl"
    assert root.is_dir()


def test_data_root_follows_xdg(clean_env, tmp_path):
    clean_env.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert data_root() == tmp_path / "xdg" / "labctl"
    clean_env.setenv("XDG_DATA_HOME", "relative/ignored")
    assert data_root() == tmp_path / "home" / ".local" / "share" / "labctl"


def test_environment_variable_beats_xdg(clean_env, tmp_path):
    clean_env.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    clean_env.setenv("LABCTL_DATA_DIR", str(tmp_path / "env"))
    assert data_root() == tmp_path / "env"


def test_argument_beats_everything(clean_env, tmp_path):
    clean_env.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    clean_env.setenv("LABCTL_DATA_DIR", str(tmp_path / "env"))
    assert data_root(tmp_path / "arg") == tmp_path / "arg"
    assert data_root(str(tmp_path / "arg2")) == tmp_path / "arg2"
    assert (tmp_path / "arg2").is_dir()


def test_data_root_that_is_a_file_is_one_line_error(clean_env, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(LabctlError, match="cannot create the data directory") as error:
        data_root(tmp_path / "file")
    one_line(error)
