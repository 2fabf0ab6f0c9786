"""Fixtures that serve emulators on loopback TCP and connect the real drivers to them."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from qcodes.instrument import VisaInstrument

from sim_instruments.emulators.scpi import ScpiEmulator
from sim_instruments.tcp_server import InstrumentServer
from sim_instruments.world_state import Fault

T = TypeVar("T", bound=VisaInstrument)
REPO = Path(__file__).parents[2]
_serial = itertools.count()


class Served:
    """An emulator on a TCP port, with a switchable fault."""

    def __init__(self, emulator: ScpiEmulator, lock: threading.RLock) -> None:
        self.fault: Fault | None = None
        self.server = InstrumentServer(f"emulator{next(_serial)}", emulator, lock,
                                       fault=lambda: self.fault)
        self.server.start()

    @property
    def resource(self) -> str:
        return self.server.resource


@pytest.fixture
def serve() -> Iterator[Callable[..., Served]]:
    """``serve(emulator, lock=None)`` -> a running server; stopped after the test."""
    servers: list[Served] = []

    def _serve(emulator: ScpiEmulator, lock: threading.RLock | None = None) -> Served:
        served = Served(emulator, lock or threading.RLock())
        servers.append(served)
        return served

    yield _serve
    for served in servers:
        served.server.stop()


@pytest.fixture
def connect() -> Iterator[Callable[..., Any]]:
    """``connect(DriverClass, resource, **kwargs)``: the real driver over pyvisa-py TCP."""
    opened: list[VisaInstrument] = []

    def _connect(cls: type[T], resource: str, **kwargs: Any) -> T:
        kwargs.setdefault("timeout", 2)
        instrument = cls(f"{cls.__name__.lower()}_tcp{next(_serial)}", resource,
                         visalib="@py", **kwargs)
        opened.append(instrument)
        return instrument

    yield _connect
    for instrument in opened:
        instrument.close()


@dataclass(frozen=True)
class DemoRun:
    """One `labctl demo` of a station profile: its output, report and archive."""

    profile: str
    completed: subprocess.CompletedProcess[str]
    report: Path
    archive: Path


@pytest.fixture(scope="session")
def demo_of(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], DemoRun]:
    """``demo_of(profile)``: `labctl demo` on that profile, run once per test session."""
    done: dict[str, DemoRun] = {}

    def run(profile: str) -> DemoRun:
        if profile not in done:
            folder = tmp_path_factory.mktemp(f"demo-{profile}")
            completed = subprocess.run(
                [sys.executable, "-m", "labctl.cli", "demo", "--profile", profile,
                 "--out", str(folder / "report"), "--data-dir", str(folder / "archive")],
                cwd=REPO, capture_output=True, text=True, timeout=1200,
                env={**os.environ, "LABCTL_RUNTIME_DIR": str(folder / "runtime")})
            done[profile] = DemoRun(profile, completed, folder / "report", folder / "archive")
        return done[profile]

    return run
