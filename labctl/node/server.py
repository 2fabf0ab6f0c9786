"""``labctl node serve``: one station's instruments on a zmq ROUTER socket.

One thread — the one calling `NodeServer.serve` — owns every socket and runs
the instruments (QCoDeS drivers are not thread-safe): it reads each request,
refuses what is malformed or too large (`labctl.remote.protocol`), not on
the allow-list (`labctl.remote.catalog`) or not allowed now
(`labctl.remote.session`), runs what remains and replies. Whenever no request
is waiting it does the housekeeping: herald-bus events (the subscriber of a
node) and the watchdog, which puts the instruments in safe state when a
session that changed anything stops sending heartbeats.

Liveness of the node itself is left to libzmq: the ROUTER sends ZMTP
heartbeats from its I/O thread (``ZMQ_HEARTBEAT_IVL``) with a time-to-live
(``ZMQ_HEARTBEAT_TTL``), so an orchestrator's connection drops within the
heartbeat timeout when this PC or its network dies — but not while an
instrument call takes long, nor when Python is busy.

The heralding station's node may also publish heralds (PUB): after each
``fetch_tags`` of its time tagger's capability, the heralds found are sent on
the bus.

Binding anything but loopback needs CURVE keys (`labctl.remote.keys`). An
error in one request becomes an error reply to it; nothing a client sends
stops the server.
"""

from __future__ import annotations

import json
import logging
import math
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import zmq
from pyvisa.errors import VisaIOError
from qcodes.instrument import Instrument
from qcodes.parameters import ParameterBase
from qcodes.utils import NumpyJSONEncoder

from labctl.clock import WallClock
from labctl.errors import LabctlError, RemoteError, TransportError
from labctl.instruments.roles import ROLES
from labctl.instruments.tagger import TimeTagger
from labctl.remote.address import parse_endpoint
from labctl.remote.catalog import CAPABILITY, Catalog
from labctl.remote.codec import Codec, Frame
from labctl.remote.errors import CallRefused, ProtocolError
from labctl.remote.heralds_bus import HeraldDetector, HeraldPublisher, HeraldSubscriber
from labctl.remote.keys import ClientKeys, ServerKeys, start_authenticator, use_as_server
from labctl.remote.protocol import (
    PROTOCOL_VERSION,
    BadRequest,
    Limits,
    Request,
    error_reply,
    ok_reply,
    parse_request,
    receive,
)
from labctl.remote.session import Sessions
from labctl.simulation import check_clock_request
from labctl.station import LabStation

log = logging.getLogger(__name__)

#: Default address of a node: loopback only.
DEFAULT_BIND = "tcp://127.0.0.1:5555"
DEFAULT_HEARTBEAT_TIMEOUT = 10.0
ModuleRef = Callable[[Any], str | None]


@dataclass(frozen=True)
class ServerOptions:
    """How a node serves: address, keys, heartbeat timeout, message limits, herald bus."""

    bind: str = DEFAULT_BIND
    keys: ServerKeys | None = None
    heartbeat_timeout: float = DEFAULT_HEARTBEAT_TIMEOUT
    limits: Limits = field(default_factory=Limits)
    herald_bus: str | None = None
    herald_source: str | None = None
    herald_window_ps: int = 25_000

    def __post_init__(self) -> None:
        if not (math.isfinite(self.heartbeat_timeout) and self.heartbeat_timeout > 0):
            raise LabctlError(f"heartbeat timeout must be a positive number of seconds, "
                              f"got {self.heartbeat_timeout}")
        for what, address in (("--bind", self.bind), ("--herald-bus", self.herald_bus)):
            if address is None:
                continue
            try:
                endpoint = parse_endpoint(address, bind=True)
            except ValueError as error:
                raise LabctlError(f"{what}: {error}") from None
            if not endpoint.is_loopback and self.keys is None:
                raise LabctlError(f"{what} {address}: binding anything but loopback "
                                  "(127.0.0.1) needs CURVE keys (--keys DIR, made by "
                                  "'labctl keys generate DIR')")
        if self.herald_source is not None:
            try:
                source = parse_endpoint(self.herald_source)
            except ValueError as error:
                raise LabctlError(f"--herald-source: {error}") from None
            if not source.is_loopback and self.keys is None:
                raise LabctlError(f"--herald-source {self.herald_source}: a bus off this PC "
                                  "needs CURVE keys (--keys DIR)")


