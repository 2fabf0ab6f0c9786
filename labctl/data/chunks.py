"""The raw chunk store: one durably written file per block, checked by sha256.

Raw time tags are too large for SQLite blobs, so every block's arrays go to
their own file beside the index database::

    <root>/raw/run-<run_id>/block-<index:06d>.zip

A chunk is a ZIP archive of Blosc2-compressed arrays with a JSON manifest,
timestamps delta-encoded (`labctl.data.chunk_format`, which says how standard
tools read it); chunks that older labctl versions wrote (``.npz``, plain
``numpy.savez``) stay readable.

Writing is crash-safe: the bytes go to a temporary file in the same folder,
are flushed, hashed (sha256, read back from the file) and ``fsync``-ed; the
file is atomically renamed to its final name, and the folder is ``fsync``-ed
so the rename itself is on disk. Only then does the archive commit the
block's index row (path, size, sha256).
A kill at any moment therefore leaves either a complete, indexed chunk or an
unindexed leftover (a ``.tmp`` file or an orphan chunk) that readers ignore
and a resumed run overwrites. A failed write (a full disk: `ArchiveFull`,
"no space left on <folder>") removes its temporary file at once, and a chunk
whose index row could not be committed is removed by the archive.

Reading checks the size and the sha256 recorded in the index before a single
array is decoded, so a truncated, corrupted or missing chunk is reported as
a `ChunkError` for that block alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

import numpy as np
from numpy.typing import NDArray

from labctl.data.chunk_format import SUFFIX, ChunkFormatError, read_arrays, write_arrays
from labctl.data.storage import is_out_of_space, out_of_space
from labctl.errors import LabctlError

#: The folder under the archive root that holds the chunks.
RAW_DIR = "raw"
#: Suffix of the files being written; anything with it is a leftover of a crash.
TEMP_SUFFIX = ".tmp"
#: A writer's reserve of disk space for recording the run's end (a leftover after a kill).
RESERVE_NAME = ".end-reserve"


class ChunkError(LabctlError):
    """A chunk cannot be written, or is missing, truncated or fails its checksum."""


@dataclass(frozen=True)
class ChunkRecord:
    """What the index stores about one chunk."""

    #: Path relative to the archive root, with ``/`` separators.
    path: str
    sha256: str
    size_bytes: int


class ChunkStore:
    """The chunk files of one archive (``<root>/raw``)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.raw = self.root / RAW_DIR
        self._durable_dirs: set[Path] = set()

    def run_dir(self, run_id: int) -> Path:
        """The folder of one run's chunks."""
        return self.raw / f"run-{run_id}"

    def chunk_path(self, run_id: int, block: int) -> Path:
        """Where block ``block`` of run ``run_id`` is stored."""
        return self.run_dir(run_id) / f"block-{block:06d}{SUFFIX}"

    def write(self, run_id: int, block: int,
              arrays: Mapping[str, NDArray[Any]]) -> ChunkRecord:
        """Write one block's arrays durably; the returned record goes into the index.

        When this returns, the chunk's bytes and its name are on disk. An
        existing file of the same name (an orphan from a crash) is replaced.
        """
        checked = check_arrays(arrays)
        final = self.chunk_path(run_id, block)
        folder = final.parent
        temp = folder / f".{final.name}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}"
        try:
            self._make_durable_dir(folder)
            fd = os.open(temp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
            with os.fdopen(fd, "w+b") as file:
                write_arrays(file, checked)
                file.flush()
                file.seek(0)  # hash the bytes as the file holds them
                digest = hashlib.file_digest(file, "sha256").hexdigest()
                size = file.tell()
                os.fsync(file.fileno())
                _drop_from_cache(file.fileno())
            os.replace(temp, final)
            _fsync_dir(folder)
        except BaseException as error:
            with contextlib.suppress(OSError):
                temp.unlink()
            if isinstance(error, OSError) and is_out_of_space(error):
                raise out_of_space(folder, f"block {block} of run {run_id} was not written",
                                   error) from None
            if isinstance(error, OSError):
                raise ChunkError(f"run {run_id} block {block}: cannot write chunk {final}: "
                                 f"{error.strerror or type(error).__name__}") from None
            raise
        relative = PurePosixPath(RAW_DIR, folder.name, final.name)
        return ChunkRecord(path=str(relative), sha256=digest, size_bytes=size)

    def reserve(self, run_id: int, size: int) -> bool:
        """Set ``size`` bytes of disk aside in the run's folder; False if they do not fit.

        On a full disk the writer releases them (`release`) so that the run's
        end can still be recorded: SQLite needs room for that commit.
        """
        path = self.run_dir(run_id) / RESERVE_NAME
        try:
            self._make_durable_dir(path.parent)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
            try:
                if hasattr(os, "posix_fallocate"):
                    os.posix_fallocate(fd, 0, size)
                else:
                    os.write(fd, bytes(size))
            finally:
                os.close(fd)
        except OSError:
            with contextlib.suppress(OSError):
                path.unlink()
            return False
        return True

    def release(self, run_id: int) -> None:
        """Give a run's reserve of disk space back (no-op if it has none)."""
        with contextlib.suppress(OSError):
            (self.run_dir(run_id) / RESERVE_NAME).unlink()

    def discard(self, run_id: int, block: int) -> None:
        """Remove a block's chunk that did not make it into the index (if it is there)."""
        with contextlib.suppress(OSError):
            self.chunk_path(run_id, block).unlink()

    def problem(self, record: ChunkRecord) -> str | None:
        """Why the chunk does not match its record (None if it does)."""
        try:
            with self._verified(record):
                return None
        except ChunkError as error:
            return str(error)

    def read(self, record: ChunkRecord, names: tuple[str, ...] | None = None
             ) -> dict[str, NDArray[Any]]:
        """The chunk's arrays (all, or only ``names`` that it holds), checksum verified."""
        with self._verified(record) as (path, file):
            file.seek(0)
            try:
                return read_arrays(file, names, str(path))
            except ChunkFormatError as error:
                raise ChunkError(str(error)) from None

    @contextlib.contextmanager
    def _verified(self, record: ChunkRecord) -> Iterator[tuple[Path, BinaryIO]]:
        """The chunk's file, open, after its size and sha256 matched the record."""
        path = self._resolve(record)
        try:
            file = path.open("rb")
        except FileNotFoundError:
            raise ChunkError(f"chunk {path} is missing") from None
        except OSError as error:
            raise ChunkError(f"cannot read chunk {path}: {error.strerror}") from None
        with file:
            try:
                size = os.fstat(file.fileno()).st_size
                if size != record.size_bytes:
                    raise ChunkError(_size_problem(path, size, record.size_bytes))
                digest = hashlib.file_digest(file, "sha256").hexdigest()
            except OSError as error:
                raise ChunkError(f"cannot read chunk {path}: {error.strerror}") from None
            if digest != record.sha256:
                raise ChunkError(f"chunk {path} fails its sha256 checksum")
            yield path, file

    def remove_leftovers(self, run_id: int) -> int:
        """Delete temporary files (and the reserve) a crashed writer left; how many."""
        folder = self.run_dir(run_id)
        removed = 0
        if not folder.is_dir():
            return 0
        self.release(run_id)
        for leftover in folder.glob(f".block-*{TEMP_SUFFIX}"):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
                removed += 1
        return removed

    def _resolve(self, record: ChunkRecord) -> Path:
        relative = PurePosixPath(record.path)
        if (relative.is_absolute() or ".." in relative.parts or not relative.parts
                or relative.parts[0] != RAW_DIR):
            raise ChunkError(f"chunk path {record.path!r} is outside {self.raw}")
        return self.root.joinpath(*relative.parts)

    def _make_durable_dir(self, folder: Path) -> None:
        """Create ``folder`` (and ``raw/``) so that their names survive a power cut."""
        if folder in self._durable_dirs:
            return
        for directory in (self.raw, folder):
            if not directory.is_dir():
                directory.mkdir(parents=True, exist_ok=True)
                _fsync_dir(directory.parent)
        self._durable_dirs.add(folder)


def check_arrays(arrays: Mapping[str, NDArray[Any]]) -> dict[str, NDArray[Any]]:
    """``arrays`` as numpy arrays, refusing what a chunk cannot hold safely."""
    checked: dict[str, NDArray[Any]] = {}
    for name, value in arrays.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ChunkError(f"array name {name!r} is not a valid identifier")
        array = np.asarray(value)
        if array.dtype.hasobject:
            raise ChunkError(f"array {name!r} holds Python objects; only plain numeric, "
                             "boolean or fixed-size string arrays can be archived")
        checked[name] = array
    return checked


def _size_problem(path: Path, size: int, expected: int) -> str:
    what = "truncated" if size < expected else "longer than recorded"
    return f"chunk {path} is {what} ({size} bytes, expected {expected})"


def _drop_from_cache(fd: int) -> None:
    """Release a synced chunk's pages: it is written once and read much later.

    Streaming gigabytes through fresh page-cache pages is what makes large
    writes slow (much of the time on virtual machines); SQLite's WAL gets
    away with it by reusing the same pages.
    """
    if hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


def _fsync_dir(directory: Path) -> None:
    """Make a rename or creation inside ``directory`` durable (POSIX)."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(directory, flags)
    except OSError:
        if os.name == "nt":  # Windows cannot open directories; NTFS journals renames
            return
        raise
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
