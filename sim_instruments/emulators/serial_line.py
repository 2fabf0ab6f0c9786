"""A serial line served as a TCP socket (what pyserial's ``socket://`` URL opens).

A lab reaches a serial unit through a USB/RS-232 port or a terminal server;
the virtual lab serves each serial unit's emulator on a loopback TCP port
that carries the line's bytes unchanged, so the driver's pyserial code is the
same as in the lab. Unlike `sim_instruments.tcp_server` (LF-terminated SCPI)
the emulator says where a message ends (`SerialEmulator.next_message`) and
writes its replies whole, terminators included. Faults act as on every raw
socket (`sim_instruments.tcp_server`): ``latency`` waits, ``drop`` resets the
connection, ``garbage`` answers bytes that parse as nothing (no terminator of
either unit's protocol), ``silent`` ignores everything.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from sim_instruments.tcp_server import InstrumentServer
from sim_instruments.world_state import Fault


class SerialEmulator(Protocol):
    """A serial unit's protocol: where a message ends and what it answers."""

    def next_message(self, buffer: bytearray) -> bytes | None: ...

    def respond(self, message: bytes) -> bytes | None: ...


def socket_url(port: int) -> str:
    """The pyserial URL of a serial line served on a loopback port."""
    return f"socket://127.0.0.1:{port}"


class SerialLineServer(InstrumentServer):
    """One serial unit on ``127.0.0.1:<port>`` (port 0: any free port).

    `InstrumentServer` with the emulator's own framing (`SerialEmulator`) and its
    replies sent whole; faults as on every raw socket.
    """

    def __init__(self, name: str, emulator: SerialEmulator, lock: threading.RLock,
                 fault: Callable[[], Fault | None], port: int = 0) -> None:
        super().__init__(name, emulator, lock, fault, port)

    @property
    def url(self) -> str:
        return socket_url(self.port)
