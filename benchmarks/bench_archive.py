"""Archiving raw time tags: the labctl archive versus QCoDeS array blobs, same data, same run.

40 blocks of 1,000,000 time tags each (channel uint8 + timestamp int64, 9 MB
a block) are stored three ways, each block durable before the next starts:

- through `labctl.data.archive` (one fsync-ed, compressed chunk per block plus
  its committed index row);
- through QCoDeS ``DataSet.add_results`` with ``paramtype="array"`` columns
  (blobs in SQLite, one commit per block; the fastest QCoDeS path);
- through the QCoDeS Measurement context, ``DataSaver.add_result`` with
  ``paramtype="array"`` parameters against a ``block`` setpoint, flushed
  after every block (the path QCoDeS users take).

All databases use WAL with ``synchronous=FULL``. Reading back every
timestamp is measured too (the archive verifies every chunk's sha256 on
``load`` and again when it reads the arrays). Goal: archive ≥ 10× faster.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import time
from pathlib import Path

import numpy as np
from qcodes.dataset import (
    InterDependencies_,
    Measurement,
    connect,
    load_or_create_experiment,
    new_data_set,
)
from qcodes.dataset.sqlite.database import set_journal_mode
from qcodes.parameters import ParamSpecBase

from benchmarks.harness import report
from labctl.data.archive import Archive, RunMetadata

BLOCKS = 40
TAGS = 1_000_000


def time_tags(seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """One block of tags: four detector channels, increasing picosecond timestamps."""
    rng = np.random.default_rng(seed)
    channels = rng.integers(0, 4, TAGS, dtype=np.uint8)
    timestamps = np.cumsum(rng.integers(1, 2_000_000, TAGS)).astype(np.int64)
    return channels, timestamps


def through_archive(root: Path, channels: np.ndarray, timestamps: np.ndarray
                    ) -> tuple[float, float]:
    """Seconds to write all blocks and to read every timestamp back."""
    metadata = RunMetadata(experiment="bench_archive", config={"tags": TAGS},
                           station_path="none", profile="sim", station_snapshot={},
                           code_version="bench", planned_blocks=BLOCKS)
    with Archive(root) as archive:
        start = time.perf_counter()
        writer = archive.create_run(metadata, ["tags"])
        for _ in range(BLOCKS):
            writer.append({"tags": float(TAGS)},
                          {"channels": channels, "timestamps": timestamps})
        writer.finish("completed")
        written = time.perf_counter() - start
        start = time.perf_counter()
        data = archive.load(writer.run_id)
        total = data.concatenated("timestamps").size
        read = time.perf_counter() - start
    if data.corrupt or total != BLOCKS * TAGS:
        raise RuntimeError("the archive did not return what was written")
    return written, read


def through_qcodes_dataset(root: Path, channels: np.ndarray, timestamps: np.ndarray
                           ) -> tuple[float, float]:
    """Seconds to write all blocks as array blobs with add_results, and to read them."""
    conn = connect(str(root / "qcodes.db"))
    try:
        set_journal_mode(conn, "WAL")
        conn.execute("PRAGMA synchronous=FULL")
        experiment = load_or_create_experiment("bench_blobs", "labctl", conn=conn)
        block = ParamSpecBase("block", "numeric")
        interdeps = InterDependencies_(dependencies={
            ParamSpecBase("channels", "array"): (block,),
            ParamSpecBase("timestamps", "array"): (block,)})
        start = time.perf_counter()
        dataset = new_data_set("bench_blobs", exp_id=experiment.exp_id, conn=conn,
                               in_memory_cache=False)
        dataset.set_interdependencies(interdeps)
        dataset.mark_started()
        for index in range(BLOCKS):
            dataset.add_results([{"block": index, "channels": channels,
                                  "timestamps": timestamps}])
        dataset.mark_completed()
        written = time.perf_counter() - start
        start = time.perf_counter()
        total = dataset.get_parameter_data("timestamps")["timestamps"]["timestamps"].size
        read = time.perf_counter() - start
    finally:
        conn.close()
    if total != BLOCKS * TAGS:
        raise RuntimeError("QCoDeS did not return what was written")
    return written, read


def through_qcodes_measurement(root: Path, channels: np.ndarray,
                               timestamps: np.ndarray) -> float:
    """Seconds to write all blocks with DataSaver.add_result, flushed every block."""
    conn = connect(str(root / "measurement.db"))
    try:
        set_journal_mode(conn, "WAL")
        conn.execute("PRAGMA synchronous=FULL")
        experiment = load_or_create_experiment("bench_measurement", "labctl", conn=conn)
        measurement = Measurement(exp=experiment, name="bench_measurement")
        measurement.register_custom_parameter("block", paramtype="numeric")
        for name in ("channels", "timestamps"):
            measurement.register_custom_parameter(name, paramtype="array",
                                                  setpoints=("block",))
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()), measurement.run() as saver:
            for index in range(BLOCKS):
                saver.add_result(("block", index), ("channels", channels),
                                 ("timestamps", timestamps))
                saver.flush_data_to_database(block=True)
        return time.perf_counter() - start
    finally:
        conn.close()


def main() -> None:
    channels, timestamps = time_tags()
    megabytes = BLOCKS * (channels.nbytes + timestamps.nbytes) / 1e6
    tags = BLOCKS * TAGS
    with tempfile.TemporaryDirectory(prefix="labctl-bench-") as folder:
        root = Path(folder)
        archive_write, archive_read = through_archive(root / "archive", channels, timestamps)
        blob_write, blob_read = through_qcodes_dataset(root, channels, timestamps)
        measurement_write = through_qcodes_measurement(root, channels, timestamps)
        archive_db = (root / "archive" / "labctl.db").stat().st_size / 1e6
        blob_db = (root / "qcodes.db").stat().st_size / 1e6

    report("archive_write_tags_per_second", tags / archive_write, "tags/s")
    report("archive_write_throughput", megabytes / archive_write, "MB/s")
    report("qcodes_add_results_blob_write_tags_per_second", tags / blob_write, "tags/s")
    report("qcodes_add_results_blob_write_throughput", megabytes / blob_write, "MB/s")
    report("qcodes_measurement_add_result_write_throughput", megabytes / measurement_write,
           "MB/s")
    report("archive_vs_qcodes_add_result_write", measurement_write / archive_write,
           "x (the issue's baseline: DataSaver.add_result with array blobs; goal >= 10)")
    report("archive_vs_qcodes_dataset_add_results_write", blob_write / archive_write,
           "x (lower-level DataSet.add_results, for reference)")
    report("archive_read_throughput", megabytes / archive_read,
           "MB/s (sha256 checked on load and again on read)")
    report("qcodes_blob_read_throughput", megabytes / blob_read, "MB/s")
    report("archive_vs_qcodes_read", blob_read / archive_read, "x")
    report("archive_index_database_size", archive_db, "MB")
    report("qcodes_blob_database_size", blob_db, "MB")


if __name__ == "__main__":
    main()
