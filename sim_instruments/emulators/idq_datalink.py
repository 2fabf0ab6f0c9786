"""Stand-in for IDQ's DataLink Target service (DLT), carrying an ID1000's tags to the host.

The real DLT (``DataLinkTargetService.exe``, installed with IDQ's Time
Controller software) runs on the host, answers commands on a zmq REP socket
(port 6060) with JSON, receives the unit's tag streams and either saves them
or forwards each channel to a zmq PAIR socket. What IDQ's Python examples
("TDC_ID1000/Examples/Python", ``utils/common.py``, ``utils/acquisitions``,
the timestamp stream examples) show, and this stand-in answers:

- ``start-stream --address <unit> --channel <n> --stream-port <p>
  [--with-ref-index]`` -> ``{"id": "<id>"}``; the DLT **binds** a PAIR socket on
  port ``p`` (the examples' client connects to ``tcp://localhost:<p>``);
- ``start-save --address <unit> --channel <n> --filename <f> --format bin|ascii
  [--with-ref-index]`` -> ``{"id": ...}``: the tags are written to ``f``;
- ``status --id <id>`` -> ``{"acquisitions_count", "timestamps_count",
  "inactivity", "errors"}``; ``stop --id <id>`` -> ``{"status": {...}}``;
  ``list`` -> the ids of the acquisitions still open;
- errors: ``{"error": {"description": "..."}}``.

Frames: little-endian uint64 timestamps (pairs with the reference index)
(`wire_formats.idq_id1000`). Where the examples are silent, labctl chooses:
the unit hands a channel's timestamps over once its record has ended (the
first ``status``/``stop`` after it), in frames of at most `FRAME_TAGS` tags;
``stop`` then sends an **empty frame** (the end of the stream, which IDQ's
stream client takes as the end) and closes the socket; ``inactivity`` is 0
until the tags arrived, then the wall seconds since. The reference index is
0 (the emulator records with ``RAW<n>:REF:LINK NONE``). ``--address`` must name
the unit this stand-in serves (`unit_hosts`).
"""

from __future__ import annotations

import json
import logging
import shlex
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import zmq
from numpy.typing import NDArray

from sim_instruments.emulators.idq_id1000 import IDQID1000Emulator
from sim_instruments.world_state import Fault
from sim_instruments.zmq_server import ZmqInstrumentServer
from wire_formats.idq_id1000 import encode_stream

log = logging.getLogger(__name__)

#: Most tags in one stream frame (labctl's choice; the real DLT buffers up to ~100 M).
FRAME_TAGS = 1 << 20
#: How long sending a frame may wait for the stream's client to connect, ms.
SEND_TIMEOUT_MS = 5000


class DataLinkRefusal(Exception):
    """A command the DLT answers with ``{"error": ...}``."""


@dataclass
class _Acquisition:
    channel: int
    with_ref_index: bool
    port: int | None = None
    filename: Path | None = None
    text_format: bool = False
    socket: zmq.Socket[bytes] | None = None
    record: int = 0                      # the unit's records started before it
    delivered: bool = False
    timestamps: int = 0
    delivered_at: float | None = None
    errors: list[dict[str, str]] = field(default_factory=list)