class NodeServer:
    """Serves a loaded station's instruments (see the module docstring)."""

    def __init__(self, station: LabStation, options: ServerOptions) -> None:
        self.station = station
        self.options = options
        self.instance = secrets.token_hex(8)
        self._beat = {"instance": self.instance}
        self._by_op = self._handlers()
        self.codec = Codec()
        self.sessions = Sessions(options.heartbeat_timeout)
        self.catalogs = {instrument.name: self._build_catalog(instrument)
                         for instrument in station.loaded_instruments()}
        self.endpoint = ""
        self.herald_endpoint: str | None = None
        self._context: zmq.Context[zmq.Socket[bytes]] | None = None
        self._authenticator: Any = None
        self._router: zmq.Socket[bytes] | None = None
        self._publisher: HeraldPublisher | None = None
        self._subscriber: HeraldSubscriber | None = None
        self._tagger: str | None = None
        self._detector = self._herald_detector()
        self._safe_states: list[dict[str, Any]] = []
        self._publisher_count = 0
        #: How often the watchdog runs when no request is waiting, s.
        self._tick = max(0.005, min(0.1, options.heartbeat_timeout / 4))
        self._next_housekeeping = 0.0

    # --- lifecycle ----------------------------------------------------------------

    def start(self) -> str:
        """Bind; the endpoint actually bound."""
        context: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self._context = context
        heartbeat_ms = round(self.options.heartbeat_timeout * 1000)
        try:
            if self.options.keys is not None:
                self._authenticator = start_authenticator(context, self.options.keys)
            router = context.socket(zmq.ROUTER)
            self._router = router
            router.linger = 0
            router.maxmsgsize = self.options.limits.hard_limit
            router.heartbeat_ivl = max(heartbeat_ms // 4, 1)
            router.heartbeat_ttl = max(heartbeat_ms, 100)
            router.heartbeat_timeout = max(heartbeat_ms, 100)
            if self.options.keys is not None:
                use_as_server(router, self.options.keys)
            router.bind(self.options.bind)
            self.endpoint = router.getsockopt_string(zmq.LAST_ENDPOINT)
            if self.options.herald_bus is not None:
                self._publisher = HeraldPublisher(context, self.options.herald_bus,
                                                  self.options.keys)
                self.herald_endpoint = self._publisher.endpoint
            if self.options.herald_source is not None:
                client_keys = (ClientKeys.load(self.options.keys.directory)
                               if self.options.keys is not None else None)
                self._subscriber = HeraldSubscriber(context, self.options.herald_source,
                                                    client_keys)
        except zmq.ZMQError as error:
            self.close()
            raise LabctlError(f"cannot serve on {self.options.bind}: {error}") from None
        except BaseException:
            self.close()
            raise
        log.info("node serving %s on %s", ", ".join(self.catalogs), self.endpoint)
        return self.endpoint

    def serve(self, stop: threading.Event) -> None:
        """Run the loop until ``stop`` is set; safe state if a run is still armed then."""
        router = self._router
        assert router is not None
        router.rcvtimeo = round(self._tick * 1000)
        try:
            while not stop.is_set():
                try:
                    parts = receive(router, leading=2)
                except zmq.Again:       # nothing for a tick
                    self._housekeeping()
                    continue
                self._on_message(parts)
                if time.monotonic() >= self._next_housekeeping and not (
                        int(router.getsockopt(zmq.EVENTS)) & int(zmq.POLLIN)):
                    self._housekeeping()
        finally:
            armed = self.sessions.armed
            if armed is not None:
                log.warning("node stopping while run %d is armed: safe state", armed.run_id)
                self._safe_state(f"node stopped during run {armed.run_id}")

    def close(self) -> None:
        for closable in (self._publisher, self._subscriber):
            if closable is not None:
                closable.close()
        if self._router is not None:
            self._router.close(linger=0)
        if self._authenticator is not None:
            self._authenticator.stop()
        if self._context is not None:
            self._context.term()
        self._router = self._context = self._authenticator = None
        self._publisher = self._subscriber = None

    # --- the network loop ---------------------------------------------------------

    def _housekeeping(self) -> None:
        """Between requests (never while one waits): herald events, then the watchdog."""
        self._next_housekeeping = time.monotonic() + self._tick
        if self._subscriber is not None:
            for _ in range(10_000):
                try:
                    self._subscriber.handle(self._subscriber.socket.recv_multipart(zmq.NOBLOCK))
                except zmq.Again:
                    break
        self._watchdog()

    def _reply(self, identity: bytes, frames: list[Frame]) -> None:
        assert self._router is not None
        if len(frames) == 1:
            self._router.send(identity, zmq.SNDMORE)
            self._router.send(frames[0])
        else:
            self._router.send_multipart([identity, *frames], copy=False)

    def _on_message(self, parts: list[Frame]) -> None:
        identity, frames = bytes(parts[0]), parts[1:]
        try:
            request = parse_request(frames, self.options.limits)
        except BadRequest as error:
            log.warning("refused a request: %s", error)
            self._reply(identity, error_reply(error.request_id, error.kind, str(error)))
            return
        try:
            self._dispatch(identity, request)
        except RemoteError as error:
            kind = getattr(error, "kind", "internal")
            if kind == "refused":
                log.warning("refused %s %s: %s", request.op,
                            request.fields.get("path", ""), error)
            self._reply(identity, error_reply(request.id, kind, str(error)))
        except Exception as error:  # a bug must not stop the node: reply, log, carry on
            log.exception("error handling %s", request.op)
            self._reply(identity, error_reply(request.id, "internal",
                                              f"{type(error).__name__}: {error}"))

    def _handlers(self) -> dict[str, Callable[[bytes, Request], None]]:
        return {"heartbeat": self._heartbeat, "hello": self._hello, "status": self._status,
                "describe": self._describe, "bye": self._bye, "get": self._get,
                "set": self._set, "call": self._call, "snapshot": self._snapshot,
                "arm": self._arm, "go": self._go, "disarm": self._disarm,
                "reconnect": self._reconnect, "clock": self._clock}

    def _dispatch(self, identity: bytes, request: Request) -> None:
        handler = self._by_op.get(request.op)
        if handler is None:   # parse_request knows every op; this is a programming error
            raise ProtocolError(f"operation {request.op!r} is not implemented")
        handler(identity, request)

    # --- operations that answer from the node's own state -----------------------------

    def _heartbeat(self, identity: bytes, request: Request) -> None:
        self.sessions.seen(request.session)
        self._reply(identity, ok_reply(request.id, self._beat))

    def _hello(self, identity: bytes, request: Request) -> None:
        self.sessions.seen(request.session)
        limits = self.options.limits
        self._reply(identity, ok_reply(request.id, {
            "protocol": PROTOCOL_VERSION, "instance": self.instance,
            "nodes": sorted({s.node for s in self.station.spec.instruments if s.node}),
            "instruments": list(self.catalogs),
            "heartbeat_timeout": self.options.heartbeat_timeout,
            "clock": self._clock_info(),
            "limits": {"max_message_bytes": limits.max_message_bytes,
                       "max_header_bytes": limits.max_header_bytes}}))

    def _status(self, identity: bytes, request: Request) -> None:
        self.sessions.seen(request.session)
        armed = self.sessions.armed
        self._reply(identity, ok_reply(request.id, {
            "instance": self.instance, "sessions": self.sessions.count(),
            "run": None if armed is None else {"run_id": armed.run_id, "state": armed.state},
            "safe_states": list(self._safe_states),
            "heralds": None if self._subscriber is None else self._subscriber.stats.as_dict(),
            "heralds_published": None if self._publisher is None else self._publisher_count}))

    def _describe(self, identity: bytes, request: Request) -> None:
        self.sessions.seen(request.session)
        description = self._catalog(request.fields["instrument"]).description
        self._reply(identity, ok_reply(request.id, description))

    def _bye(self, identity: bytes, request: Request) -> None:
        ended = self.sessions.bye(request.session)
        if ended is not None:
            log.info("run %d ended: its orchestrator left", ended.run_id)
        self._reply(identity, ok_reply(request.id))

    def _go(self, identity: bytes, request: Request) -> None:
        run_id = request.fields["run_id"]
        self.sessions.go(request.session, run_id)
        log.info("run %d: going", run_id)
        self._reply(identity, ok_reply(request.id))

    def _disarm(self, identity: bytes, request: Request) -> None:
        ended = self.sessions.disarm(request.session, request.fields["run_id"])
        if ended is not None:
            log.info("run %d: ended", ended.run_id)
        self._reply(identity, ok_reply(request.id))

    # --- operations on instruments ------------------------------------------------------

    def _catalog(self, name: str) -> Catalog:
        catalog = self.catalogs.get(name)
        if catalog is None:
            raise CallRefused(f"this node serves no instrument {name!r} (it serves "
                              f"{', '.join(self.catalogs)})")
        return catalog

    def _parameter(self, request: Request, settable: bool) -> ParameterBase:
        fields = request.fields
        parameter = self._catalog(fields["instrument"]).parameters.get(fields["path"])
        if parameter is None or not (parameter.settable if settable else parameter.gettable):
            able = "settable" if settable else "gettable"
            raise CallRefused(f"{fields['instrument']}.{fields['path']}: not a {able} "
                              "parameter this node serves")
        return parameter

    def _get(self, identity: bytes, request: Request) -> None:
        parameter = self._parameter(request, settable=False)
        self.sessions.check(request.session, write=False)
        self._run(identity, request.id, parameter.get)

    def _set(self, identity: bytes, request: Request) -> None:
        parameter = self._parameter(request, settable=True)
        value = self.codec.decode(request.fields["value"], request.frames)
        self.sessions.check(request.session, write=True)
        self._run(identity, request.id, lambda: parameter.set(value))

    def _snapshot(self, identity: bytes, request: Request) -> None:
        instrument = self._catalog(request.fields["instrument"]).instrument
        update = bool(request.fields.get("update", False))
        self.sessions.check(request.session, write=False)
        self._run(identity, request.id, lambda: json.dumps(
            instrument.snapshot(update=update), cls=NumpyJSONEncoder))

    def _call(self, identity: bytes, request: Request) -> None:
        fields = request.fields
        catalog = self._catalog(fields["instrument"])
        path = fields["path"]
        method = catalog.methods.get(path)
        if method is None:
            allowed = ", ".join(catalog.methods) or "none"
            raise CallRefused(f"{fields['instrument']}.{path}: not a method this node allows "
                              f"(allowed: {allowed})")
        args = self.codec.decode(fields.get("args", []), request.frames)
        kwargs = self.codec.decode(fields.get("kwargs", {}), request.frames)
        if not (isinstance(kwargs, dict) and all(isinstance(k, str) for k in kwargs)):
            raise ProtocolError("kwargs must map names to values")
        self.sessions.check(request.session, write=True,
                            safety=path.rsplit(".", 1)[-1] == "safe_state")
        run = (lambda: self._fetched(method(*args, **kwargs), catalog)) \
            if path == f"{CAPABILITY}.fetch_tags" else (lambda: method(*args, **kwargs))
        self._run(identity, request.id, run, catalog.module_path)

    def _reconnect(self, identity: bytes, request: Request) -> None:
        self.sessions.check(request.session, write=True)
        self._run(identity, request.id, self.station.reconnect)

    def _arm(self, identity: bytes, request: Request) -> None:
        run_id, session = request.fields["run_id"], request.session
        self.sessions.arm(session, run_id)
        log.info("run %d: arming", run_id)

        def check_instruments() -> dict[str, Any]:
            try:
                for catalog in self.catalogs.values():
                    catalog.instrument.get_idn()
            except Exception:
                self.sessions.disarm(session, run_id)
                raise
            return {"run_id": run_id, "instruments": list(self.catalogs)}

        self._run(identity, request.id, check_instruments)

    def _clock(self, identity: bytes, request: Request) -> None:
        action, seconds = request.fields["action"], request.fields.get("seconds", 0.0)
        clock = self.station.clock
        if action == "now":
            self.sessions.check(request.session, write=False)
            self._run(identity, request.id, clock.now)
        elif action == "sleep":
            try:   # finite, >= 0, at most a day per request (`MAX_CLOCK_REQUEST_S`)
                duration = check_clock_request(seconds)
            except ValueError as error:
                raise ProtocolError(f"cannot sleep {seconds!r} s: {error}") from None
            self.sessions.check(request.session, write=True)
            self._run(identity, request.id, lambda: clock.sleep(duration))
        else:
            raise ProtocolError(f"clock action must be 'now' or 'sleep', not {action!r}")

    def _watchdog(self) -> None:
        for session, armed in self.sessions.expire():
            during = f" during run {armed.run_id}" if armed is not None else ""
            reason = (f"orchestrator session {session.id[:8]} lost{during}: no heartbeat for "
                      f"{self.options.heartbeat_timeout:g} s")
            log.warning("%s; putting the instruments in safe state", reason)
            self._safe_state(reason)

    def _clock_info(self) -> dict[str, str]:
        clock = self.station.clock
        if isinstance(clock, WallClock):
            return {"kind": "wall", "id": socket.gethostname()}
        address = getattr(clock, "address", None)
        where = f"{address[0]}:{address[1]}" if isinstance(address, tuple) else \
            f"{socket.gethostname()}/{os.getpid()}"
        return {"kind": "virtual", "id": where}

    # --- running instrument operations ---------------------------------------------

    def _run(self, identity: bytes, request_id: int, action: Callable[[], Any],
             module_ref: ModuleRef | None = None) -> None:
        """Run ``action`` and reply with its value, or with the error it raised."""
        try:
            value = action()
            frames: list[Frame] = []
            reply = ok_reply(request_id, self.codec.encode(value, frames, module_ref), frames)
        except Exception as error:  # becomes the caller's error reply; the node goes on
            kind = classify(error)
            if kind == "internal":
                log.exception("request %d failed", request_id)
            else:
                log.info("request %d failed (%s): %s", request_id, kind, one_line(error))
            reply = error_reply(request_id, kind, one_line(error))
        self._reply(identity, reply)

    def _safe_state(self, reason: str) -> None:
        entry: dict[str, Any] = {"reason": reason, "at": time.time(), "ok": True}
        try:
            self.station.safe_state_all()
            log.warning("instruments in safe state (%s)", reason)
        except LabctlError as error:
            entry.update(ok=False, error=str(error))
            log.error("safe state failed (%s): %s", reason, error)
        self._safe_states.append(entry)

    # --- heralds --------------------------------------------------------------------

    def _herald_detector(self) -> HeraldDetector | None:
        if self.options.herald_bus is None:
            return None
        tagger = next((s for s in self.station.spec.instruments if s.role == "time_tagger"),
                      None)
        if tagger is None:
            raise LabctlError("--herald-bus: this station has no instrument in role "
                              "'time_tagger' to find heralds with")
        wiring = tagger.wiring
        self._tagger = tagger.name
        try:
            return HeraldDetector(int(wiring["sync"]), int(wiring["herald_plus"]),
                                  int(wiring["herald_minus"]), self.options.herald_window_ps)
        except (KeyError, TypeError, ValueError):
            raise LabctlError(f"--herald-bus: the wiring of '{tagger.name}' must name the "
                              "inputs 'sync', 'herald_plus' and 'herald_minus'") from None

    def _build_catalog(self, instrument: Instrument) -> Catalog:
        """The instrument's catalog, with its role's capability where labctl defines one."""
        spec = next(s for s in self.station.spec.instruments if s.name == instrument.name)
        role = ROLES.get(spec.role or "")
        if role is None:
            return Catalog.build(instrument, self.codec)
        return Catalog.build(instrument, self.codec, self.station.capability_of(instrument.name),
                             role.capability)

    def _fetched(self, result: Any, catalog: Catalog) -> Any:
        """Publish the heralds of a time-tagger recording (the heralding station's job).

        The detection round opens where the tagger's delays put it: the click
        input's delay minus the sync input's, as the tagger capability reports them.
        """
        if self._publisher is None or self._detector is None \
                or catalog.instrument.name != self._tagger \
                or not (isinstance(result, tuple) and len(result) == 2):
            return result
        channels, timestamps = result
        detector = self._detector
        tagger = self.station.capability_of(catalog.instrument.name)
        assert isinstance(tagger, TimeTagger)
        offset = tagger.input_delay_ps(detector.plus) - tagger.input_delay_ps(detector.sync)
        armed = self.sessions.armed
        run_id = armed.run_id if armed is not None else None
        for attempt, pattern, timestamp in detector.detect(channels, timestamps, offset):
            self._publisher.publish(attempt, pattern, timestamp, run_id)
            self._publisher_count += 1
        return result


def classify(error: BaseException) -> str:
    """The error kind a reply carries for an exception raised on the node."""
    if isinstance(error, RemoteError):
        return str(getattr(error, "kind", "internal"))
    if isinstance(error, VisaIOError | ConnectionError | TimeoutError | OSError |
                  TransportError):
        return "transport"
    if isinstance(error, ValueError | TypeError | KeyError | IndexError):
        return "invalid"
    if isinstance(error, LabctlError):
        return "instrument"
    return "internal"


def one_line(error: BaseException) -> str:
    """An error in one line (QCoDeS appends its context to ``args``)."""
    if isinstance(error, LabctlError | VisaIOError):
        text = str(error)
    elif isinstance(error, OSError) and error.strerror:
        text = f"{type(error).__name__}: {error.strerror}"
    else:
        first = str(error.args[0]) if error.args else ""
        text = f"{type(error).__name__}: {first}" if first else type(error).__name__
    return " ".join(text.split())


