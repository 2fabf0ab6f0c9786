"""A node's view of its orchestrators: sessions, heartbeats, the armed run, the watchdog.

Every request carries a session id (one per orchestrator station). A node
remembers when it last heard from each session — any request counts, and
the orchestrator sends heartbeats in between. The rules:

- a session that has changed anything (a set, a method call, arming) is a
  *writer*; if a writer falls silent for longer than the heartbeat timeout
  without saying goodbye, `Sessions.expire` reports it and the node puts its
  instruments in safe state. The session stays expired: whatever it sends
  later is refused, so an orchestrator that was cut off cannot carry on with
  instruments that were switched off under it;
- one run at a time: ``arm(run_id)`` makes a session the run's controller;
  while armed, other sessions may only read (get, snapshot, status) — and
  call ``safe_state``, which is never refused. ``go``
  confirms the run started on every node; ``disarm`` (or a goodbye) ends it;
- a silent session that never wrote is simply forgotten.

Pure bookkeeping with an injected clock (and a lock, so a node may consult it
from more than one thread). Heartbeats are counted when the node reads them,
which it does before its watchdog runs, so a long instrument call on the
node never makes a live orchestrator look lost.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from labctl.remote.errors import CallRefused, SessionExpired

RunState = Literal["armed", "running"]
#: Expired writer sessions remembered (so their late requests are refused).
_REMEMBERED = 1024


@dataclass
class Session:
    id: str
    last_seen: float
    writer: bool = False


@dataclass(frozen=True)
class ArmedRun:
    session: str
    run_id: int
    state: RunState


class Sessions:
    """The sessions of one node (see the module docstring)."""

    def __init__(self, heartbeat_timeout: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not heartbeat_timeout > 0:
            raise ValueError(f"heartbeat timeout must be positive, got {heartbeat_timeout}")
        self.heartbeat_timeout = heartbeat_timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}
        self._expired: OrderedDict[str, float] = OrderedDict()
        self._armed: ArmedRun | None = None

    @property
    def armed(self) -> ArmedRun | None:
        with self._lock:
            return self._armed

    def count(self) -> int:
        with self._lock:
            return len(self._sessions)

    def seen(self, session: str) -> None:
        """A message from ``session`` arrived; `SessionExpired` if it was given up on."""
        with self._lock:
            self._touch(session)

    def check(self, session: str, write: bool, safety: bool = False) -> None:
        """May ``session`` do this now? Marks writers; refuses writes during another's run
        (except ``safety`` calls: anyone may make the instruments safe)."""
        with self._lock:
            entry = self._touch(session)
            if write:
                if self._armed is not None and self._armed.session != session \
                        and not safety:
                    raise CallRefused(f"node is armed for run {self._armed.run_id} by another "
                                      "orchestrator; only reads are allowed")
                entry.writer = True

    def arm(self, session: str, run_id: int) -> None:
        with self._lock:
            entry = self._touch(session)
            if self._armed is not None and self._armed.session != session:
                raise CallRefused(f"node is busy: armed for run {self._armed.run_id} by "
                                  "another orchestrator")
            entry.writer = True
            self._armed = ArmedRun(session, run_id, "armed")

    def go(self, session: str, run_id: int) -> None:
        with self._lock:
            self._touch(session)
            if self._armed is None or self._armed.session != session \
                    or self._armed.run_id != run_id:
                raise CallRefused(f"run {run_id} is not armed on this node by this "
                                  "orchestrator")
            self._armed = ArmedRun(session, run_id, "running")

    def disarm(self, session: str, run_id: int | None = None) -> ArmedRun | None:
        """End ``session``'s run (any run of it when ``run_id`` is None); the run ended."""
        with self._lock:
            armed = self._armed
            if armed is not None and armed.session == session and (
                    run_id is None or armed.run_id == run_id):
                self._armed = None
                return armed
            return None

    def bye(self, session: str) -> ArmedRun | None:
        """``session`` leaves cleanly: forgotten, its run (if any) disarmed."""
        with self._lock:
            self._sessions.pop(session, None)
            armed = self._armed
            if armed is not None and armed.session == session:
                self._armed = None
                return armed
            return None

    def expire(self) -> list[tuple[Session, ArmedRun | None]]:
        """Writers silent for longer than the timeout, with the run each had armed."""
        now = self._clock()
        lost: list[tuple[Session, ArmedRun | None]] = []
        with self._lock:
            for entry in list(self._sessions.values()):
                if now - entry.last_seen <= self.heartbeat_timeout:
                    continue
                del self._sessions[entry.id]
                if not entry.writer:
                    continue
                self._expired[entry.id] = now
                while len(self._expired) > _REMEMBERED:
                    self._expired.popitem(last=False)
                armed = self._armed if self._armed and self._armed.session == entry.id else None
                if armed is not None:
                    self._armed = None
                lost.append((entry, armed))
        return lost

    def _touch(self, session: str) -> Session:
        if session in self._expired:
            raise SessionExpired("this node gave up on this orchestrator (no heartbeat for "
                                 f"{self.heartbeat_timeout:g} s) and put its instruments in "
                                 "safe state; reconnect to start again")
        entry = self._sessions.get(session)
        if entry is None:
            entry = self._sessions[session] = Session(session, self._clock())
        entry.last_seen = self._clock()
        return entry
