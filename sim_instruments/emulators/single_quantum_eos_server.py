"""Serving the Eos emulator on loopback TCP: a control port and, one above it, the counts port.

The control port reads JSON objects as they come (no terminator; objects may
arrive split or several in one segment) and answers with one frame per
message: the reply objects concatenated, then ``\\x17``. Changes are
broadcast to every connected control client. The counts port sends one line
per measurement period (wall time) to every connected client.

Before each message, and before each counts line, the server consults the
instrument's injected fault (`sim_instruments.world_state.Fault`), as
`sim_instruments.tcp_server` does for SCPI units: ``latency`` waits,
``drop`` resets the connection, ``garbage`` sends noise instead of the
reply (or line), ``silent`` ignores everything and sends no counts.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

from sim_instruments.emulators.single_quantum_eos import (
    TERMINATOR,
    SingleQuantumEosEmulator,
    encode,
)
from sim_instruments.world_state import Fault

log = logging.getLogger(__name__)

#: What a "garbage" fault sends instead of a reply or a counts line.
GARBAGE = b"\xff\xfe{\"lab\x00garbage"


def _reset(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def split_objects(buffer: bytearray) -> list[dict[str, Any]]:
    """Remove and return the complete JSON objects at the start of ``buffer``.

    Raises ValueError for bytes that can never become an object.
    """
    try:
        text = bytes(buffer).decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"not UTF-8: {error}") from None
    decoder = json.JSONDecoder()
    found: list[dict[str, Any]] = []
    index = 0
    while True:
        while index < len(text) and text[index].isspace():
            index += 1
        if index == len(text):
            break
        if text[index] != "{":
            raise ValueError(f"not a JSON object: {text[index:index + 40]!r}")
        try:
            obj, index = decoder.raw_decode(text, index)
        except json.JSONDecodeError:
            break  # incomplete: wait for more
        if isinstance(obj, dict):
            found.append(obj)
    del buffer[:len(text[:index].encode())]
    return found


class EosServer:
    """One emulated Eos on ``127.0.0.1``: control on `port`, counts on ``port + 1``."""

    def __init__(self, name: str, emulator: SingleQuantumEosEmulator, lock: threading.RLock,
                 fault: Callable[[], Fault | None], port: int = 0) -> None:
        self.name = name
        self.emulator = emulator
        self.lock = lock
        self.fault = fault
        self.stopping = threading.Event()
        self._clients: list[socket.socket] = []
        self._clients_lock = threading.Lock()
        self.control, self.counts = self._bind_pair(port)
        self._threads: list[threading.Thread] = []

    @staticmethod
    def _bind_pair(port: int) -> tuple[socket.socket, socket.socket]:
        for _ in range(50):
            control = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            control.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            control.bind(("127.0.0.1", port))
            counts = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            counts.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                counts.bind(("127.0.0.1", control.getsockname()[1] + 1))
            except OSError:
                control.close()
                counts.close()
                if port:
                    raise
                continue
            return control, counts
        raise OSError("no free pair of adjacent loopback ports for the Eos emulator")

    @property
    def port(self) -> int:
        return int(self.control.getsockname()[1])

    @property
    def counts_port(self) -> int:
        return int(self.counts.getsockname()[1])

    def start(self) -> None:
        for sock, serve in ((self.control, self._serve_control),
                            (self.counts, self._serve_counts)):
            sock.listen(8)
            sock.settimeout(0.05)
            thread = threading.Thread(target=self._accept, args=(sock, serve),
                                      name=f"sim-{self.name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self.stopping.set()
        for thread in self._threads:
            thread.join(timeout=2.0)
        self.control.close()
        self.counts.close()
        with self._clients_lock:
            for client in self._clients:
                client.close()
            self._clients.clear()

    def _accept(self, sock: socket.socket, serve: Callable[[socket.socket], None]) -> None:
        while not self.stopping.is_set():
            try:
                client, _ = sock.accept()
            except (TimeoutError, OSError):
                continue
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=serve, args=(client,), name=f"sim-{self.name}-client",
                             daemon=True).start()

    # --- control port -------------------------------------------------------------

    def _serve_control(self, client: socket.socket) -> None:
        with self._clients_lock:
            self._clients.append(client)
        buffer = bytearray()
        client.settimeout(0.1)
        try:
            while not self.stopping.is_set():
                try:
                    chunk = client.recv(1 << 16)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not chunk:
                    return
                buffer.extend(chunk)
                try:
                    messages = split_objects(buffer)
                except ValueError as error:
                    log.info("%s: unreadable input dropped: %s", self.name, error)
                    buffer.clear()
                    messages = [{"unreadable": True}]
                for message in messages:
                    if not self._answer(client, message):
                        return
        finally:
            with self._clients_lock:
                if client in self._clients:
                    self._clients.remove(client)
            client.close()

    def _answer(self, client: socket.socket, message: dict[str, Any]) -> bool:
        fault = self.fault()
        if fault is not None and fault.kind == "silent":
            return True
        if fault is not None and fault.kind == "drop":
            _reset(client)
            return False
        if fault is not None and fault.kind == "latency":
            time.sleep(fault.value)
        with self.lock:
            try:
                replies, broadcasts = self.emulator.handle(message)
            except Exception:  # an emulator bug must not kill the instrument's server
                log.exception("%s failed on %r", self.name, message)
                return True
        try:
            if replies:
                frame = b"".join(json.dumps(r).encode() for r in replies) + TERMINATOR
                client.sendall(GARBAGE + TERMINATOR if fault is not None and
                               fault.kind == "garbage" else frame)
            if broadcasts:
                with self._clients_lock:
                    others = list(self._clients)
                for other in others:
                    with contextlib.suppress(OSError):
                        other.sendall(encode(broadcasts))
        except OSError:
            return False
        return True

    # --- counts port --------------------------------------------------------------

    def _serve_counts(self, client: socket.socket) -> None:
        try:
            while not self.stopping.is_set():
                with self.lock:
                    period = self.emulator.period_ms / 1000.0
                self.stopping.wait(period)
                fault = self.fault()
                if fault is not None and fault.kind == "silent":
                    continue
                if fault is not None and fault.kind == "drop":
                    _reset(client)
                    return
                if fault is not None and fault.kind == "latency":
                    time.sleep(fault.value)
                with self.lock:
                    line = self.emulator.counts_line()
                if fault is not None and fault.kind == "garbage":
                    line = GARBAGE + b"\n"
                client.sendall(line)
        except OSError:
            return
        finally:
            client.close()


def eos_server(name: str, emulator: Any, lock: threading.RLock,
               fault: Callable[[], Fault | None], port: int) -> EosServer:
    """The virtual lab's `ServerFactory` for the Eos."""
    return EosServer(name, emulator, lock, fault, port)


def eos_address(port: int) -> str:
    """What the driver connects to: ``host:control_port:counts_port``."""
    return f"127.0.0.1:{port}:{port + 1}"
