"""Is the process that is writing a run still alive?

A run records who writes it (pid, hostname and, where the OS tells, the
process's start time) when it starts or resumes. A run still marked running
whose writer is gone was killed (kill -9, power cut, crash) and is
reconciled as interrupted. The start time guards against a recycled pid:
a different process that happens to have the same pid is not the writer.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

_PROC = Path("/proc")


class Liveness(Enum):
    """What can be said about a recorded writer process from here."""

    ALIVE = "alive"
    GONE = "gone"
    UNKNOWN = "unknown"  # it ran on another host: cannot tell from here


@dataclass(frozen=True)
class ProcessIdentity:
    """Who writes a run: enough to tell later whether that process still exists."""

    pid: int
    hostname: str
    #: The boot and the process's start time as the kernel counts them ("" where unknown).
    start_token: str = ""


def current_process() -> ProcessIdentity:
    """The identity of this process."""
    pid = os.getpid()
    return ProcessIdentity(pid=pid, hostname=socket.gethostname(),
                           start_token=_start_token(pid) or "")


def liveness(identity: ProcessIdentity) -> Liveness:
    """Whether the process ``identity`` names is still running on this host."""
    if identity.hostname != socket.gethostname():
        return Liveness.UNKNOWN
    if identity.pid <= 0:
        return Liveness.GONE
    try:
        os.kill(identity.pid, 0)
    except ProcessLookupError:
        return Liveness.GONE
    except PermissionError:
        pass  # it exists but belongs to someone else
    if _is_zombie(identity.pid):
        return Liveness.GONE
    token = _start_token(identity.pid)
    if identity.start_token and token is not None and token != identity.start_token:
        return Liveness.GONE  # the pid was recycled by another process
    return Liveness.ALIVE


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of ``/proc/<pid>/stat`` after the command name (None without procfs)."""
    try:
        text = (_PROC / str(pid) / "stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # The command name is in parentheses and may itself contain spaces or ')'.
    return text[text.rfind(")") + 1:].split()


def _start_token(pid: int) -> str | None:
    """Boot id and start time of ``pid``: unique for a process over reboots."""
    fields = _stat_fields(pid)
    # Field 22 of stat(5) is the start time; fields[0] here is field 3 (state).
    if fields is None or len(fields) < 20:
        return None
    try:
        boot = (_PROC / "sys" / "kernel" / "random" / "boot_id").read_text().strip()
    except OSError:
        boot = ""
    return f"{boot}:{fields[19]}"


def _is_zombie(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is not None and bool(fields) and fields[0] in ("Z", "X")
