"""Request/reply over a zmq REQ socket, the way units such as IDQ's time controllers are driven.

`ZmqRequester` sends one message and waits for exactly one reply, within a
timeout. It follows zmq's "lazy pirate" pattern: after a timeout, or when
the peer drops the connection while a request is outstanding (seen on the
socket's monitor), the socket is thrown away and the next request opens a
fresh one, so a REQ socket never stays stuck waiting for a reply that will
not come. Every failure is a `DriverError` naming the command and the
reason. `ZmqScpiClient` adds SCPI text: UTF-8 replies, and replies carrying
the unit's error marker (``SCPI_ERR_`` on IDQ units) refused as errors.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading

import zmq
from zmq.utils.monitor import recv_monitor_message

from labctl.errors import DriverError, TransportError

log = logging.getLogger(__name__)

_ADDRESS = re.compile(r"^tcp://[^\s:/]+:(\d{1,5})$")


def check_address(address: str, name: str) -> str:
    """``address`` if it is ``tcp://host:port``; `DriverError` otherwise."""
    match = _ADDRESS.match(address) if isinstance(address, str) else None
    if match is None or not 0 < int(match.group(1)) < 65536:
        raise DriverError(name, f"connect {address!r}", "the address must be tcp://host:port")
    return address


class ZmqRequester:
    """One request, one reply, over a REQ socket re-created after a failure."""

    def __init__(self, address: str, name: str, timeout_s: float = 5.0,
                 context: zmq.Context[zmq.Socket[bytes]] | None = None) -> None:
        self.address = check_address(address, name)
        self.name = name
        self.timeout_s = timeout_s
        self._context = context or zmq.Context.instance()
        self._socket: zmq.Socket[bytes] | None = None
        self._monitor: zmq.Socket[bytes] | None = None
        self._lock = threading.Lock()

    def request(self, payload: bytes, command: str) -> bytes:
        """Send ``payload`` and return the reply; `DriverError` on timeout or a dropped peer."""
        with self._lock:
            socket, monitor = self._open()
            self._discard_old_events(monitor)
            try:
                socket.send(payload)
            except zmq.ZMQError as error:
                self._reset()
                raise TransportError(self.name, command, f"cannot send: {error}") from None
            poller = zmq.Poller()
            poller.register(socket, zmq.POLLIN)
            poller.register(monitor, zmq.POLLIN)
            remaining_ms = max(1, round(self.timeout_s * 1000))
            while True:
                ready = dict(poller.poll(remaining_ms))
                if socket in ready:
                    return socket.recv()
                if monitor in ready and self._dropped(monitor):
                    self._reset()
                    raise TransportError(self.name, command,
                                         f"{self.address} dropped the connection before replying")
                if not ready:
                    self._reset()
                    raise TransportError(self.name, command, f"no reply from {self.address} "
                                                             f"within {self.timeout_s:g} s")

    def reset(self) -> None:
        """Throw the socket away; the next request connects afresh."""
        with self._lock:
            self._reset()

    close = reset

    def _open(self) -> tuple[zmq.Socket[bytes], zmq.Socket[bytes]]:
        if self._socket is None or self._monitor is None:
            socket = self._context.socket(zmq.REQ)
            socket.setsockopt(zmq.LINGER, 0)
            socket.setsockopt(zmq.RECONNECT_IVL, 20)
            socket.setsockopt(zmq.SNDTIMEO, max(1, round(self.timeout_s * 1000)))
            monitor = socket.get_monitor_socket(zmq.EVENT_DISCONNECTED)
            socket.connect(self.address)
            self._socket, self._monitor = socket, monitor
        return self._socket, self._monitor

    def _discard_old_events(self, monitor: zmq.Socket[bytes]) -> None:
        """A disconnection between requests is no failure (REQ reconnects by itself)."""
        while monitor.poll(0):
            recv_monitor_message(monitor)

    @staticmethod
    def _dropped(monitor: zmq.Socket[bytes]) -> bool:
        dropped = False
        while monitor.poll(0):
            event = recv_monitor_message(monitor)
            dropped = dropped or event["event"] == zmq.EVENT_DISCONNECTED
        return dropped

    def _reset(self) -> None:
        if self._socket is not None:
            log.debug("%s: new socket to %s", self.name, self.address)
            with contextlib.suppress(zmq.ZMQError):
                self._socket.disable_monitor()
            self._socket.close(linger=0)
        if self._monitor is not None:
            self._monitor.close(linger=0)
        self._socket = self._monitor = None


class ZmqScpiClient(ZmqRequester):
    """SCPI text over `ZmqRequester`: every message, set commands too, gets one reply."""

    #: Text in a reply that marks it as the unit's refusal.
    error_marker = "SCPI_ERR_"

    def query(self, command: str) -> str:
        """Send ``command``; its reply without surrounding white space.

        `TransportError` when the reply is not UTF-8 text (garbled), `DriverError` when
        it carries `error_marker`.
        """
        reply = self.request(command.encode(), command)
        try:
            text = reply.decode("utf-8")
        except UnicodeDecodeError:
            raise TransportError(self.name, command,   # garbled: retried as a transport fault
                                 f"reply is not text: {reply[:24]!r}") from None
        if self.error_marker in text:
            log.warning("%s refused %r: %s", self.name, command, text.strip())
            raise DriverError(self.name, command, text.strip())
        return text.strip()
