"""How a station's ``sim`` profile reaches a simulator, found by name, never by import.

A profile that names a ``simulator`` (e.g. ``virtual_lab``) has its
instruments served by the simulator registered under that name in the
``labctl.simulators`` entry-point group (the virtual lab registers itself in
``pyproject.toml``; a lab can register its own). labctl hands the simulator a
`SimulatedStation` — instruments with their driver types, nodes and roles,
and the profile's ``world`` settings — and gets back a `SimulatorSession`:
the address of every instrument, the ``init`` arguments its driver needs to
reach the simulator there (``visalib: "@py"`` for a VISA emulator on loopback
TCP, the stand-in library for an instrument driven through a vendor's Python
API), and the simulation's clock.

A simulator that is already serving the station (``labctl sim serve``)
announces itself in a discovery file. A command joins it — connects through
its control port (`ControlClient`) instead of starting its own — only when
asked: ``--join`` on the command line (`joining`) or ``join: true`` in the
profile (`SimulatedStation.join`); it then says on stderr which one it joined
(`join_served`). Nobody silently shares another process's virtual lab.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import logging
import math
import os
import socket
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from labctl.clock import Clock
from labctl.errors import LabctlError
from labctl.physics.emitter import Readout
from labctl.physics.link import LinkParameters
from labctl.plugins import load_plugin

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "labctl.simulators"

#: The longest wait one clock request (a control port's ``CLOCk:ADVance``, a node's
#: ``clock sleep``) may ask for, s. The longest wait an experiment makes is one
#: block (at most an hour) or an oven's settling (minutes); a day is ample, keeps a
#: simulated clock finite and its float resolution far below a picosecond for
#: years of requests, and keeps a wall clock from being parked for ages.
MAX_CLOCK_REQUEST_S = 86400.0
#: The longest a virtual lab may take to answer one clock request, s: advancing its
#: clock is when it computes what its units record in that time (the tags of a
#: block), so the answer waits on that work, never a driver's request.
CLOCK_ADVANCE_TIMEOUT_S = 120.0

#: Whether commands in this context join a virtual lab another process serves
#: (set only for the extent of a `joining` block, e.g. one ``--join`` command).
_JOIN_REQUESTED: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "labctl_join_requested", default=False)


@dataclass(frozen=True)
class SimulatedInstrument:
    """One instrument a simulator must serve."""

    name: str
    driver: str          # import path of the driver class, e.g. drivers.x.Model
    node: str | None
    role: str | None
    init: Mapping[str, Any] = field(default_factory=dict)
    wiring: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SimulatedStation:
    """What a simulator needs to know about a station profile."""

    path: Path
    profile: str
    instruments: tuple[SimulatedInstrument, ...]
    world: Mapping[str, Any] = field(default_factory=dict)
    #: use the virtual lab another process serves for this station (it must be there)
    join: bool = False

    @property
    def key(self) -> str:
        """Identifies the station file and profile in discovery files."""
        text = f"{self.path.resolve()}::{self.profile}"
        return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:16]


class SimulatorSession(Protocol):
    """A running simulation of one station."""

    @property
    def addresses(self) -> Mapping[str, str]:
        """Instrument name -> the address its driver connects to."""

    @property
    def init_overrides(self) -> Mapping[str, Mapping[str, Any]]:
        """Instrument name -> driver ``init`` arguments that replace the profile's."""

    @property
    def clock(self) -> Clock:
        """The simulation's clock (experiments wait through it)."""

    def close(self) -> None:
        """Stop what this session started (a shared server is left running)."""


@dataclass(frozen=True)
class SimulatedLink:
    """The link a simulator's world realises with the instruments as they are set now.

    ``params`` are the model's parameters (what `labctl.physics.link.predict`
    takes); ``readout_a``/``readout_b`` each node's spin readout; ``directions``
    per node the Bloch direction its readout after a herald measures — one (3,)
    vector, or with ``random_settings`` one per setting bit, (2, 3) — or None
    when no readout follows a herald.
    """

    params: LinkParameters
    readout_a: Readout
    readout_b: Readout
    directions: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None
    random_settings: bool = False


class Simulator(Protocol):
    """What an entry point of the ``labctl.simulators`` group provides.

    Optional: ``check(station)`` (refuse a station, `check_simulated`) and
    ``link(session) -> SimulatedLink | None`` (the link the session's world
    realises now, `simulated_link`).
    """

    def attach(self, station: SimulatedStation) -> SimulatorSession:
        """Serve ``station`` (or, with ``station.join``, connect to the server serving it)."""


def find_simulator(name: str) -> Simulator:
    """The simulator registered under ``name``; `LabctlError` naming the known ones."""
    simulator: Simulator = load_plugin(ENTRY_POINT_GROUP, name, "simulator")
    return simulator


def check_simulated(name: str, station: SimulatedStation) -> None:
    """Let simulator ``name`` refuse a station it cannot simulate (e.g. a bad ``world:``),
    without serving anything: its optional ``check(station)`` raises `StationError`."""
    check = getattr(find_simulator(name), "check", None)
    if callable(check):
        check(station)


def simulated_link(name: str, session: SimulatorSession) -> SimulatedLink | None:
    """The link simulator ``name``'s world realises in ``session`` now (its optional
    ``link(session)``), or None when it cannot say (no such method, no attempt sequence
    playing, or a world in another process)."""
    link = getattr(find_simulator(name), "link", None)
    if not callable(link):
        return None
    result = link(session)
    return result if isinstance(result, SimulatedLink) else None


