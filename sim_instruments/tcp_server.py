"""Serving one emulator on a loopback TCP port, the way a LAN instrument answers.

Messages end with a line feed, except inside IEEE-488.2 definite-length
blocks, whose bytes are taken as they come (a waveform may contain any byte).
A message also ends right after a complete block that is followed by
anything but a terminator, ``;`` or ``,``: over GPIB, VXI-11 or HiSLIP a
controller may end a message with the interface's END instead of a line feed
(QCoDeS's ``TektronixAWG5014`` uploads waveforms that way), and over a raw
socket the next command then follows the block directly; the block's length
says where the message ends. Replies end with the emulator's terminator; an
emulator whose unit ends messages with a carriage return instead (its
``read_terminator`` is ``b"\\r"``) has them end at a CR or LF, and the empty
message between a CR LF pair is skipped.
Before each message the server consults the instrument's injected fault
(`sim_instruments.world_state.Fault`):

- ``latency``: wait ``value`` seconds (wall time) before answering;
- ``drop``: reset the connection (the client sees a connection reset);
- ``garbage``: answer queries with bytes that parse as nothing;
- ``silent``: read and ignore everything (the client times out).

Every emulator call runs under the world's lock, so instruments sharing the
physics see consistent state.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Callable
from typing import Protocol

from sim_instruments.world_state import Fault

log = logging.getLogger(__name__)

class MessageEmulator(Protocol):
    """What a server needs of an emulator: a reply to each message.

    Optional attributes say how messages are framed: ``reply_terminator``
    (appended to each reply; none if absent, the reply is then whole),
    ``read_terminator`` (the bytes that end an incoming SCPI message; line
    feed if absent), or a ``next_message(buffer)`` method for a protocol that
    frames its own messages (a serial unit's binary or prompt protocol).
    """

    def respond(self, message: bytes) -> bytes | None:
        """The reply to one message (None: the message asks for none)."""


def answer(name: str, emulator: MessageEmulator, lock: threading.RLock, message: bytes,
           fault: Fault | None) -> bytes | None:
    """The emulator's reply to one message, as every server gives it: after the fault's
    ``latency``, under the world's lock, ``garbage`` in place of a reply; None when the
    message asks for no reply. An emulator bug is logged, never kills the server."""
    if fault is not None and fault.kind == "latency":
        time.sleep(fault.value)
    with lock:
        try:
            reply = emulator.respond(message)
        except Exception:  # an emulator bug must not kill the instrument's server
            log.exception("%s failed on %r", name, message[:80])
            reply = None
    if reply is not None and fault is not None and fault.kind == "garbage":
        return GARBAGE
    return reply


def visa_resource(port: int) -> str:
    """The VISA resource of a loopback SOCKET instrument (what pyvisa-py connects to)."""
    return f"TCPIP0::127.0.0.1::{port}::SOCKET"


#: Bytes after a definite-length block that continue its message (terminators, separators).
_CONTINUES_AFTER_BLOCK = b"\n\r;,"

#: What a "garbage" fault answers instead of the real reply.
GARBAGE = b"\xff\xfe#9?\x00garbage\x15"


def next_message(buffer: bytearray, terminators: bytes = b"\n") -> bytes | None:
    """Remove and return the first complete message (without terminator) from ``buffer``.

    Line feeds inside a definite-length block (``#<n><length><bytes>``) do not
    end the message; a complete block followed by anything but a line feed,
    carriage return, ``;`` or ``,`` does (a message sent without terminator,
    see the module docstring). Returns None while the message is incomplete,
    including a block at the very end of ``buffer`` (what follows decides).
    """
    i = 0
    n = len(buffer)
    quote = 0
    while i < n:
        char = buffer[i]
        if quote:
            if char == quote:
                quote = 0
            i += 1
            continue
        if char in (0x22, 0x27):  # quotes
            quote = char
        elif char == 0x23 and i + 1 < n and 0x31 <= buffer[i + 1] <= 0x39:  # '#1'..'#9'
            digits = buffer[i + 1] - 0x30
            header_end = i + 2 + digits
            if header_end > n:
                return None
            length_text = bytes(buffer[i + 2:header_end])
            if length_text.isdigit():
                end = header_end + int(length_text)
                if end >= n:
                    return None
                if buffer[end] not in _CONTINUES_AFTER_BLOCK:
                    message = bytes(buffer[:end])
                    del buffer[:end]
                    return message
                i = end
                continue
        elif char == 0x0A or char in terminators:
            message = bytes(buffer[:i]).rstrip(b"\r")
            del buffer[:i + 1]
            return message
        i += 1
    return None


def _acknowledge_now(sock: socket.socket) -> None:
    """Acknowledge received data at once (Linux ``TCP_QUICKACK``; it resets after a read).

    A controller whose stack batches small writes (Nagle's algorithm, as pyvisa-py's
    socket sessions do) waits for this acknowledgement before sending its next
    command; a delayed ACK would add ~40 ms to every write/``SYST:ERR?`` pair.
    """
    quickack = getattr(socket, "TCP_QUICKACK", None)
    if quickack is not None:
        sock.setsockopt(socket.IPPROTO_TCP, quickack, 1)


class _Connection(socketserver.BaseRequestHandler):
    server: InstrumentServer

    def handle(self) -> None:
        buffer = bytearray()
        sock: socket.socket = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while not self.server.stopping.is_set():
            try:
                chunk = sock.recv(1 << 16)
                _acknowledge_now(sock)
            except OSError:
                return
            if not chunk:
                return
            buffer.extend(chunk)
            while (message := self._next(buffer)) is not None:
                if not self._serve(sock, message):
                    return

    def _next(self, buffer: bytearray) -> bytes | None:
        """The next message: framed by the emulator if it frames its own (a serial
        protocol), else SCPI-style by its terminators (empty ones between CR LF skipped)."""
        emulator = self.server.emulator
        framing = getattr(emulator, "next_message", None)
        if framing is not None:
            framed: bytes | None = framing(buffer)
            return framed
        terminators = getattr(emulator, "read_terminator", b"\n")
        while (message := next_message(buffer, terminators)) is not None:
            if message or terminators == b"\n":
                return message
        return None

    def _serve(self, sock: socket.socket, message: bytes) -> bool:
        """Answer one message; False when the connection must end."""
        fault = self.server.fault()
        if fault is not None and fault.kind == "silent":
            return True
        if fault is not None and fault.kind == "drop":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
            return False
        reply = answer(self.server.name, self.server.emulator, self.server.lock, message,
                       fault)
        if reply is None:
            return True
        try:
            sock.sendall(reply + getattr(self.server.emulator, "reply_terminator", b""))
        except OSError:
            return False
        return True


class InstrumentServer(socketserver.ThreadingTCPServer):
    """One instrument on ``127.0.0.1:<port>`` (port 0: any free port)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, name: str, emulator: MessageEmulator, lock: threading.RLock,
                 fault: Callable[[], Fault | None], port: int = 0,
                 host: str = "127.0.0.1") -> None:
        super().__init__((host, port), _Connection)
        self.name = name
        self.emulator = emulator
        self.lock = lock
        self.fault = fault
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def resource(self) -> str:
        """The VISA resource name a driver connects with."""
        return visa_resource(self.port)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.serve_forever, name=f"sim-{self.name}",
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()
