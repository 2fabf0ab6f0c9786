"""Raw time tags on disk: bytes per tag, and write/read speed of chunks against ``.npz``.

Two streams (seeded, from `benchmarks.bench_timetags`): what a heralding
station records unfiltered (a sync every 5.5 µs attempt, clicks in two
rounds, dark counts, readout photons; `ATTEMPTS` attempts), every tag
smeared by the tagger's timing jitter (`TAGGER_JITTER_PS` rms, then in time
order, as a unit delivers them), and the dense one (two detectors at MHz
rates with correlated pairs). Each is written as a chunk through
`labctl.data.chunks.ChunkStore` (fsync-ed, renamed, sha256 recorded) and, as
format 0 did, as an uncompressed ``numpy.savez`` file, fsync-ed; read back
with its checksum verified (the store) or with ``numpy.load``. Best of
three; ratios are chunk against ``.npz`` in the same run. Goal: at most
4 bytes a tag for the heralding station's stream (issue 16).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from benchmarks.bench_timetags import best_seconds as best
from benchmarks.bench_timetags import dense_stream, entanglement_stream
from benchmarks.harness import report
from labctl.data.chunks import ChunkRecord, ChunkStore

ATTEMPTS = 10_000_000
TAGGER_JITTER_PS = 8.0


def heralding_station_stream(rng: np.random.Generator
                             ) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    channels, timestamps = entanglement_stream(rng, ATTEMPTS)
    timestamps = timestamps + np.rint(rng.normal(0.0, TAGGER_JITTER_PS, timestamps.size)
                                      ).astype(np.int64)
    order = np.argsort(timestamps, kind="stable")
    return channels[order], timestamps[order]


def write_npz(path: Path, arrays: dict[str, NDArray[np.generic]]) -> None:
    with path.open("wb") as file:
        np.savez(file, **arrays)
        file.flush()
        os.fsync(file.fileno())


def read_npz(path: Path) -> None:
    with np.load(path) as archive:
        for name in archive.files:
            archive[name]


def measure(name: str, channels: NDArray[np.uint8], timestamps: NDArray[np.int64],
            folder: Path) -> None:
    arrays = {"channels": channels, "timestamps": timestamps}
    tags = timestamps.size
    store = ChunkStore(folder)
    records: list[ChunkRecord] = []
    chunk_write = best(lambda: records.append(store.write(1, 0, arrays)))
    chunk_read = best(lambda: store.read(records[-1]))
    back = store.read(records[-1])
    if not (np.array_equal(back["timestamps"], timestamps)
            and np.array_equal(back["channels"], channels)):
        raise SystemExit(f"{name}: the chunk did not give the tags back")
    npz = folder / "block.npz"
    npz_write = best(lambda: write_npz(npz, arrays))
    npz_read = best(lambda: read_npz(npz))
    report(f"chunk_{name}_tags", tags, "tags")
    report(f"chunk_{name}_bytes_per_tag", records[-1].size_bytes / tags, "bytes/tag")
    report(f"npz_{name}_bytes_per_tag", npz.stat().st_size / tags, "bytes/tag")
    report(f"chunk_{name}_write", tags / chunk_write, "tags/s")
    report(f"chunk_{name}_write_vs_npz", npz_write / chunk_write, "x")
    report(f"chunk_{name}_read", tags / chunk_read, "tags/s")
    report(f"chunk_{name}_read_vs_npz", npz_read / chunk_read, "x")


def main() -> None:
    rng = np.random.default_rng(16)
    with tempfile.TemporaryDirectory(prefix="labctl-bench-chunks-") as temp:
        measure("heralding_station", *heralding_station_stream(rng), Path(temp) / "herald")
        measure("dense", *dense_stream(rng), Path(temp) / "dense")


if __name__ == "__main__":
    main()
