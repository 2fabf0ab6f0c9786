"""What a run is, as the archive hands it out: its metadata, its summary, its data.

`RunData` reads raw arrays lazily from the chunk store; `labctl.data.archive`
builds these, `labctl.data.export` turns `RunData` into xarray / netCDF.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from labctl.data.chunks import ChunkError, ChunkRecord, ChunkStore
from labctl.errors import LabctlError

log = logging.getLogger(__name__)

RunStatus = Literal["running", "completed", "interrupted", "failed"]


@dataclass(frozen=True)
class RunMetadata:
    """What the engine records when a run starts (all of it JSON-able)."""

    experiment: str
    config: Mapping[str, Any]
    station_path: str
    profile: str
    station_snapshot: Mapping[str, Any]
    code_version: str
    planned_blocks: int | None


@dataclass(frozen=True)
class RunInfo:
    """One logical run as the index describes it."""

    run_id: int
    experiment: str
    status: RunStatus
    #: Acknowledged blocks over all segments.
    blocks: int
    #: ISO-8601 UTC.
    started: str
    ended: str | None
    #: Why it ended (exception text, "interrupted by Ctrl-C", ...).
    reason: str | None
    station_path: str
    profile: str
    config: dict[str, Any]
    code_version: str
    planned_blocks: int | None
    #: QCoDeS run ids of the run and of each resumption, in order.
    segments: tuple[int, ...]


@dataclass(frozen=True)
class RunData:
    """A run's blocks: scalar values at once, raw arrays lazily from the chunks."""

    info: RunInfo
    blocks: NDArray[np.int64]
    values: dict[str, NDArray[np.float64]]
    #: Blocks whose chunk is missing, truncated or fails its checksum.
    corrupt: tuple[int, ...]
    _records: tuple[ChunkRecord | None, ...] = field(default=(), repr=False, compare=False)
    _store: ChunkStore | None = field(default=None, repr=False, compare=False)

    def arrays(self, name: str) -> list[NDArray[Any]]:
        """The array ``name`` of every intact block that has it, in block order."""
        found: list[NDArray[Any]] = []
        readable: ChunkRecord | None = None
        for block, record in self._intact():
            try:
                arrays = self._chunks().read(record, names=(name,))
            except ChunkError as error:
                log.warning("run %d block %d: %s", self.info.run_id, block, error)
                continue
            readable = record
            if name in arrays:
                found.append(arrays[name])
        if readable is not None and not found:
            held = ", ".join(sorted(self._chunks().read(readable))) or "nothing"
            raise LabctlError(f"run {self.info.run_id} has no array {name!r} "
                              f"(its chunks hold: {held})")
        return found

    def concatenated(self, name: str) -> NDArray[Any]:
        """``np.concatenate`` of `arrays` (an empty array if there is none)."""
        parts = self.arrays(name)
        return np.concatenate(parts) if parts else np.empty(0)

    def block_arrays(self, block: int) -> dict[str, NDArray[Any]]:
        """All arrays of one block ({} if it stored none); `ChunkError` if it is corrupt."""
        positions = np.flatnonzero(self.blocks == block)
        if positions.size == 0:
            raise LabctlError(f"run {self.info.run_id} has no block {block}")
        record = self._records[int(positions[0])] if self._records else None
        if record is None:
            return {}
        return self._chunks().read(record)

    @property
    def chunk_records(self) -> tuple[ChunkRecord | None, ...]:
        """What the index says about each block's chunk (None: no arrays), like `blocks`."""
        return self._records

    def chunk_path(self, block: int) -> Path | None:
        """Where a block's chunk is stored (None if the block stored no arrays)."""
        positions = np.flatnonzero(self.blocks == block)
        if positions.size == 0 or not self._records:
            return None
        record = self._records[int(positions[0])]
        return None if record is None else self._chunks().root / record.path

    def _intact(self) -> Iterator[tuple[int, ChunkRecord]]:
        corrupt = set(self.corrupt)
        for block, record in zip(self.blocks.tolist(), self._records, strict=False):
            if record is not None and block not in corrupt:
                yield block, record

    def _chunks(self) -> ChunkStore:
        if self._store is None:
            raise LabctlError(f"run {self.info.run_id} was loaded without its chunk store")
        return self._store