@contextlib.contextmanager
def joining(enabled: bool = True) -> Iterator[None]:
    """Within this block, stations join the virtual lab another process serves."""
    token = _JOIN_REQUESTED.set(enabled)
    try:
        yield
    finally:
        _JOIN_REQUESTED.reset(token)


def join_requested() -> bool:
    """Was joining asked for in this context (`joining`)?"""
    return _JOIN_REQUESTED.get()


def runtime_dir() -> Path:
    """Where discovery files live: ``$LABCTL_RUNTIME_DIR`` or a per-user temp folder."""
    configured = os.environ.get("LABCTL_RUNTIME_DIR")
    folder = Path(configured) if configured else Path(tempfile.gettempdir()) / (
        f"labctl-{os.getuid() if hasattr(os, 'getuid') else 'user'}")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def discovery_path(station: SimulatedStation) -> Path:
    return runtime_dir() / f"sim-{station.key}.json"


def announce(station: SimulatedStation, addresses: Mapping[str, str], control_port: int,
             init_overrides: Mapping[str, Mapping[str, Any]] | None = None) -> Path:
    """Write the discovery file of a server (atomically)."""
    path = discovery_path(station)
    payload = {"pid": os.getpid(), "station": str(station.path.resolve()),
               "profile": station.profile, "control_port": control_port,
               "addresses": dict(addresses),
               "init": {name: dict(init) for name, init in (init_overrides or {}).items()}}
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(payload, indent=2))
    temporary.replace(path)
    return path


def discover(station: SimulatedStation) -> dict[str, Any] | None:
    """The announcement of a live server for ``station``, if there is one."""
    path = discovery_path(station)
    try:
        payload: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    try:
        ControlClient(int(payload["control_port"])).identity()
    except (OSError, KeyError, ValueError, LabctlError):
        log.info("stale simulator announcement %s ignored", path)
        return None
    return payload


def served_announcement(station: SimulatedStation) -> dict[str, Any]:
    """The announcement of the live server for ``station``; `LabctlError` if none serves it."""
    announcement = discover(station)
    if announcement is None:
        raise LabctlError(f"no virtual lab serves {station.path} profile '{station.profile}' "
                          f"to join (start one with: labctl sim serve {station.path} "
                          f"--profile {station.profile})")
    return announcement


def join_served(station: SimulatedStation) -> RemoteSession:
    """Join the virtual lab another process serves for ``station``; say which (a warning).

    `LabctlError` when none serves it (joining was asked for: never start one instead).
    """
    announcement = served_announcement(station)
    if announcement.get("pid") != os.getpid():   # one's own lab is not shared with anyone
        say_joined(announcement)
    return RemoteSession(announcement["addresses"],
                         ControlClient(int(announcement["control_port"])),
                         announcement.get("init") or {})


def say_joined(announcement: Mapping[str, Any]) -> None:
    """One line (a warning: the world is shared) naming the virtual lab being joined."""
    log.warning("joined the virtual lab of pid %s serving %s profile '%s' (control port %s)",
                announcement.get("pid"), announcement.get("station"),
                announcement.get("profile"), announcement.get("control_port"))


def check_clock_request(seconds: float) -> float:
    """``seconds`` as a float if one clock request may ask for it; `ValueError` otherwise."""
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        raise ValueError(f"a clock request needs a number of seconds, not {seconds!r}") from None
    if not (math.isfinite(value) and 0.0 <= value <= MAX_CLOCK_REQUEST_S):
        raise ValueError(f"a clock request must be within [0, {MAX_CLOCK_REQUEST_S:g}] s, "
                         f"got {seconds!r}")
    return value


class ControlClient:
    """Talks to a virtual lab's control port (SCPI over TCP): clock and faults."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 5.0) -> None:
        self.address = (host, port)
        self.timeout = timeout

    def _exchange(self, command: str, reply: bool, timeout: float | None = None) -> str:
        with socket.create_connection(self.address, timeout=self.timeout) as sock:
            sock.settimeout(self.timeout if timeout is None else timeout)
            sock.sendall(command.encode() + b"\n")
            if not reply:
                sock.sendall(b"SYST:ERR?\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(4096)
                if not chunk:
                    raise LabctlError(f"virtual lab control port closed during {command!r}")
                data += chunk
        text = data.decode().strip()
        if not reply and not text.startswith("0,"):
            raise LabctlError(f"virtual lab refused {command!r}: {text}")
        return text

    def identity(self) -> str:
        return self._exchange("*IDN?", reply=True)

    def now(self) -> float:
        return float(self._exchange("CLOCk:TIME?", reply=True))

    def sleep(self, seconds: float) -> None:
        self._exchange(f"CLOCk:ADVance {check_clock_request(seconds)!r}", reply=False,
                       timeout=CLOCK_ADVANCE_TIMEOUT_S)

    def set_fault(self, instrument: str, kind: str, value: float = 0.0) -> None:
        self._exchange(f'FAULt:SET "{instrument}",{kind},{value!r}', reply=False)

    def clear_faults(self, instrument: str | None = None) -> None:
        self._exchange(f'FAULt:CLEar "{instrument}"' if instrument else "FAULt:CLEar",
                       reply=False)


@dataclass
class RemoteSession:
    """A session on a virtual lab another process serves (``labctl sim serve``)."""

    addresses: Mapping[str, str]
    control: ControlClient
    init_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def clock(self) -> Clock:
        return self.control

    def close(self) -> None:
        """The server belongs to another process: leave it running."""