class DataLinkEmulator:
    """The DLT of one ID1000 emulator: JSON commands in, tag streams out."""

    def __init__(self, unit: IDQID1000Emulator,
                 unit_hosts: tuple[str, ...] = ("127.0.0.1", "localhost"),
                 stream_host: str = "127.0.0.1") -> None:
        self.unit = unit
        self.unit_hosts = unit_hosts
        self.stream_host = stream_host
        self._context: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        self._acquisitions: dict[str, _Acquisition] = {}
        self._serial = 0

    def respond(self, message: bytes) -> bytes:
        try:
            words = shlex.split(message.decode("utf-8"))
            if not words:
                raise DataLinkRefusal("empty command")
            answer = self._command(words[0], self._options(words[1:]))
        except (DataLinkRefusal, UnicodeDecodeError, ValueError) as error:
            answer = {"error": {"description": str(error)}}
        return json.dumps(answer).encode()

    def close(self) -> None:
        """Close every stream socket (the service shuts down)."""
        for acquisition in self._acquisitions.values():
            self._close(acquisition)
        self._acquisitions.clear()

    # --- commands ------------------------------------------------------------------

    def _command(self, verb: str, options: dict[str, str | bool]) -> Any:
        if verb in ("start-stream", "start-save"):
            return {"id": self._start(verb, options)}
        if verb == "status":
            acquisition = self._find(options)
            self._deliver(acquisition)
            return self._status(acquisition)
        if verb == "stop":
            key = str(options.get("id"))
            acquisition = self._find(options)
            self._deliver(acquisition)
            self._end(acquisition)
            del self._acquisitions[key]
            return {"status": self._status(acquisition)}
        if verb == "list":
            return sorted(self._acquisitions)
        raise DataLinkRefusal(f"unknown command '{verb}'")

    @staticmethod
    def _options(words: list[str]) -> dict[str, str | bool]:
        options: dict[str, str | bool] = {}
        i = 0
        while i < len(words):
            word = words[i]
            if not word.startswith("--"):
                raise DataLinkRefusal(f"unexpected argument '{word}'")
            if i + 1 < len(words) and not words[i + 1].startswith("--"):
                options[word[2:]] = words[i + 1]
                i += 2
            else:
                options[word[2:]] = True
                i += 1
        return options

    def _start(self, verb: str, options: dict[str, str | bool]) -> str:
        address = options.get("address")
        if not isinstance(address, str) or address not in self.unit_hosts:
            raise DataLinkRefusal(f"no time controller at address {address!r}")
        channel = _integer(options, "channel", 1, self.unit.state.n_inputs)
        acquisition = _Acquisition(channel=channel,
                                   with_ref_index=bool(options.get("with-ref-index")),
                                   record=self.unit.record_generation)
        if verb == "start-stream":
            acquisition.port = _integer(options, "stream-port", 1, 65535)
            socket = self._context.socket(zmq.PAIR)
            socket.setsockopt(zmq.LINGER, 1000)
            socket.setsockopt(zmq.SNDHWM, 0)
            socket.setsockopt(zmq.SNDTIMEO, SEND_TIMEOUT_MS)
            try:
                socket.bind(f"tcp://{self.stream_host}:{acquisition.port}")
            except zmq.ZMQError as error:
                socket.close(linger=0)
                raise DataLinkRefusal(f"cannot stream on port {acquisition.port}: "
                                      f"{error}") from None
            acquisition.socket = socket
        else:
            filename, fmt = options.get("filename"), options.get("format", "bin")
            if not isinstance(filename, str) or fmt not in ("bin", "ascii"):
                raise DataLinkRefusal("start-save needs --filename F and --format bin|ascii")
            acquisition.filename, acquisition.text_format = Path(filename), fmt == "ascii"
        self._serial += 1
        key = f"{self._serial}"
        self._acquisitions[key] = acquisition
        return key

    def _find(self, options: dict[str, str | bool]) -> _Acquisition:
        key = options.get("id")
        acquisition = self._acquisitions.get(str(key))
        if acquisition is None:
            raise DataLinkRefusal(f"no acquisition with id {key!r}")
        return acquisition

    @staticmethod
    def _status(acquisition: _Acquisition) -> dict[str, Any]:
        since = acquisition.delivered_at
        return {"acquisitions_count": int(acquisition.delivered),
                "timestamps_count": acquisition.timestamps,
                "inactivity": 0.0 if since is None else time.monotonic() - since,
                "errors": list(acquisition.errors)}

    # --- the tags --------------------------------------------------------------------

    def _deliver(self, acquisition: _Acquisition) -> None:
        """Hand over the channel's tags once a record started after this acquisition ended."""
        if acquisition.delivered or self.unit.record_generation == acquisition.record:
            return
        times = self.unit.streamed_timestamps(acquisition.channel)
        if times is None:
            return
        acquisition.delivered, acquisition.delivered_at = True, time.monotonic()
        acquisition.timestamps = int(times.size)
        if acquisition.socket is not None:
            self._send(acquisition, times)
        elif acquisition.filename is not None:
            self._save(acquisition, times)

    def _payload(self, acquisition: _Acquisition, times: NDArray[np.uint64]) -> bytes:
        refs = np.zeros_like(times) if acquisition.with_ref_index else None
        return encode_stream(times, refs)

    def _send(self, acquisition: _Acquisition, times: NDArray[np.uint64]) -> None:
        assert acquisition.socket is not None
        try:
            for start in range(0, times.size, FRAME_TAGS):
                chunk = times[start:start + FRAME_TAGS]
                acquisition.socket.send(self._payload(acquisition, chunk), copy=False)
        except zmq.ZMQError as error:
            log.warning("DLT: channel %d stream lost: %s", acquisition.channel, error)
            acquisition.errors.append({"description": f"stream to port {acquisition.port} "
                                                      f"lost: {error}"})

    def _save(self, acquisition: _Acquisition, times: NDArray[np.uint64]) -> None:
        assert acquisition.filename is not None
        try:
            if acquisition.text_format:
                acquisition.filename.write_text("".join(f"{t}\n" for t in times.tolist()))
            else:
                acquisition.filename.write_bytes(self._payload(acquisition, times))
        except OSError as error:
            acquisition.errors.append({"description": f"cannot write {acquisition.filename}: "
                                                      f"{error.strerror}"})

    def _end(self, acquisition: _Acquisition) -> None:
        if acquisition.socket is not None:
            try:
                acquisition.socket.send(b"")
            except zmq.ZMQError as error:
                log.warning("DLT: cannot end channel %d's stream: %s", acquisition.channel,
                            error)
        self._close(acquisition)

    @staticmethod
    def _close(acquisition: _Acquisition) -> None:
        if acquisition.socket is not None:
            acquisition.socket.close()
            acquisition.socket = None


