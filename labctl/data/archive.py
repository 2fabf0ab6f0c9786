"""The crash-safe archive of runs: a QCoDeS database as index, raw chunks beside it.

Layout of an archive root (see `labctl.data.location` for where it is)::

    <root>/labctl.db                       QCoDeS SQLite database (WAL, synchronous=FULL)
    <root>/raw/run-<id>/block-000000.zip   one chunk per block (`labctl.data.chunks`)

A labctl **run** is one or more QCoDeS datasets ("segments"): the dataset
created when the run starts, and one more each time ``labctl resume``
continues it. The run's id is the QCoDeS run id of its first segment. Every
segment holds one row per **block**: ``block`` (the setpoint), the block's
scalar values, and the path, size and sha256 of its chunk. Run-level
provenance lives in the first segment's QCoDeS metadata (``labctl_*`` tags)
and its QCoDeS snapshot (``{"station": <station snapshot>}``); each segment
carries ``labctl_run_id`` and ``labctl_segment``. The runs therefore show up
as ordinary datasets in the QCoDeS tools.

Durability of a block, in this order: the chunk is written to a temporary
file, fsync-ed, renamed to its final name and its folder fsync-ed; then the
index row is inserted and committed (WAL, ``synchronous=FULL``). `RunWriter.append`
returns only after the commit. A kill -9 at any point loses at most the
block in flight; whatever it leaves behind has no index row and is ignored.

Every connection is explicit: nothing here reads or sets QCoDeS's global
``db_location``. A connection belongs to the thread that opened the archive.

Neighbours (`labctl.data.locking`, `labctl.data.storage`): several processes
may write one archive; each write transaction takes the write lock first and
waits for it up to ``lock_wait`` seconds, then says who holds it. An archive
whose folder or database this process cannot write, or one opened with
``read_only=True``, is read through a read-only SQLite connection
(``mode=ro``; ``immutable=1`` when no connection is open and the WAL is empty,
so nothing is created) and refuses every write in one line; runs whose writer
is gone then show as interrupted without being marked so. A full disk ends the
write in progress with `ArchiveFull` ("no space left on <path>"), rolled back
or removed; each writer keeps a small reserve file in its run's folder that it
gives back then, so that the run's end (``failed`` and why) can still be
committed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args
from urllib.parse import quote

import numpy as np
from numpy.typing import NDArray
from qcodes.dataset import (
    InterDependencies_,
    connect,
    load_by_id,
    load_or_create_experiment,
    new_data_set,
)
from qcodes.dataset.data_set import DataSet
from qcodes.dataset.sqlite.connection import AtomicConnection
from qcodes.dataset.sqlite.database import set_journal_mode
from qcodes.parameters import ParamSpecBase
from qcodes.utils import NumpyJSONEncoder

from labctl.data.chunks import ChunkRecord, ChunkStore
from labctl.data.export import run_to_xarray, write_netcdf
from labctl.data.liveness import Liveness, ProcessIdentity, current_process, liveness
from labctl.data.locking import LOCK_WAIT_S, begin_immediate, with_lock_wait
from labctl.data.runs import RunData, RunInfo, RunMetadata, RunStatus
from labctl.data.storage import (
    ArchiveBusy,
    ArchiveFull,
    ArchiveReadOnly,
    is_busy,
    is_out_of_space,
    is_read_only,
    out_of_space,
    writable,
)
from labctl.errors import LabctlError

log = logging.getLogger(__name__)

_STATUSES: tuple[str, ...] = get_args(RunStatus)

#: The index database's file name inside the archive root.
DATABASE_NAME = "labctl.db"
#: The QCoDeS sample name of every labctl dataset.
SAMPLE_NAME = "labctl"
#: Disk a writer sets aside to record its run's end on a full disk: QCoDeS rewrites the
#: run's index row, snapshot included, so a multiple of the snapshot, and at least this.
END_RESERVE_MIN_BYTES = 256 * 1024
_END_RESERVE_PER_SNAPSHOT_BYTE = 4
#: Parameters of every segment besides the run's own values.
RESERVED_NAMES = frozenset({"block", "chunk", "sha256", "size_bytes"})

# QCoDeS metadata tags (columns of the ``runs`` table).
_RUN_ID = "labctl_run_id"
_SEGMENT = "labctl_segment"
_STATUS = "labctl_status"
_REASON = "labctl_reason"
_STARTED = "labctl_started"
_ENDED = "labctl_ended"
_EXPERIMENT = "labctl_experiment"
_CONFIG = "labctl_config"
_STATION_PATH = "labctl_station_path"
_PROFILE = "labctl_profile"
_CODE_VERSION = "labctl_code_version"
_PLANNED_BLOCKS = "labctl_planned_blocks"
_VALUE_NAMES = "labctl_value_names"
_PID = "labctl_pid"
_HOSTNAME = "labctl_hostname"
_PROCESS_TOKEN = "labctl_process_token"


@dataclass(frozen=True)
class _Segment:
    """One QCoDeS dataset that belongs to a labctl run, as the index row says."""

    qcodes_run_id: int
    exp_id: int
    table: str
    completed: bool
    meta: Mapping[str, Any]

    @property
    def run_id(self) -> int:
        return int(self.meta[_RUN_ID])

    @property
    def index(self) -> int:
        return int(self.meta.get(_SEGMENT) or 0)


class Archive:
    """A labctl archive: ``<root>/labctl.db`` (QCoDeS) and ``<root>/raw/`` (chunks).

    ``read_only``: True opens it for reading only (nothing in the folder is
    written); None (the default) does so only when this process cannot write
    the folder or the database; False insists on writing (`ArchiveReadOnly`
    if it cannot). ``lock_wait``: seconds a write waits for the database's
    write lock held by another process before `ArchiveBusy`.
    """

    def __init__(self, root: Path, read_only: bool | None = None,
                 lock_wait: float = LOCK_WAIT_S) -> None:
        self.root = Path(root)
        self.database = self.root / DATABASE_NAME
        self.lock_wait = lock_wait
        self._chunks = ChunkStore(self.root)
        self._conn: AtomicConnection | None = None
        #: Why writes are refused ("" when they are not).
        self._read_only_because = ""
        if read_only is True:
            self._read_only_because = "opened read-only"
        elif self.root.is_dir() and not (writable(self.root) and writable(self.database)):
            if read_only is False:
                raise ArchiveReadOnly(f"the archive {self.root} is read-only: this process "
                                      "cannot write it")
            self._read_only_because = "this process cannot write it"
            log.info("the archive %s is read-only (%s); reading only", self.root,
                     self._read_only_because)
        if self._read_only_because:
            self._conn = self._open_read_only()
        else:
            self._conn = self._open_writable()

    @property
    def read_only(self) -> bool:
        """Whether this archive refuses writes (see the class's ``read_only``)."""
        return bool(self._read_only_because)

    def _open_writable(self) -> AtomicConnection:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise LabctlError(f"cannot create the archive folder {self.root}: "
                              f"{error.strerror}") from None
        what = f"cannot open the archive database {self.database}"
        try:
            # QCoDeS creates its schema in a plain transaction: a neighbour creating it
            # too (or holding the lock) makes it fail at once, so it is waited out here.
            conn = with_lock_wait(self.database, lambda: connect(_uri(self.database)),
                                  what, self.lock_wait)
        except (sqlite3.Error, RuntimeError) as error:
            raise self._refusal(what, error) from None
        try:
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() != "wal":   # once set, WAL is a property of the file
                with_lock_wait(self.database, lambda: set_journal_mode(conn, "WAL"), what,
                               self.lock_wait)
            # FULL: a commit survives a power cut, not only a killed process.
            conn.execute("PRAGMA synchronous=FULL")
        except (sqlite3.Error, RuntimeError) as error:
            conn.close()
            raise self._refusal(what, error) from None
        return conn

    def _open_read_only(self) -> AtomicConnection | None:
        """A read-only connection (None: no database yet, so no runs)."""
        if not self.database.exists():
            return None
        # Without a -shm file no connection is open (a writer keeps it while it lives)
        # and the WAL is empty: immutable=1 reads the file and creates nothing (mode=ro
        # would create the -shm, and cannot where the folder is read-only). Otherwise
        # mode=ro, which follows a live writer's commits through its -shm file.
        shm = Path(f"{self.database}-shm")
        wal = Path(f"{self.database}-wal")
        immutable = not shm.exists() and not (wal.exists() and wal.stat().st_size > 0)
        query = "immutable=1" if immutable else "mode=ro"
        try:
            return connect(f"{_uri(self.database)}?{query}")
        except (sqlite3.Error, RuntimeError) as error:
            raise LabctlError(f"cannot open the archive database {self.database} for "
                              f"reading: {_one_line(_cause(error))}") from None

    def check_writable(self, action: str) -> None:
        """`ArchiveReadOnly` (one line, naming the archive) if writes are refused."""
        if self._read_only_because:
            raise ArchiveReadOnly(f"{action}: the archive {self.root} is read-only "
                                  f"({self._read_only_because})")

    def _refusal(self, action: str, error: BaseException) -> LabctlError:
        """A storage failure (a full disk, a read-only file, ...) as one line."""
        cause = _cause(error)
        if isinstance(cause, LabctlError):
            return cause
        if is_out_of_space(cause):
            return out_of_space(self.root, action, cause)
        if is_read_only(cause):
            return ArchiveReadOnly(f"{action}: the archive {self.root} is read-only "
                                   f"({_one_line(cause)})")
        if is_busy(cause):
            return ArchiveBusy(f"{action}: the database {self.database} is locked "
                               f"({_one_line(cause)})")
        return LabctlError(f"{action} in {self.database}: {_one_line(cause)}")

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the database connection (writers of this archive stop working)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- writing ---------------------------------------------------------------------

    def create_run(self, metadata: RunMetadata, value_names: Sequence[str]) -> RunWriter:
        """Start a new run: its first segment, provenance and writer, committed at once."""
        self.check_writable("cannot create a run")
        names = _check_value_names(value_names)
        if not isinstance(metadata.experiment, str) or not metadata.experiment.strip():
            raise LabctlError("a run needs an experiment name")
        planned = metadata.planned_blocks
        if planned is not None and (isinstance(planned, bool) or not isinstance(planned, int)
                                    or planned < 0):
            raise LabctlError(f"planned_blocks must be a non-negative integer or None, "
                              f"not {planned!r}")
        config_json = _to_json(metadata.config, "the run's config")
        snapshot_json = _to_json({"station": metadata.station_snapshot}, "the station snapshot")
        writer_process = current_process()
        tags: dict[str, Any] = {
            _SEGMENT: 0,
            _STATUS: "running",
            _REASON: "",
            _STARTED: _now(),
            _ENDED: "",
            _EXPERIMENT: metadata.experiment,
            _CONFIG: config_json,
            _STATION_PATH: str(metadata.station_path),
            _PROFILE: str(metadata.profile),
            _CODE_VERSION: str(metadata.code_version),
            _VALUE_NAMES: json.dumps(list(names)),
            **_process_tags(writer_process),
        }
        if planned is not None:
            tags[_PLANNED_BLOCKS] = planned
        with self._transaction("cannot create a run"):
            conn = self._connection()
            experiment = load_or_create_experiment(metadata.experiment, SAMPLE_NAME,
                                                   conn=conn, load_last_duplicate=True)
            dataset = new_data_set(metadata.experiment, exp_id=experiment.exp_id,
                                   conn=conn, metadata=tags, in_memory_cache=False)
            dataset.add_metadata(_RUN_ID, dataset.run_id)
            dataset.add_snapshot(snapshot_json)
            dataset.set_interdependencies(_interdependencies(names))
            dataset.mark_started()
            self._move_stale_chunks(dataset.run_id)
        log.info("run %d (%s) started in %s", dataset.run_id, metadata.experiment, self.root)
        self._reserve(dataset.run_id, len(snapshot_json))
        return RunWriter(self, run_id=dataset.run_id, dataset=dataset, first=dataset,
                         value_names=names, next_block=0)

    def resume_run(self, run_id: int) -> RunWriter:
        """Continue an unfinished run in a new segment; block numbering carries on."""
        self.check_writable(f"cannot resume run {run_id}")
        _check_resumable(run_id, self._segments_of(run_id)[0].meta)
        writer_process = current_process()
        with self._transaction(f"cannot resume run {run_id}"):
            conn = self._connection()
            # Take the write lock first, then decide on what is now in the index:
            # of two processes resuming the same run at once, only one succeeds.
            conn.execute(f'UPDATE runs SET "{_STATUS}" = "{_STATUS}" WHERE run_id = ?',
                         (run_id,))
            segments = self._segments_of(run_id)
            first = segments[0]
            _check_resumable(run_id, first.meta)
            names = tuple(json.loads(first.meta.get(_VALUE_NAMES) or "[]"))
            next_block = max((self._block_stats(s)[1] for s in segments), default=-1) + 1
            index = max(s.index for s in segments) + 1
            experiment = str(first.meta.get(_EXPERIMENT, ""))
            self._close_segments(segments)
            first_dataset = self._dataset(first.qcodes_run_id)
            for tag, value in {_STATUS: "running", _REASON: "", _ENDED: "",
                               **_process_tags(writer_process)}.items():
                first_dataset.add_metadata(tag, value)
            dataset = new_data_set(f"{experiment} (run {run_id}, segment {index})",
                                   exp_id=first.exp_id, conn=conn, in_memory_cache=False,
                                   metadata={_RUN_ID: run_id, _SEGMENT: index,
                                             **_process_tags(writer_process)})
            dataset.set_interdependencies(_interdependencies(names))
            dataset.mark_started()
        removed = self._chunks.remove_leftovers(run_id)
        if removed:
            log.info("run %d: removed %d temporary chunk file(s) left by a crash", run_id,
                     removed)
        log.info("run %d resumed at block %d (segment %d, QCoDeS run %d)", run_id,
                 next_block, index, dataset.run_id)
        self._reserve(run_id, len(first_dataset.snapshot_raw or ""))
        return RunWriter(self, run_id=run_id, dataset=dataset, first=first_dataset,
                         value_names=names, next_block=next_block)

    def reconcile(self) -> list[int]:
        """Mark runs whose writer process is gone as interrupted; their ids.

        A read-only archive is left as it is (it shows such runs as interrupted).
        """
        reconciled: list[int] = []
        if self.read_only:
            return reconciled
        for run_id, segments in self._runs().items():
            first = segments[0]
            if first.meta.get(_STATUS) != "running":
                continue
            writer = _identity(first.meta)
            if liveness(writer) is not Liveness.GONE:
                continue
            reason = _writer_gone(writer)
            with self._transaction(f"cannot reconcile run {run_id}"):
                dataset = self._dataset(first.qcodes_run_id)
                dataset.add_metadata(_STATUS, "interrupted")
                dataset.add_metadata(_REASON, reason)
                self._close_segments(segments)
            log.warning("run %d: %s; marked interrupted", run_id, reason)
            reconciled.append(run_id)
        return reconciled

    # -- reading ---------------------------------------------------------------------

    def runs(self) -> list[RunInfo]:
        """Every logical run, oldest first."""
        return [self._info(segments) for segments in self._runs().values()]

    def info(self, run_id: int) -> RunInfo:
        """One run's description; `LabctlError` if there is no such run."""
        return self._info(self._segments_of(run_id))

    def load(self, run_id: int) -> RunData:
        """A run's blocks over all its segments, every chunk checked against the index."""
        segments = self._segments_of(run_id)
        info = self._info(segments)
        names = tuple(json.loads(segments[0].meta.get(_VALUE_NAMES) or "[]"))
        blocks: list[NDArray[np.int64]] = []
        values: dict[str, list[NDArray[np.float64]]] = {name: [] for name in names}
        records: list[ChunkRecord | None] = []
        for segment in segments:
            rows = self._segment_rows(segment, names)
            blocks.append(rows["block"].astype(np.int64))
            for name in names:
                values[name].append(rows[name].astype(np.float64))
            records.extend(
                ChunkRecord(path=str(path), sha256=str(digest), size_bytes=int(size))
                if path else None
                for path, digest, size in zip(rows["chunk"], rows["sha256"],
                                              rows["size_bytes"], strict=True))
        all_blocks = np.concatenate(blocks) if blocks else np.empty(0, np.int64)
        corrupt = []
        for block, record in zip(all_blocks.tolist(), records, strict=True):
            if record is None:
                continue
            problem = self._chunks.problem(record)
            if problem is not None:
                log.warning("run %d block %d: %s", run_id, block, problem)
                corrupt.append(block)
        return RunData(
            info=info, blocks=all_blocks,
            values={name: np.concatenate(parts) if parts else np.empty(0)
                    for name, parts in values.items()},
            corrupt=tuple(corrupt), _records=tuple(records), _store=self._chunks)

    def station_snapshot(self, run_id: int) -> dict[str, Any]:
        """The station snapshot recorded when the run started."""
        first = self._segments_of(run_id)[0]
        snapshot = self._dataset(first.qcodes_run_id).snapshot or {}
        station = snapshot.get("station", snapshot)
        return dict(station) if isinstance(station, Mapping) else {}

    def to_xarray(self, run_id: int, include_arrays: bool = True) -> Any:
        """The run as an ``xarray.Dataset`` (see `labctl.data.export`)."""

        return run_to_xarray(self.load(run_id), include_arrays=include_arrays)

    def export_netcdf(self, run_id: int, path: Path, include_arrays: bool = True,
                      overwrite: bool = False) -> Path:
        """Write the run to a netCDF4 file (a folder gets ``run-<id>.nc``); its path.

        An existing file is replaced only with ``overwrite`` (`LabctlError` otherwise,
        before anything is read or written).
        """
        target = Path(path)
        if target.is_dir():
            target = target / f"run-{run_id}.nc"
        if target.exists() and not overwrite:
            raise LabctlError(f"{target} exists; not overwriting it (use --force to replace it)")
        return write_netcdf(self.to_xarray(run_id, include_arrays=include_arrays), target)

    # -- internals -------------------------------------------------------------------

    def _connection(self) -> AtomicConnection:
        if self._conn is None:
            raise LabctlError(f"the archive {self.root} is closed")
        return self._conn

    @contextlib.contextmanager
    def _transaction(self, action: str) -> Iterator[AtomicConnection]:
        """One committed SQLite transaction; failures become a one-line `LabctlError`.

        It begins with the write lock (``BEGIN IMMEDIATE``, waited for up to
        ``lock_wait``) and is marked atomic for QCoDeS, whose own `atomic`
        blocks inside it are then nested and commit nothing themselves.
        """
        self.check_writable(action)
        conn = self._connection()
        if conn.in_transaction or conn.atomic_in_progress:
            raise LabctlError(f"{action}: a transaction on {self.database} is already open")
        level = conn.isolation_level
        conn.isolation_level = None   # no implicit BEGIN: this one is explicit
        try:
            begin_immediate(conn, self.database, action, self.lock_wait)
            conn.atomic_in_progress = True
            try:
                yield conn
                conn.commit()
            except (sqlite3.Error, RuntimeError) as error:
                raise self._refusal(action, error) from error
            finally:
                conn.atomic_in_progress = False
                if conn.in_transaction:   # a failure, or Ctrl-C: never leave it open
                    conn.rollback()
        except sqlite3.Error as error:   # BEGIN itself
            raise self._refusal(action, error) from error
        finally:
            conn.isolation_level = level

    def _dataset(self, qcodes_run_id: int) -> DataSet:
        dataset = load_by_id(qcodes_run_id, conn=self._connection())
        if not isinstance(dataset, DataSet):
            raise LabctlError(f"QCoDeS run {qcodes_run_id} in {self.database} is not "
                              "stored in the database")
        return dataset

    def _catalogue(self, run_id: int | None = None) -> list[_Segment]:
        """Index rows of labctl segments (all, or those of one run), oldest first."""
        if self._conn is None and self.read_only and not self.database.exists():
            return []   # a read-only folder without a database holds no runs
        conn = self._connection()
        try:
            columns = [row[1] for row in conn.execute("PRAGMA table_info(runs)")]
            if _RUN_ID not in columns:
                return []
            tags = [c for c in columns if c.startswith("labctl_")]
            select = ", ".join(f'"{tag}"' for tag in tags)
            sql = (f'SELECT run_id, exp_id, result_table_name, is_completed, {select} '
                   f'FROM runs WHERE "{_RUN_ID}" IS NOT NULL')
            parameters: tuple[int, ...] = ()
            if run_id is not None:
                sql += f' AND "{_RUN_ID}" = ?'
                parameters = (run_id,)
            rows = conn.execute(sql + " ORDER BY run_id", parameters).fetchall()
        except sqlite3.Error as error:
            raise LabctlError(f"cannot read the run index {self.database}: "
                              f"{_one_line(error)}") from None
        return [_Segment(qcodes_run_id=row[0], exp_id=row[1], table=row[2],
                         completed=bool(row[3]),
                         meta={tag: value for tag, value in zip(tags, row[4:], strict=True)
                               if value is not None})
                for row in rows]

    def _runs(self) -> dict[int, list[_Segment]]:
        """Logical runs by id (oldest first), each with its segments in order."""
        grouped: dict[int, list[_Segment]] = {}
        for segment in self._catalogue():
            grouped.setdefault(segment.run_id, []).append(segment)
        return {run_id: sorted(segments, key=lambda s: s.index)
                for run_id, segments in sorted(grouped.items())
                if any(s.index == 0 and s.qcodes_run_id == run_id for s in segments)}

    def _segments_of(self, run_id: int) -> list[_Segment]:
        if isinstance(run_id, bool) or not isinstance(run_id, int | np.integer):
            raise LabctlError(f"a run id is a whole number, not {run_id!r}")
        run_id = int(run_id)
        segments = sorted(self._catalogue(run_id), key=lambda s: s.index)
        if not segments or segments[0].index != 0 or segments[0].qcodes_run_id != run_id:
            hint = ""
            owner = [s for s in self._catalogue() if s.qcodes_run_id == run_id]
            if owner:
                hint = (f" (QCoDeS run {run_id} is segment {owner[0].index} of run "
                        f"{owner[0].run_id})")
            raise LabctlError(f"no run {run_id} in {self.root}{hint}")
        return segments

    def _block_stats(self, segment: _Segment) -> tuple[int, int]:
        """Number of blocks and the highest block index (-1 if none) of a segment."""
        try:
            count, highest = self._connection().execute(
                f'SELECT COUNT(*), MAX("block") FROM "{segment.table}"').fetchone()
        except sqlite3.Error as error:
            raise LabctlError(f"cannot read QCoDeS run {segment.qcodes_run_id} in "
                              f"{self.database}: {_one_line(error)}") from None
        return int(count), -1 if highest is None else int(highest)

    def _segment_rows(self, segment: _Segment, names: tuple[str, ...]
                      ) -> dict[str, NDArray[Any]]:
        """One segment's block rows through the QCoDeS API, sorted by block."""
        data = self._dataset(segment.qcodes_run_id).get_parameter_data()
        rows: dict[str, NDArray[Any]] = {}
        order: NDArray[np.intp] | None = None
        for name in ("chunk", *names, "sha256", "size_bytes"):
            tree = data.get(name, {})
            column = np.asarray(tree.get(name, np.empty(0))).ravel()
            block = np.asarray(tree.get("block", np.empty(0))).ravel()
            by_block = np.argsort(block, kind="stable")
            if order is None:
                order = by_block
                rows["block"] = block[by_block]
            elif not np.array_equal(block[by_block], rows["block"]):
                raise LabctlError(f"QCoDeS run {segment.qcodes_run_id} has rows with "
                                  f"missing '{name}' values")
            rows[name] = column[by_block]
        return rows

    def _info(self, segments: list[_Segment]) -> RunInfo:
        first = segments[0].meta
        status = first.get(_STATUS, "running")
        reason = first.get(_REASON) or None
        if status == "running" and self.read_only:   # what reconcile() would record
            writer = _identity(first)
            if liveness(writer) is Liveness.GONE:
                status, reason = "interrupted", _writer_gone(writer)
        planned = first.get(_PLANNED_BLOCKS)
        return RunInfo(
            run_id=segments[0].run_id,
            experiment=str(first.get(_EXPERIMENT, "")),
            status=status if status in _STATUSES else "failed",
            blocks=sum(self._block_stats(s)[0] for s in segments),
            started=str(first.get(_STARTED, "")),
            ended=first.get(_ENDED) or None,
            reason=reason,
            station_path=str(first.get(_STATION_PATH, "")),
            profile=str(first.get(_PROFILE, "")),
            config=json.loads(first.get(_CONFIG) or "{}"),
            code_version=str(first.get(_CODE_VERSION, "")),
            planned_blocks=None if planned is None else int(planned),
            segments=tuple(s.qcodes_run_id for s in segments))

    def _close_segments(self, segments: list[_Segment]) -> None:
        """Mark the QCoDeS datasets of dead writers completed (inside a transaction)."""
        for segment in segments:
            if not segment.completed:
                self._dataset(segment.qcodes_run_id).mark_completed()

    def _reserve(self, run_id: int, snapshot_bytes: int) -> None:
        size = max(END_RESERVE_MIN_BYTES, _END_RESERVE_PER_SNAPSHOT_BYTE * snapshot_bytes)
        if not self._chunks.reserve(run_id, size):
            log.warning("run %d: no room for its reserve of %d bytes in %s; on a full disk "
                        "its end may not be recorded", run_id, size, self.root)

    def _move_stale_chunks(self, run_id: int) -> None:
        """Chunks of a run id the index does not know (an old database) are moved aside."""
        folder = self._chunks.run_dir(run_id)
        if not folder.exists():
            return
        stale = folder.with_name(f"{folder.name}.stale-{datetime.now(UTC):%Y%m%dT%H%M%S}")
        log.warning("%s belongs to no run in %s; moving it to %s", folder, self.database,
                    stale.name)
        try:
            shutil.move(folder, stale)
        except OSError as error:
            raise LabctlError(f"cannot move the stale chunk folder {folder} aside: "
                              f"{error.strerror}") from None


class RunWriter:
    """Appends the blocks of one run (one segment of it) durably, and ends it."""

    def __init__(self, archive: Archive, *, run_id: int, dataset: DataSet, first: DataSet,
                 value_names: tuple[str, ...], next_block: int) -> None:
        self.run_id = run_id
        #: Index of the next block; it continues across resumptions.
        self.next_block = next_block
        self.value_names = value_names
        self._archive = archive
        self._dataset = dataset
        self._first = first
        self._finished = False

    @property
    def finished(self) -> bool:
        """Whether `finish` was called (the writer accepts nothing more)."""
        return self._finished

    @property
    def qcodes_run_id(self) -> int:
        """The QCoDeS run id of the segment this writer appends to."""
        return self._dataset.run_id

    def append(self, values: Mapping[str, float], arrays: Mapping[str, NDArray[Any]]) -> int:
        """Store one block; it is durable when this returns. Returns its index.

        ``values`` are the block's scalars (names given when the run was
        created; a missing one is stored as NaN); ``arrays`` go to the block's
        chunk (none is written when it is empty).
        """
        self._check_writable()
        block = self.next_block
        row: dict[str, Any] = {"block": block, **self._scalars(block, values)}
        try:
            record = (self._archive._chunks.write(self.run_id, block, arrays) if arrays
                      else None)
        except ArchiveFull:
            self._archive._chunks.release(self.run_id)   # make room to record the end
            raise
        row.update(chunk=record.path if record else "", sha256=record.sha256 if record else "",
                   size_bytes=record.size_bytes if record else 0)
        try:
            with self._archive._transaction(f"cannot record block {block} of run "
                                            f"{self.run_id}"):
                self._dataset.add_results([row])
        except BaseException as error:
            if record is not None:   # unindexed: remove it (and free its space)
                self._archive._chunks.discard(self.run_id, block)
            if isinstance(error, ArchiveFull):   # make room to record the run's end
                self._archive._chunks.release(self.run_id)
            raise
        self.next_block = block + 1
        return block

    def finish(self, status: RunStatus, reason: str | None = None) -> None:
        """End the run with ``status``; the segment's dataset is marked completed."""
        self._check_writable()
        _check_status(status)
        if status == "running":
            raise LabctlError("a run cannot finish as 'running' (completed, interrupted or "
                              "failed)")
        self._archive._chunks.release(self.run_id)   # its room is for this last commit
        with self._archive._transaction(f"cannot finish run {self.run_id}"):
            self._set(status, reason, ended=_now())
            self._dataset.mark_completed()
        self._finished = True
        log.info("run %d %s after %d blocks%s", self.run_id, status, self.next_block,
                 f": {reason}" if reason else "")

    def mark(self, status: RunStatus, reason: str | None = None) -> None:
        """Record a status without ending the run (``running`` clears reason and end)."""
        self._check_writable()
        _check_status(status)
        if status == "completed":
            raise LabctlError("a run is completed by finish(), not by mark()")
        with self._archive._transaction(f"cannot update run {self.run_id}"):
            self._set(status, reason, ended="" if status == "running" else None)

    def _set(self, status: str, reason: str | None, ended: str | None) -> None:
        self._first.add_metadata(_STATUS, status)
        self._first.add_metadata(_REASON, "" if reason is None else " ".join(reason.split()))
        if ended is not None:
            self._first.add_metadata(_ENDED, ended)

    def _scalars(self, block: int, values: Mapping[str, float]) -> dict[str, float]:
        unknown = [name for name in values if name not in self.value_names]
        if unknown:
            known = ", ".join(self.value_names) or "none"
            raise LabctlError(f"run {self.run_id} block {block}: unknown value "
                              f"{unknown[0]!r} (the run records: {known})")
        scalars = {}
        for name in self.value_names:
            value = values.get(name, np.nan)
            try:
                scalars[name] = float(value)
            except (TypeError, ValueError):
                raise LabctlError(f"run {self.run_id} block {block}: value {name!r} is not "
                                  f"a number: {value!r}") from None
        return scalars

    def _check_writable(self) -> None:
        if self._finished:
            raise LabctlError(f"run {self.run_id} is finished; resume it to add blocks")
        self._archive.check_writable(f"cannot write run {self.run_id}")
        self._archive._connection()


def _interdependencies(names: tuple[str, ...]) -> InterDependencies_:
    """Block rows: every value and the chunk's path, sha256 and size depend on ``block``."""
    block = ParamSpecBase("block", "numeric", label="block index")
    dependents = [
        *(ParamSpecBase(name, "numeric") for name in names),
        ParamSpecBase("chunk", "text", label="chunk path relative to the archive"),
        ParamSpecBase("sha256", "text", label="sha256 of the chunk"),
        ParamSpecBase("size_bytes", "numeric", label="chunk size", unit="B"),
    ]
    return InterDependencies_(dependencies={spec: (block,) for spec in dependents})


def _check_value_names(value_names: Sequence[str]) -> tuple[str, ...]:
    if isinstance(value_names, str):
        raise LabctlError("value_names must be a sequence of names, not one string")
    names = tuple(value_names)
    for name in names:
        if not isinstance(name, str) or not name.isidentifier():
            raise LabctlError(f"value name {name!r} is not a valid identifier")
        if name in RESERVED_NAMES:
            raise LabctlError(f"value name {name!r} is reserved by the archive "
                              f"({', '.join(sorted(RESERVED_NAMES))})")
    if len(set(names)) != len(names):
        duplicate = next(name for name in names if names.count(name) > 1)
        raise LabctlError(f"value name {duplicate!r} is given twice")
    _check_insertable(names)
    return names


def _check_insertable(names: tuple[str, ...]) -> None:
    """Refuse names QCoDeS cannot insert: it leaves column names unquoted (``index``).

    Probed on a scratch in-memory table with the statement QCoDeS will use.
    """
    with contextlib.closing(sqlite3.connect(":memory:")) as scratch:
        for name in names:
            scratch.execute(f'CREATE TABLE "probe_{name}" ("{name}")')
            try:
                scratch.execute(f'EXPLAIN INSERT INTO "probe_{name}" ({name}) VALUES (?)',
                                (None,))
            except sqlite3.OperationalError:
                raise LabctlError(f"value name {name!r} is an SQL keyword, which QCoDeS "
                                  "cannot store; choose another") from None


def _check_resumable(run_id: int, first: Mapping[str, Any]) -> None:
    status = first.get(_STATUS)
    if status == "completed":
        raise LabctlError(f"run {run_id} is completed; only an interrupted or failed run "
                          "can be resumed")
    if status == "running":
        writer = _identity(first)
        state = liveness(writer)
        if state is Liveness.ALIVE:
            raise LabctlError(f"run {run_id} is still being written by process "
                              f"{writer.pid} on {writer.hostname}")
        if state is Liveness.UNKNOWN:
            raise LabctlError(f"run {run_id} is marked running by process {writer.pid} on "
                              f"{writer.hostname}; resume it there")


def _check_status(status: str) -> None:
    if status not in _STATUSES:
        raise LabctlError(f"unknown run status {status!r} (one of: {', '.join(_STATUSES)})")


def _process_tags(process: ProcessIdentity) -> dict[str, Any]:
    return {_PID: process.pid, _HOSTNAME: process.hostname,
            _PROCESS_TOKEN: process.start_token}


def _identity(meta: Mapping[str, Any]) -> ProcessIdentity:
    return ProcessIdentity(pid=int(meta.get(_PID) or 0), hostname=str(meta.get(_HOSTNAME, "")),
                           start_token=str(meta.get(_PROCESS_TOKEN) or ""))


def _writer_gone(writer: ProcessIdentity) -> str:
    return f"process {writer.pid} on {writer.hostname} ended without finishing the run"


def _uri(database: Path) -> str:
    """``database`` as the path part of an SQLite ``file:`` URI (QCoDeS adds ``file:``)."""
    return quote(os.fspath(database.absolute()))


def _cause(error: BaseException) -> BaseException:
    """The error under QCoDeS's "Rolling back due to unhandled exception" wrapper."""
    while isinstance(error, RuntimeError) and error.__cause__ is not None:
        error = error.__cause__
    return error


def _to_json(value: Any, what: str) -> str:
    try:
        return json.dumps(value, cls=NumpyJSONEncoder, sort_keys=True)
    except (TypeError, ValueError) as error:
        raise LabctlError(f"{what} cannot be stored as JSON: {error}") from None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _one_line(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return " ".join(text.split())


__all__ = ["Archive", "ArchiveBusy", "ArchiveFull", "ArchiveReadOnly", "RunData",
           "RunInfo", "RunMetadata", "RunStatus", "RunWriter"]
