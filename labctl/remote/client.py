"""An orchestrator's connection to one node: requests with timeouts, heartbeats, loss.

`NodeClient` talks to one ``labctl node serve`` over two DEALER sockets:

- **requests**, one at a time, each with its own timeout (a late reply to a
  request that timed out is recognised by its id and dropped);
- **heartbeats**, from a background thread, every fifth of the node's
  heartbeat timeout: they keep this orchestrator's session alive on the
  node (a node that stops hearing them from a session that changed anything
  puts its instruments in safe state).

Whether the *node* is alive is left to libzmq: the node's ZMTP heartbeats
carry a time-to-live, so the connection drops within the node's heartbeat
timeout when the node PC or the network dies, and at once when the node
process ends. The heartbeat thread watches its socket's monitor: a dropped
connection — or a heartbeat reply from a restarted node, or one that gave
up on this session — makes the node *lost*. Every later request then fails
at once with `NodeLost`, and a request waiting for its reply is abandoned
within a fraction of a second. ``abort`` lets the group
(`labctl.remote.nodes`) stop requests to every node when one node of the
run is lost; requests marked ``safety`` (safe state, disarm) are never
stopped that way.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import zmq
from zmq.utils.monitor import recv_monitor_message

from labctl.errors import RemoteError
from labctl.remote.codec import Frame
from labctl.remote.errors import (
    ERROR_KINDS,
    AuthenticationRefused,
    NodeLost,
    ProtocolError,
    RemoteTimeout,
)
from labctl.remote.keys import ClientKeys, use_as_client
from labctl.remote.protocol import parse_reply, receive, request

log = logging.getLogger(__name__)

#: How long a request waits for its reply unless told otherwise (the node's own
#: instrument timeouts fire well before; a dead node is noticed by heartbeats).
DEFAULT_CALL_TIMEOUT = 120.0
DEFAULT_CONNECT_TIMEOUT = 5.0
#: Longest stretch a waiting request goes without checking for node loss.
_SLICE = 0.05
_FAILED_HANDSHAKE = (zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                     | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)
_AUTH_EVENTS = _FAILED_HANDSHAKE | zmq.EVENT_HANDSHAKE_SUCCEEDED


class NodeClient:
    """Requests to one node and its heartbeat (see the module docstring)."""

    def __init__(self, context: zmq.Context[zmq.Socket[bytes]], address: str,
                 session: str, keys: ClientKeys | None = None,
                 call_timeout: float = DEFAULT_CALL_TIMEOUT,
                 on_lost: Callable[[NodeClient, str], None] | None = None,
                 abort: Callable[[], str | None] | None = None) -> None:
        self.address = address
        self.session = session
        self.call_timeout = call_timeout
        self.hello: dict[str, Any] = {}
        self.lost: str | None = None
        self._context = context
        self._keys = keys
        self._on_lost = on_lost
        self._abort = abort
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None
        self._socket, _ = self._dealer()
        self._socket.rcvtimeo = round(_SLICE * 1000)

    @property
    def label(self) -> str:
        nodes = ", ".join(self.hello.get("nodes", ())) or "node"
        return f"{nodes} at {self.address}"

    def connect(self, timeout: float = DEFAULT_CONNECT_TIMEOUT) -> dict[str, Any]:
        """Say hello (refused keys and silence are errors) and start heartbeating."""
        monitor = self._socket.get_monitor_socket(_AUTH_EVENTS) if self._keys else None
        try:
            result, _ = self.request("hello", timeout=timeout, monitor=monitor,
                                     client="labctl")
        finally:
            if monitor is not None:
                self._socket.disable_monitor()
                monitor.close(linger=0)
        if not isinstance(result, dict) or not isinstance(result.get("instance"), str):
            raise ProtocolError(f"{self.address}: not a labctl node")
        self.hello = result
        timeout_s = float(result.get("heartbeat_timeout", 10.0))
        self._beat = threading.Thread(target=self._heartbeat, args=(timeout_s,),
                                      name=f"labctl-heartbeat-{self.address}", daemon=True)
        self._beat.start()
        return result

    def request(self, op: str, frames: Sequence[Frame] = (), *, timeout: float | None = None,
                safety: bool = False, monitor: zmq.Socket[bytes] | None = None,
                **fields: Any) -> tuple[Any, list[Frame]]:
        """Send one request and wait for its reply: ``(result, data frames)``."""
        timeout = self.call_timeout if timeout is None else timeout
        with self._lock:
            self._check(safety)
            request_id = next(self._ids)
            message = request(request_id, self.session, op, frames, **fields)
            if frames:
                self._socket.send_multipart(message, copy=False)
            else:
                self._socket.send(message[0])
            deadline = time.monotonic() + timeout
            while True:
                parts = self._receive(monitor)
                if parts is not None:
                    header, data = parse_reply(parts)
                    if header.get("id") == request_id:
                        if header["ok"]:
                            return header.get("result"), data
                        raise _error(header.get("error"), self.label)
                    continue   # the late reply of a request that timed out
                self._check(safety)
                if time.monotonic() > deadline:
                    raise RemoteTimeout(f"{self.label}: no reply to {op} within {timeout:g} s")

    def close(self) -> None:
        """Say goodbye (so the node does not mistake it for a crash) and stop heartbeats."""
        if self.lost is None and self._beat is not None:
            try:
                self.request("bye", timeout=2.0, safety=True)
            except (RemoteError, zmq.ZMQError) as error:  # the node times us out anyway
                log.info("%s: goodbye not acknowledged: %s", self.label, error)
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=5)
        self._socket.close(linger=0)

    # --- internals ------------------------------------------------------------------

    def _dealer(self, monitor_events: int = 0) -> tuple[zmq.Socket[bytes],
                                                        zmq.Socket[bytes] | None]:
        """A connected DEALER, and its monitor when ``monitor_events`` are asked for
        (attached before connecting, so no event of the connection is missed)."""
        sock = self._context.socket(zmq.DEALER)
        sock.linger = 0
        if self._keys is not None:
            use_as_client(sock, self._keys)
        monitor = sock.get_monitor_socket(monitor_events) if monitor_events else None
        try:
            sock.connect(self.address)
        except zmq.ZMQError as error:
            if monitor is not None:
                sock.disable_monitor()
                monitor.close(linger=0)
            sock.close(linger=0)
            raise RemoteError(f"cannot connect to {self.address}: {error}") from None
        return sock, monitor

    def _check(self, safety: bool) -> None:
        if self.lost is not None:   # the reason once, where the run failed; then short
            raise NodeLost(f"{self.label} is lost" if safety
                           else f"{self.label} lost: {self.lost}")
        if not safety and self._abort is not None and (reason := self._abort()) is not None:
            raise NodeLost(f"run stopped: {reason}")

    def _receive(self, monitor: zmq.Socket[bytes] | None) -> list[Frame] | None:
        """The next message, or None after a short wait (so loss is checked meanwhile)."""
        if monitor is None:
            try:
                return receive(self._socket, leading=1)
            except zmq.Again:
                return None
        poller = zmq.Poller()
        poller.register(self._socket, zmq.POLLIN)
        poller.register(monitor, zmq.POLLIN)
        ready = dict(poller.poll(round(_SLICE * 1000)))
        if monitor in ready and recv_monitor_message(monitor)["event"] & _FAILED_HANDSHAKE:
            raise AuthenticationRefused(f"the node at {self.address} refused this PC's CURVE "
                                        "key (not in its authorized_clients), or its public "
                                        "key is not the one in this keys folder")
        return receive(self._socket, leading=1) if self._socket in ready else None

    def _mark_lost(self, reason: str) -> None:
        if self.lost is None:
            self.lost = reason
            log.error("%s lost: %s", self.label, reason)
            if self._on_lost is not None:
                self._on_lost(self, reason)

    def _heartbeat(self, timeout: float) -> None:
        """Keep the session alive; notice a dropped connection or a node that changed.

        The monitor is attached before the socket connects: attached after, it
        could miss the handshake of a fast connection, and a later disconnect
        would then go unnoticed (libzmq's own heartbeats drop a dead peer's
        connection; a slow call on a busy node is not a loss).
        """
        interval = max(timeout / 5, 0.01)
        sock, monitor = self._dealer(zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED)
        assert monitor is not None
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        poller.register(monitor, zmq.POLLIN)
        instance = self.hello.get("instance")
        ids = itertools.count(1)
        connected = False
        next_beat = 0.0
        try:
            while not self._stop.is_set() and self.lost is None:
                now = time.monotonic()
                if now >= next_beat:
                    sock.send_multipart(request(next(ids), self.session, "heartbeat"))
                    next_beat = now + interval
                wait = min(next_beat - now, _SLICE * 2)
                ready = dict(poller.poll(max(1, round(wait * 1000))))
                if monitor in ready:
                    event = recv_monitor_message(monitor)["event"]
                    if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                        connected = True
                    elif event == zmq.EVENT_DISCONNECTED and connected:
                        self._mark_lost(f"connection dropped (the node ended, or sent nothing "
                                        f"for {timeout:g} s)")
                if sock in ready:
                    header, _ = parse_reply(sock.recv_multipart())
                    if not header["ok"]:
                        message = (header.get("error") or {}).get("message", "refused")
                        self._mark_lost(f"the node refused the heartbeat: {message}")
                    elif (header.get("result") or {}).get("instance") != instance:
                        self._mark_lost("the node restarted (its instruments were "
                                        "re-initialised)")
        except (zmq.ZMQError, ProtocolError) as error:
            self._mark_lost(f"heartbeat failed: {error}")
        finally:
            sock.disable_monitor()
            monitor.close(linger=0)
            sock.close(linger=0)


def _error(error: Any, label: str) -> Exception:
    kind = error.get("kind") if isinstance(error, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    cls = ERROR_KINDS.get(str(kind), ERROR_KINDS["internal"])
    return cls(f"{label}: {message or kind or 'unknown error'}")