def _integer(options: dict[str, str | bool], name: str, low: int, high: int) -> int:
    value = options.get(name)
    if not isinstance(value, str) or not value.isdigit() or not low <= int(value) <= high:
        raise DataLinkRefusal(f"--{name} must be an integer within {low}..{high}, "
                              f"got {value!r}")
    return int(value)


class ID1000Servers:
    """An ID1000 emulator on zmq port ``P`` and its DLT stand-in on ``P + 1``.

    The pair of ports lets a station say where the DLT is relative to the unit
    (``data_link: "+1"``, see ``drivers/idq_id1000.py``). Injected faults reach
    the unit's socket; the DLT (a host program) answers regardless.
    """

    def __init__(self, name: str, unit: IDQID1000Emulator, lock: threading.RLock,
                 fault: Callable[[], Fault | None], port: int = 0) -> None:
        self.datalink = DataLinkEmulator(unit)
        for _ in range(1 if port else 50):
            self.unit_server = ZmqInstrumentServer(name, unit, lock, fault, port)
            try:
                self.datalink_server = ZmqInstrumentServer(
                    f"{name}-dlt", self.datalink, lock, lambda: None, self.unit_server.port + 1)
                return
            except zmq.ZMQError:
                self.unit_server.stop()
        raise OSError(f"{name}: no free pair of ports for the unit and its DataLink service")

    @property
    def port(self) -> int:
        return self.unit_server.port

    def start(self) -> None:
        self.unit_server.start()
        self.datalink_server.start()

    def stop(self) -> None:
        self.unit_server.stop()
        self.datalink_server.stop()
        with self.datalink_server.lock:
            self.datalink.close()
