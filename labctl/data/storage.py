"""How the archive's storage says no: a read-only archive, a full disk, a held lock.

Each refusal is a `LabctlError` with one line that names the path, so the
CLI prints it as is and the engine records it as the run's reason:

- `ArchiveReadOnly`: the archive was opened for reading (explicitly, or
  because its folder or database cannot be written); every write is refused
  before anything is touched;
- `ArchiveFull`: the file system refused bytes (``ENOSPC``, a quota, a file
  size limit) or SQLite reported ``SQLITE_FULL``; what was being written is
  rolled back or removed, so nothing half-written stays behind;
- `ArchiveBusy`: another process kept the database's write lock for longer
  than the archive waits for it (`labctl.data.locking`).
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from labctl.errors import LabctlError

#: OS errors meaning "no more bytes fit here" (a full disk, a quota, RLIMIT_FSIZE).
_OUT_OF_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
#: SQLite's primary result codes for a full disk and a read-only database.
_SQLITE_FULL = 13
_SQLITE_READONLY = 8
#: SQLite's primary result codes for a lock another connection holds.
SQLITE_BUSY_CODES = frozenset({5, 6})   # SQLITE_BUSY, SQLITE_LOCKED


class ArchiveReadOnly(LabctlError):
    """A write to an archive that is open for reading only."""


class ArchiveFull(LabctlError):
    """The archive's file system has no room for what was being written."""


class ArchiveBusy(LabctlError):
    """The database's write lock stayed taken for longer than the archive waits."""


def is_out_of_space(error: BaseException) -> bool:
    """Whether ``error`` says the storage is full (an OS error or SQLite's FULL)."""
    if isinstance(error, OSError):
        return error.errno in _OUT_OF_SPACE_ERRNOS
    return isinstance(error, sqlite3.Error) and _primary_code(error) == _SQLITE_FULL


def is_read_only(error: BaseException) -> bool:
    """Whether ``error`` says the storage cannot be written (EROFS, EACCES, SQLite)."""
    if isinstance(error, OSError):
        return error.errno in (errno.EROFS, errno.EACCES, errno.EPERM)
    return isinstance(error, sqlite3.Error) and _primary_code(error) == _SQLITE_READONLY


def is_busy(error: BaseException) -> bool:
    """Whether ``error`` is SQLite's "database is locked" (busy or locked)."""
    return isinstance(error, sqlite3.Error) and _primary_code(error) in SQLITE_BUSY_CODES


def out_of_space(path: Path, action: str, error: BaseException) -> ArchiveFull:
    """The one-line refusal for a full disk under ``path`` (``action``: what failed)."""
    detail = (error.strerror if isinstance(error, OSError) and error.strerror
              else " ".join(str(error).split()))
    return ArchiveFull(f"no space left on {path} ({detail}): {action}")


def writable(path: Path) -> bool:
    """Whether this process may write ``path`` (or create it, if it does not exist)."""
    target = path if path.exists() else path.parent
    return os.access(target, os.W_OK)


def _primary_code(error: sqlite3.Error) -> int | None:
    code = getattr(error, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF
    text = str(error)   # sqlite3 errors raised without a code (older Pythons)
    if "disk is full" in text:
        return _SQLITE_FULL
    if "readonly database" in text:
        return _SQLITE_READONLY
    if "database is locked" in text or "database table is locked" in text:
        return 5
    return None
