"""Waiting, with a bound, for the archive database's write lock that a neighbour holds.

Several labctl processes may write one archive at once (two ``labctl run``
on one data directory, a ``labctl resume`` beside them). SQLite lets one
writer at a time hold the database's write lock; the others wait here:

- every write transaction starts with ``BEGIN IMMEDIATE``, which takes the
  write lock first. A transaction that starts reading and only later writes
  (QCoDeS's plain ``BEGIN``) cannot wait in WAL mode: SQLite answers
  "database is locked" at once if another writer committed since it read;
- the wait is SQLite's own busy handler (``PRAGMA busy_timeout``) in short
  slices, retried until a deadline, so that the cases where SQLite returns
  busy without calling the handler (WAL recovery, a schema being created)
  are waited out too;
- past the deadline, one line says which database, who holds the lock (the
  process SQLite's POSIX lock belongs to, from ``/proc/locks`` on Linux)
  and how long we waited: `labctl.data.storage.ArchiveBusy`.

Readers never wait: in WAL mode they read the last commit while a writer writes.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from labctl.data.storage import ArchiveBusy, is_busy

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How long a writer waits for a neighbour's write lock before giving up, s.
LOCK_WAIT_S = 60.0
#: One slice of SQLite's busy handler, s (the deadline is checked between slices).
_SLICE_S = 0.25

# Where SQLite's unix VFS takes its POSIX locks (sqlite3.c, os_unix.c and wal.c):
# in WAL mode the writer holds byte WALINDEX_LOCK_OFFSET + WAL_WRITE_LOCK of the -shm
# file; in rollback-journal mode the RESERVED byte (PENDING_BYTE + 1) of the database.
_WAL_WRITE_LOCK_BYTE = 120
_PENDING_BYTE = 0x40000000
_RESERVED_BYTE = _PENDING_BYTE + 1
#: The kernel's table of file locks (Linux).
_PROC_LOCKS = Path("/proc/locks")


def with_lock_wait(database: Path, action: Callable[[], T], what: str,
                   wait: float = LOCK_WAIT_S) -> T:
    """``action()``, retried while SQLite says the database is locked, for ``wait`` s.

    `ArchiveBusy` (one line: the database, its holder, the time waited) when
    the lock is still taken at the deadline; other errors pass through.
    """
    started = time.monotonic()
    deadline = started + wait
    announced = False
    while True:
        try:
            return action()
        except (sqlite3.Error, RuntimeError) as error:
            cause = error if isinstance(error, sqlite3.Error) else error.__cause__
            if cause is None or not is_busy(cause):
                raise
        now = time.monotonic()
        if now >= deadline:
            raise ArchiveBusy(f"{what}: the database {database} is locked by "
                              f"{holder_description(database)}; gave up after waiting "
                              f"{now - started:.1f} s") from None
        if not announced:
            log.info("%s: waiting up to %.0f s for the write lock of %s, held by %s", what,
                     wait, database, holder_description(database))
            announced = True
        time.sleep(min(_SLICE_S / 5, max(deadline - now, 0.0)))


def begin_immediate(conn: sqlite3.Connection, database: Path, what: str,
                    wait: float = LOCK_WAIT_S) -> None:
    """Start a write transaction on ``conn``, waiting up to ``wait`` s for the lock."""
    deadline = time.monotonic() + wait

    def attempt() -> None:
        slice_s = min(_SLICE_S, max(deadline - time.monotonic(), 0.001))
        conn.execute(f"PRAGMA busy_timeout = {max(1, round(slice_s * 1000))}")
        conn.execute("BEGIN IMMEDIATE")

    with_lock_wait(database, attempt, what, wait)


def holder_description(database: Path) -> str:
    """Who holds the write lock of ``database``, as well as this host can tell."""
    pid = lock_holder(database)
    if pid is None:
        return "another process"
    command = _command_line(pid)
    return f"process {pid}" + (f" ({command})" if command else "")


def lock_holder(database: Path) -> int | None:
    """The pid of another process holding the write lock of ``database`` (None: unknown).

    Read from ``/proc/locks`` (Linux) rather than asked with ``F_GETLK``: opening
    and closing the database here would drop this process's own SQLite locks
    on it (POSIX locks belong to the process and end with any close).
    """
    try:
        table = _PROC_LOCKS.read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    for path, offset in ((Path(f"{database}-shm"), _WAL_WRITE_LOCK_BYTE),
                         (database, _RESERVED_BYTE)):
        try:
            stat = path.stat()
        except OSError:
            continue
        key = (os.major(stat.st_dev), os.minor(stat.st_dev), stat.st_ino)
        pid = _write_lock_owner(table, key, offset)
        if pid is not None:
            return pid
    return None


def _write_lock_owner(table: str, key: tuple[int, int, int], offset: int) -> int | None:
    """The owner of a granted POSIX write lock on ``offset`` of file ``key``, from the table.

    A line of ``/proc/locks``: ``1: POSIX  ADVISORY  WRITE 4711 fd:01:1234 120 120``
    (blocked requests have ``->`` after the number).
    """
    for line in table.splitlines():
        fields = line.split()
        if len(fields) < 8 or fields[1] == "->" or fields[1] != "POSIX" or fields[3] != "WRITE":
            continue
        try:
            pid = int(fields[4])
            major, minor, inode = fields[5].split(":")
            file = (int(major, 16), int(minor, 16), int(inode))
            first = int(fields[6])
            last = None if fields[7] == "EOF" else int(fields[7])
        except ValueError:
            continue
        if (file == key and first <= offset and (last is None or offset <= last)
                and pid > 0 and pid != os.getpid()):
            return pid
    return None


def _command_line(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    words = [w.decode(errors="replace") for w in raw.split(b"\0") if w]
    text = " ".join(" ".join(Path(words[0]).name if i == 0 else w
                             for i, w in enumerate(words)).split())
    return text if len(text) <= 120 else text[:117] + "..."
