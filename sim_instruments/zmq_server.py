"""Serving one emulator on a loopback zmq reply socket, the way a zmq-controlled unit answers.

The socket is a ROUTER speaking the REP envelope (what a REP socket does
inside), so REQ clients see a REP peer, while the server may also leave a
request unanswered. The emulator's ``respond(bytes) -> bytes | None`` gets
each request's body; None is sent as an empty reply (every request gets
one). Before each request the server consults the instrument's injected fault
(`sim_instruments.world_state.Fault`), with the meanings of
`sim_instruments.tcp_server`:

- ``latency``: wait ``value`` seconds (wall time) before answering;
- ``drop``: close the socket and bind a fresh one on the same port (the
  client's connection is reset and its request is lost);
- ``garbage``: answer with bytes that parse as nothing (not UTF-8, not JSON);
- ``silent``: read and ignore the request (the client times out).

Every emulator call runs under the world's lock. The socket is created, used
and closed by the server's own thread only (zmq sockets are not thread-safe).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

import zmq

from sim_instruments.tcp_server import answer
from sim_instruments.world_state import Fault

log = logging.getLogger(__name__)

#: How long the serving thread waits for a request before checking for a stop, ms.
_POLL_MS = 50
#: How long a re-bind after a ``drop`` may retry while the old socket closes, s.
_REBIND_S = 2.0


class Responder(Protocol):
    """What a zmq server serves: one reply per request."""

    def respond(self, message: bytes) -> bytes | None: ...


def zmq_address(port: int, host: str = "127.0.0.1") -> str:
    """The zmq endpoint of a loopback server."""
    return f"tcp://{host}:{port}"


class ZmqInstrumentServer:
    """One emulator on ``tcp://127.0.0.1:<port>`` (port 0: any free port)."""

    def __init__(self, name: str, emulator: Responder, lock: threading.RLock,
                 fault: Callable[[], Fault | None], port: int = 0,
                 host: str = "127.0.0.1") -> None:
        self.name = name
        self.emulator = emulator
        self.lock = lock
        self.fault = fault
        self.host = host
        self._context = zmq.Context()
        self._socket = self._context.socket(zmq.ROUTER)
        self._socket.setsockopt(zmq.LINGER, 0)
        if port:
            self._socket.bind(zmq_address(port, host))
            self._port = port
        else:
            self._port = self._socket.bind_to_random_port(f"tcp://{host}")
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def address(self) -> str:
        return zmq_address(self._port, self.host)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._serve, name=f"sim-zmq-{self.name}",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        else:
            self._socket.close(linger=0)
        self._context.term()

    def _serve(self) -> None:
        try:
            while not self._stopping.is_set():
                if not self._socket.poll(_POLL_MS):
                    continue
                frames = self._socket.recv_multipart()
                self._answer(frames)
        finally:
            self._socket.close(linger=0)

    def _answer(self, frames: list[bytes]) -> None:
        try:
            split = frames.index(b"")
        except ValueError:
            log.warning("%s: a request without the REP envelope", self.name)
            return
        envelope, body = frames[:split + 1], b"".join(frames[split + 1:])
        fault = self.fault()
        if fault is not None and fault.kind == "silent":
            return
        if fault is not None and fault.kind == "drop":
            self._rebind()
            return
        # REQ/REP: every request gets a reply, an empty one if the unit has nothing to say
        reply = answer(self.name, self.emulator, self.lock, body, fault)
        self._socket.send_multipart([*envelope, reply or b""])

    def _rebind(self) -> None:
        """Close the socket (every peer's connection resets) and bind the port again."""
        self._socket.close(linger=0)
        deadline = time.monotonic() + _REBIND_S
        while True:
            socket = self._context.socket(zmq.ROUTER)
            socket.setsockopt(zmq.LINGER, 0)
            try:
                socket.bind(zmq_address(self._port, self.host))
            except zmq.ZMQError:
                socket.close(linger=0)
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
                continue
            self._socket = socket
            return
