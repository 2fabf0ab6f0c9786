"""labctl's stand-in for the Swabian Instruments Time Tagger library (``Swabian.TimeTagger``).

The vendor's package installs from PyPI, but creating a tagger — even its
``createTimeTaggerVirtual`` — needs a unit attached or a licence, so the
virtual lab stands in for it at the API level: a driver written against
``Swabian.TimeTagger`` imports this module instead (``library:`` in the
station's ``init``) and runs unchanged. What is here mirrors the real
library's names, argument names and order, units (ps, V, counts/s) and return
types, for the parts labctl's driver uses:

- ``createTimeTaggerNetwork(address)`` connects to the virtual lab's Swabian
  service (`sim_instruments.emulators.swabian_timetagger`) at ``host:port``,
  as the real one connects to a Time Tagger Server; ``createTimeTagger``
  raises `RuntimeError` as the real library does without a unit;
  ``freeTimeTagger`` releases the connection;
- the hardware settings of a `TimeTaggerNetwork` (trigger levels, input
  delays in hardware and software, dead times, the conditional filter,
  serial, model, channel list) are forwarded to the service, which writes
  their effect into the world's vendor-neutral `TaggerState`;
- measurements (`TimeTagStream`, `Countrate`, `Histogram`) run on the
  virtual clock: they start at creation, ``startFor(d)`` restarts them at the
  world's present time, ``isRunning()`` stays True until the virtual clock
  has passed the end, ``getData()`` returns what was measured so far,
  computed by the service from the world's physics;
- software virtual channels (`DelayedChannel`, `GatedChannel`) are computed
  here, on the client, from the raw tags the service delivers, as the real
  library computes them on the PC: a measurement over a virtual channel
  asks the service for the physical channels behind it. Each `getData` call
  processes its batch on its own (a gate's state carries over, delayed tags
  are not held back to the next batch).

Timestamps are the tagger's own time (ps of virtual time since the virtual
lab started); ``TimeTagStreamBuffer.tStart`` says when the stream started.
Errors are of the kinds the real library raises: `RuntimeError` for a
channel the unit does not have and for a lost, silent or garbled connection
(a reply is awaited at most ``_REPLY_TIMEOUT_S``; the next call reconnects),
`ValueError` for bad arguments (``n_bins``, ``binwidth``, a vanished virtual
channel, no tagger given), `OverflowError` for a negative buffer size.
Falling-edge channels (``-n``) are accepted for settings but carry no events
(the world models rising edges only).

The wire protocol to the service is documented in
`sim_instruments.emulators.swabian_timetagger`.
"""

from __future__ import annotations

import enum
import json
import logging
import socket
import threading
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

log = logging.getLogger(__name__)

#: The channel number meaning "no channel" (the real library's value).
CHANNEL_UNUSED = -134217728
#: Channel-list selectors of the older API (still exported by the real library).
TT_CHANNEL_RISING_AND_FALLING_EDGES = 0
TT_CHANNEL_RISING_EDGES = 1
TT_CHANNEL_FALLING_EDGES = 2

#: Port of a Time Tagger Server when the address names none (the vendor's default).
_DEFAULT_PORT = 41101
#: How long a reply is awaited before the connection counts as lost, s.
_REPLY_TIMEOUT_S = 10.0
#: Virtual channels are numbered from here (far above any physical input).
_FIRST_VIRTUAL_CHANNEL = 100_000
#: Errors the service may report, by name (anything else arrives as RuntimeError).
_ERRORS: dict[str, type[Exception]] = {
    "RuntimeError": RuntimeError, "ValueError": ValueError, "IndexError": IndexError,
    "OverflowError": OverflowError, "TypeError": TypeError,
}


class ChannelEdge(enum.IntFlag):
    """Which edges `TimeTaggerNetwork.getChannelList` lists."""

    All = 0
    Rising = 1
    Falling = 2


class Resolution(enum.IntEnum):
    Standard = 0
    HighResA = 1
    HighResB = 2
    HighResC = 3


class GatedChannelInitial(enum.IntEnum):
    """Whether a `GatedChannel` starts open or closed."""

    Closed = 0
    Open = 1


# --- the wire (see the service's module docstring) --------------------------------------


def _block(payload: bytes) -> bytes:
    """IEEE-488.2 definite-length block ``#<n><length><payload>``."""
    length = str(len(payload)).encode()
    if len(length) > 9:
        raise ValueError(f"a block of {len(payload)} bytes is too long to frame")
    return b"#" + str(len(length)).encode() + length + payload


def _pack(header: dict[str, Any], *arrays: NDArray[Any]) -> bytes:
    """A message payload: one JSON line, then the raw bytes of ``arrays`` in order."""
    return json.dumps(header, separators=(",", ":")).encode() + b"\n" + b"".join(
        np.ascontiguousarray(a).tobytes() for a in arrays)


def _unpack(payload: bytes) -> tuple[dict[str, Any], bytes]:
    """Inverse of `_pack`: the JSON header and the bytes after it."""
    text, _, rest = payload.partition(b"\n")
    header = json.loads(text)
    if not isinstance(header, dict):
        raise ValueError("the header is not a JSON object")
    return header, rest


def _split_address(address: str) -> tuple[str, int]:
    if not isinstance(address, str) or not address or any(c.isspace() for c in address):
        raise ValueError("The address is not a valid URI.")
    host, colon, port_text = address.rpartition(":")
    if not colon:
        return address, _DEFAULT_PORT
    if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError("The address is not a valid URI.")
    return host, int(port_text)


class _Link:
    """The connection to the service: one request, one reply, reconnecting after a loss."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.host, self.port = _split_address(address)
        self.timeout_s = _REPLY_TIMEOUT_S
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()
        #: Server-side measurements whose client objects are gone (freed with the next call).
        self.unused: list[int] = []

    @property
    def connected(self) -> bool:
        return self._socket is not None

    def open(self) -> None:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
        except OSError:
            raise RuntimeError(f"Could not connect to Time Tagger server at "
                               f"{self.address}.") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socket = sock

    def close(self) -> None:
        sock, self._socket = self._socket, None
        if sock is not None:
            sock.close()

    def request(self, op: str, **arguments: Any) -> tuple[dict[str, Any], bytes]:
        """Send one request and return the reply's header and binary part.

        Raises the error the service reports, or `RuntimeError` when the
        connection is lost, silent or garbled (the connection is then closed
        and the next request opens a new one).
        """
        message: dict[str, Any] = {"op": op, **arguments}
        with self._lock:
            if self.unused:
                message["free"], self.unused = self.unused, []
            if self._socket is None:
                self.open()
            assert self._socket is not None
            try:
                self._socket.settimeout(self.timeout_s)
                self._socket.sendall(_block(_pack(message)) + b"\n")
                payload = self._read_block(self._socket)
                header, rest = _unpack(payload)
            except TimeoutError:
                self.close()
                raise RuntimeError(f"The Time Tagger server at {self.address} did not answer "
                                   f"within {self.timeout_s:g} s.") from None
            except OSError as error:
                self.close()
                raise RuntimeError(f"Lost the connection to the Time Tagger server at "
                                   f"{self.address} ({error.strerror or error}).") from None
            except (ValueError, UnicodeDecodeError):
                self.close()
                raise RuntimeError(f"The Time Tagger server at {self.address} sent a reply "
                                   "that is not a valid message.") from None
        refusal = header.get("error")
        if isinstance(refusal, dict):
            kind = _ERRORS.get(str(refusal.get("type")), RuntimeError)
            raise kind(str(refusal.get("message", "the Time Tagger server refused the call")))
        return header, rest

    def _read_block(self, sock: socket.socket) -> bytes:
        start = self._read(sock, 2)
        if start[:1] != b"#" or not start[1:2].isdigit() or start[1:2] == b"0":
            raise ValueError("not a definite-length block")
        length_text = self._read(sock, int(start[1:2]))
        if not length_text.isdigit():
            raise ValueError("bad block length")
        payload = self._read(sock, int(length_text))
        if self._read(sock, 1) != b"\n":
            raise ValueError("missing terminator")
        return payload

    @staticmethod
    def _read(sock: socket.socket, count: int) -> bytes:
        chunks = bytearray()
        while len(chunks) < count:
            chunk = sock.recv(min(count - len(chunks), 1 << 20))
            if not chunk:
                raise ConnectionResetError("connection closed by the server")
            chunks.extend(chunk)
        return bytes(chunks)


# --- taggers --------------------------------------------------------------------------


class TimeTaggerBase:
    """What every Time Tagger object has (the real library's abstract base)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise AttributeError("No constructor defined - class is abstract")


@dataclass(frozen=True)
class _Delayed:
    """What a `DelayedChannel` computes."""

    input_channel: int
    delay: int

    def inputs(self) -> tuple[int, ...]:
        return (self.input_channel,)


@dataclass(frozen=True)
class _Gated:
    """What a `GatedChannel` computes."""

    input_channel: int
    gate_start_channel: int
    gate_stop_channel: int
    initial: int

    def inputs(self) -> tuple[int, ...]:
        return self.input_channel, self.gate_start_channel, self.gate_stop_channel


class TimeTaggerNetwork(TimeTaggerBase):
    """A Time Tagger reached through a Time Tagger Server (here: the virtual lab's service).

    Made by `createTimeTaggerNetwork`; hardware settings are forwarded to the
    server, virtual channels live here.
    """

    _link: _Link
    #: The unit's channels: rising edges 1..n and falling edges -1..-n.
    _physical: frozenset[int]
    _virtual: weakref.WeakValueDictionary[int, _VirtualChannel]
    _next_virtual: int
    _freed: bool

    @classmethod
    def _open(cls, address: str) -> TimeTaggerNetwork:
        tagger = cls.__new__(cls)
        tagger._link = _Link(address)
        tagger._link.open()
        try:
            header, _ = tagger._link.request("hello")
            rising = [int(c) for c in header["channels"]]
        except BaseException:
            tagger._link.close()
            raise
        tagger._physical = frozenset(rising) | frozenset(-c for c in rising)
        tagger._virtual = weakref.WeakValueDictionary()
        tagger._next_virtual = _FIRST_VIRTUAL_CHANNEL
        tagger._freed = False
        log.debug("connected to the Time Tagger server at %s (%d inputs)", address, len(rising))
        return tagger

    def _call(self, method: str, *args: Any) -> Any:
        if self._freed:
            raise RuntimeError("The Time Tagger has been freed.")
        header, _ = self._link.request("call", method=method, args=list(args))
        return header.get("result")

    # connection
    def isConnected(self) -> bool:
        return not self._freed and self._link.connected

    # identity
    def getSerial(self) -> str:
        return str(self._call("getSerial"))

    def getModel(self) -> str:
        return str(self._call("getModel"))

    def getFirmwareVersion(self) -> str:
        return str(self._call("getFirmwareVersion"))

    def getChannelList(self, type: int = ChannelEdge.All) -> tuple[int, ...]:
        return tuple(int(c) for c in self._call("getChannelList", int(type)))

    # inputs
    def setTriggerLevel(self, channel: int, voltage: float) -> None:
        self._call("setTriggerLevel", _int(channel), _float(voltage))

    def getTriggerLevel(self, channel: int) -> float:
        return float(self._call("getTriggerLevel", _int(channel)))

    def getTriggerLevelRange(self, channel: int) -> tuple[float, float]:
        low, high = self._call("getTriggerLevelRange", _int(channel))
        return float(low), float(high)

    def setInputDelay(self, channel: int, delay: int) -> None:
        self._call("setInputDelay", _int(channel), _int(delay))

    def getInputDelay(self, channel: int) -> int:
        return int(self._call("getInputDelay", _int(channel)))

    def setDelayHardware(self, channel: int, delay: int) -> None:
        self._call("setDelayHardware", _int(channel), _int(delay))

    def getDelayHardware(self, channel: int) -> int:
        return int(self._call("getDelayHardware", _int(channel)))

    def getDelayHardwareRange(self, channel: int) -> tuple[int, int]:
        low, high = self._call("getDelayHardwareRange", _int(channel))
        return int(low), int(high)

    def setDelaySoftware(self, channel: int, delay: int) -> None:
        self._call("setDelaySoftware", _int(channel), _int(delay))

    def getDelaySoftware(self, channel: int) -> int:
        return int(self._call("getDelaySoftware", _int(channel)))

    def setDeadtime(self, channel: int, deadtime: int) -> int:
        return int(self._call("setDeadtime", _int(channel), _int(deadtime)))

    def getDeadtime(self, channel: int) -> int:
        return int(self._call("getDeadtime", _int(channel)))

    def getDeadtimeRange(self, channel: int) -> tuple[int, int]:
        low, high = self._call("getDeadtimeRange", _int(channel))
        return int(low), int(high)

    # the conditional filter
    def setConditionalFilter(self, trigger: Sequence[int], filtered: Sequence[int]) -> None:
        self._call("setConditionalFilter", [_int(c) for c in trigger],
                   [_int(c) for c in filtered])

    def clearConditionalFilter(self) -> None:
        self._call("clearConditionalFilter")

    def getConditionalFilterTrigger(self) -> tuple[int, ...]:
        return tuple(int(c) for c in self._call("getConditionalFilterTrigger"))

    def getConditionalFilterFiltered(self) -> tuple[int, ...]:
        return tuple(int(c) for c in self._call("getConditionalFilterFiltered"))

    def getOverflows(self) -> int:
        return int(self._call("getOverflows"))

    # virtual channels (client side)
    def _register(self, channel: _VirtualChannel) -> int:
        number = self._next_virtual
        self._next_virtual += 1
        self._virtual[number] = channel
        return number

    def _check_channel(self, channel: int) -> None:
        """`RuntimeError`/`ValueError` as the real library, for a channel it cannot use."""
        if channel in self._physical:
            return
        if channel >= _FIRST_VIRTUAL_CHANNEL and channel < self._next_virtual:
            if channel not in self._virtual:
                raise ValueError(f"Channel {channel} represents a virtual channel that does "
                                 "not exist (anymore).")
            return
        raise RuntimeError(f"Channel {channel} does not exist or is not available for "
                           "your use.")

    def _physical_behind(self, channels: Iterable[int]) -> tuple[int, ...]:
        """The physical channels the events of ``channels`` are computed from."""
        found: set[int] = set()
        pending = list(channels)
        while pending:
            channel = pending.pop()
            if channel in self._physical:
                found.add(channel)
                continue
            spec = self._spec(channel)
            pending.extend(spec.inputs())
        return tuple(sorted(found))

    def _spec(self, channel: int) -> _Delayed | _Gated:
        self._check_channel(channel)
        virtual = self._virtual.get(channel)
        assert virtual is not None
        return virtual._spec

    def _derive(self, wanted: Sequence[int], channels: NDArray[np.int32],
                timestamps: NDArray[np.int64], gates: dict[int, bool],
                ) -> tuple[NDArray[np.int32], NDArray[np.int64]]:
        """The events of ``wanted`` (physical or virtual) from a batch of raw tags, in time order.

        ``gates`` carries each gated channel's state from one batch to the next.
        """
        events: dict[int, NDArray[np.int64]] = {}

        def times(channel: int) -> NDArray[np.int64]:
            if channel in events:
                return events[channel]
            if channel in self._physical:
                found = timestamps[channels == channel]
            else:
                spec = self._spec(channel)
                if isinstance(spec, _Delayed):
                    found = times(spec.input_channel) + np.int64(spec.delay)
                else:
                    found = _gate(times(spec.input_channel), times(spec.gate_start_channel),
                                  times(spec.gate_stop_channel), spec, channel, gates)
            events[channel] = found
            return found

        parts = [times(c) for c in wanted]
        labels = [np.full(len(p), c, dtype=np.int32) for c, p in zip(wanted, parts, strict=True)]
        if not parts:
            return np.zeros(0, np.int32), np.zeros(0, np.int64)
        stamps = np.concatenate(parts)
        order = np.argsort(stamps, kind="stable")
        return np.concatenate(labels)[order], stamps[order]


def _gate(inputs: NDArray[np.int64], starts: NDArray[np.int64], stops: NDArray[np.int64],
          spec: _Gated, channel: int, gates: dict[int, bool]) -> NDArray[np.int64]:
    """Tags of ``inputs`` while the gate (opened by ``starts``, closed by ``stops``) is open.

    A tag on a channel that also opens or closes the gate is judged by the
    gate's state before that tag (the real library's rule since 2.10.8).
    """
    initial = gates.get(channel, spec.initial == GatedChannelInitial.Open)
    edges = np.concatenate([starts, stops])
    opens = np.concatenate([np.ones(len(starts), bool), np.zeros(len(stops), bool)])
    order = np.argsort(edges, kind="stable")
    edges, opens = edges[order], opens[order]
    same = spec.input_channel in (spec.gate_start_channel, spec.gate_stop_channel)
    last = np.searchsorted(edges, inputs, side="left" if same else "right") - 1
    state = np.where(last >= 0, opens[np.maximum(last, 0)], initial) if len(edges) else \
        np.full(len(inputs), initial)
    gates[channel] = bool(opens[-1]) if len(edges) else initial
    passed: NDArray[np.int64] = inputs[state.astype(bool)]
    return passed


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"an integer is required, got {value!r}")
    return int(value)


def _float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise TypeError(f"a number is required, got {value!r}")
    return float(value)


def _tagger(tagger: Any) -> TimeTaggerNetwork:
    if not isinstance(tagger, TimeTaggerNetwork) or tagger._freed:
        raise ValueError("a valid Time Tagger must be provided.")
    return tagger


def createTimeTagger(serial: str = "", resolution: int = Resolution.Standard,
                     ) -> TimeTaggerNetwork:
    """No unit is attached to the virtual lab: `RuntimeError`, as the real library says."""
    if serial:
        raise RuntimeError(f"The serial number argument '{serial}' is not a valid Time Tagger "
                           "serial number (labctl's stand-in reaches the virtual lab through "
                           "createTimeTaggerNetwork).")
    raise RuntimeError("No Time Tagger attached or already in use (labctl's stand-in reaches "
                       "the virtual lab through createTimeTaggerNetwork).")


def createTimeTaggerNetwork(address: str) -> TimeTaggerNetwork:
    """Connect to the Time Tagger server at ``host:port`` (`RuntimeError` if it cannot)."""
    return TimeTaggerNetwork._open(address)


def freeTimeTagger(tagger: TimeTaggerBase) -> None:
    """Release the tagger and its connection."""
    if not isinstance(tagger, TimeTaggerBase):
        raise TypeError("in method 'freeTimeTagger', argument 1 of type 'TimeTaggerBase'")
    if isinstance(tagger, TimeTaggerNetwork) and not tagger._freed:
        tagger._freed = True
        tagger._link.close()


# --- virtual channels ------------------------------------------------------------------


class _VirtualChannel:
    """A software virtual channel: computed on the client from the tags of its inputs."""

    _spec: _Delayed | _Gated

    def __init__(self, tagger: TimeTaggerNetwork, spec: _Delayed | _Gated) -> None:
        for channel in spec.inputs():
            tagger._check_channel(channel)
        self._tagger = tagger
        self._spec = spec
        self._channel = tagger._register(self)

    def getChannel(self) -> int:
        return self._channel


class DelayedChannel(_VirtualChannel):
    """A copy of ``input_channel`` delayed by ``delay`` ps."""

    def __init__(self, tagger: TimeTaggerBase, input_channel: int, delay: int) -> None:
        network = _tagger(tagger)
        if _int(input_channel) == CHANNEL_UNUSED:
            raise ValueError("CHANNEL_UNUSED must not be used by DelayedChannel.")
        super().__init__(network, _Delayed(int(input_channel), _int(delay)))

    def setDelay(self, delay: int) -> None:
        assert isinstance(self._spec, _Delayed)
        self._spec = _Delayed(self._spec.input_channel, _int(delay))


class GatedChannel(_VirtualChannel):
    """``input_channel`` passed only between a ``gate_start_channel`` and a ``gate_stop_channel``
    event."""

    def __init__(self, tagger: TimeTaggerBase, input_channel: int, gate_start_channel: int,
                 gate_stop_channel: int, initial: int = GatedChannelInitial.Closed) -> None:
        network = _tagger(tagger)
        if _int(gate_start_channel) == _int(gate_stop_channel):
            raise ValueError("Gate start and stop channel must not be the same.")
        super().__init__(network, _Gated(_int(input_channel), int(gate_start_channel),
                                         int(gate_stop_channel), int(initial)))


# --- measurements ----------------------------------------------------------------------


class IteratorBase:
    """A measurement: runs from its creation; ``startFor`` runs it for a span of virtual time."""

    _tagger: TimeTaggerNetwork
    _id: int
    _channels: tuple[int, ...]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise AttributeError("No constructor defined - class is abstract")

    def _create(self, tagger: TimeTaggerNetwork, kind: str, channels: Sequence[int],
                **parameters: Any) -> None:
        self._tagger = tagger
        header, _ = tagger._link.request("create", kind=kind, channels=list(channels),
                                         **parameters)
        self._id = int(header["id"])
        weakref.finalize(self, tagger._link.unused.append, self._id)

    def _request(self, op: str, **arguments: Any) -> tuple[dict[str, Any], bytes]:
        if self._tagger._freed:
            raise RuntimeError("The Time Tagger of this measurement has been freed.")
        return self._tagger._link.request(op, id=self._id, **arguments)

    def start(self) -> None:
        self._request("start")

    def startFor(self, capture_duration: int, clear: bool = True) -> None:
        if _int(capture_duration) < 0:
            raise ValueError("capture_duration must not be negative.")
        if clear:
            self._cleared()
        self._request("start_for", duration=int(capture_duration), clear=bool(clear))

    def stop(self) -> None:
        self._request("stop")

    def clear(self) -> None:
        self._cleared()
        self._request("clear")

    def abort(self) -> None:
        self._cleared()
        self._request("abort")

    def isRunning(self) -> bool:
        header, _ = self._request("running")
        return bool(header["running"])

    def getCaptureDuration(self) -> int:
        header, _ = self._request("capture_duration")
        return int(header["capture_duration"])

    def _cleared(self) -> None:
        """Client-side state to reset when the measurement's data are cleared."""

    def _raw(self) -> tuple[NDArray[np.int32], NDArray[np.int64], dict[str, Any]]:
        """The raw tags of the physical channels behind this measurement, since the last call."""
        header, rest = self._request("data")
        n = int(header["size"])
        channels = np.frombuffer(rest, dtype="<i4", count=n).astype(np.int32)
        timestamps = np.frombuffer(rest, dtype="<i8", count=n, offset=4 * n).astype(np.int64)
        return channels, timestamps, header


class _ClientSide:
    """A measurement over virtual channels, computed here from a raw stream of its inputs."""

    def __init__(self, tagger: TimeTaggerNetwork, channels: Sequence[int]) -> None:
        self.wanted = tuple(channels)
        self.physical = tagger._physical_behind(channels)
        self.gates: dict[int, bool] = {}

    def events(self, tagger: TimeTaggerNetwork, raw: tuple[NDArray[np.int32],
               NDArray[np.int64], dict[str, Any]]) -> tuple[NDArray[np.int32], NDArray[np.int64]]:
        channels, timestamps, _ = raw
        return tagger._derive(self.wanted, channels, timestamps, self.gates)


def _channel_list(tagger: TimeTaggerNetwork, channels: Iterable[int]) -> tuple[int, ...]:
    listed = tuple(_int(c) for c in channels)
    if not listed:
        raise ValueError("channels must not be empty.")
    if len(set(listed)) != len(listed):
        raise ValueError("Channels are not unique.")
    for channel in listed:
        tagger._check_channel(channel)
    return listed


class TimeTagStreamBuffer:
    """The tags a `TimeTagStream` collected between two `TimeTagStream.getData` calls."""

    size: int
    hasOverflows: bool
    tStart: int
    tGetData: int
    _channels: NDArray[np.int32]
    _timestamps: NDArray[np.int64]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise AttributeError("No constructor defined")

    @classmethod
    def _of(cls, channels: NDArray[np.int32], timestamps: NDArray[np.int64], overflow: bool,
            t_start: int, t_get_data: int) -> TimeTagStreamBuffer:
        buffer = cls.__new__(cls)
        buffer._channels, buffer._timestamps = channels, timestamps
        buffer.size = len(channels)
        buffer.hasOverflows = overflow
        buffer.tStart, buffer.tGetData = t_start, t_get_data
        return buffer

    def getChannels(self) -> NDArray[np.int32]:
        return self._channels.copy()

    def getTimestamps(self) -> NDArray[np.int64]:
        return self._timestamps.copy()

    def getEventTypes(self) -> NDArray[np.uint8]:
        """0 (a time tag) for every event: the virtual lab's stream never overflows."""
        return np.zeros(self.size, dtype=np.uint8)

    def getMissedEvents(self) -> NDArray[np.uint16]:
        return np.zeros(self.size, dtype=np.uint16)


class TimeTagStream(IteratorBase):
    """A copy of the time-tag stream of ``channels``, at most ``n_max_events`` per `getData`."""

    def __init__(self, tagger: TimeTaggerBase, n_max_events: int, channels: Sequence[int]
                 ) -> None:
        network = _tagger(tagger)
        if _int(n_max_events) < 0:
            raise OverflowError("in method 'new_TimeTagStream', argument 2 of type 'uint64_t'")
        self._n_max_events = int(n_max_events)
        self._channels = _channel_list(network, channels)
        self._plan = _ClientSide(network, self._channels)
        self._create(network, "stream", self._plan.physical)

    def getData(self) -> TimeTagStreamBuffer:
        raw = self._raw()
        channels, timestamps = self._plan.events(self._tagger, raw)
        header = raw[2]
        # a full buffer drops the rest, as the real one does (then size == n_max_events)
        channels, timestamps = channels[:self._n_max_events], timestamps[:self._n_max_events]
        return TimeTagStreamBuffer._of(channels, timestamps, bool(header.get("overflow")),
                                       int(header["t_start"]), int(header["t_get_data"]))

    def _cleared(self) -> None:
        self._plan.gates.clear()


class Countrate(IteratorBase):
    """Average counts per second on each of ``channels`` since the start."""

    def __init__(self, tagger: TimeTaggerBase, channels: Sequence[int]) -> None:
        network = _tagger(tagger)
        self._channels = _channel_list(network, channels)
        physical_only = all(c in network._physical for c in self._channels)
        self._plan = None if physical_only else _ClientSide(network, self._channels)
        self._counts = np.zeros(len(self._channels), dtype=np.int64)
        if self._plan is None:
            self._create(network, "countrate", self._channels)
        else:
            self._create(network, "stream", self._plan.physical)

    def getData(self) -> NDArray[np.float64]:
        if self._plan is None:
            _, rest = self._request("data")
            return np.frombuffer(rest, dtype="<f8", count=len(self._channels)).astype(np.float64)
        raw = self._raw()
        channels, _ = self._plan.events(self._tagger, raw)
        self._counts += np.array([np.count_nonzero(channels == c) for c in self._channels],
                                 dtype=np.int64)
        seconds = int(raw[2]["capture_duration"]) * 1e-12
        return self._counts / seconds if seconds > 0 else np.zeros(len(self._channels))

    def getCountsTotal(self) -> NDArray[np.int64]:
        if self._plan is None:
            _, rest = self._request("data")
            return np.frombuffer(rest, dtype="<i8", count=len(self._channels),
                                 offset=8 * len(self._channels)).astype(np.int64)
        self.getData()
        return self._counts.copy()

    def _cleared(self) -> None:
        self._counts[:] = 0
        if self._plan is not None:
            self._plan.gates.clear()


class Histogram(IteratorBase):
    """Delays from each ``start_channel`` tag to every later ``click_channel`` tag, binned."""

    def __init__(self, tagger: TimeTaggerBase, click_channel: int,
                 start_channel: int = CHANNEL_UNUSED, binwidth: int = 1000, n_bins: int = 1000
                 ) -> None:
        network = _tagger(tagger)
        if _int(binwidth) < 1:
            raise ValueError("binwidth must be at least 1 ps.")
        if _int(n_bins) < 1:
            raise ValueError("n_bins must be at least 1")
        click = _int(click_channel)
        start = click if _int(start_channel) == CHANNEL_UNUSED else int(start_channel)
        self._channels = _channel_list(network, dict.fromkeys((click, start)))
        self._click, self._start = click, start
        self._binwidth, self._n_bins = int(binwidth), int(n_bins)
        physical_only = all(c in network._physical for c in self._channels)
        self._plan = None if physical_only else _ClientSide(network, self._channels)
        self._counts = np.zeros(self._n_bins, dtype=np.int64)
        self._open_starts = np.zeros(0, np.int64)   # client side: starts still in range
        if self._plan is None:
            self._create(network, "histogram", self._channels, click=click, start=start,
                         binwidth=self._binwidth, n_bins=self._n_bins)
        else:
            self._create(network, "stream", self._plan.physical)

    def getData(self) -> NDArray[np.int32]:
        if self._plan is None:
            _, rest = self._request("data")
            return np.frombuffer(rest, dtype="<i4", count=self._n_bins).astype(np.int32)
        channels, timestamps = self._plan.events(self._tagger, self._raw())
        starts = np.concatenate([self._open_starts, timestamps[channels == self._start]])
        stops = timestamps[channels == self._click]
        self._counts += _histogram_counts(starts, stops, self._binwidth, self._n_bins)
        span = self._binwidth * self._n_bins
        latest = int(timestamps[-1]) if len(timestamps) else 0
        self._open_starts = starts[starts > latest - span]
        return self._counts.astype(np.int32)

    def getIndex(self) -> NDArray[np.int64]:
        return np.arange(self._n_bins, dtype=np.int64) * self._binwidth

    def _cleared(self) -> None:
        self._counts[:] = 0
        self._open_starts = np.zeros(0, np.int64)
        if self._plan is not None:
            self._plan.gates.clear()


def _histogram_counts(starts: NDArray[np.int64], stops: NDArray[np.int64], binwidth: int,
                      n_bins: int) -> NDArray[np.int64]:
    """Multi-start, multi-stop histogram: every (start, later stop) pair within range.

    Both arrays sorted; a stop at the same time as a start counts in bin 0.
    """
    counts = np.zeros(n_bins, dtype=np.int64)
    if not len(starts) or not len(stops):
        return counts
    span = binwidth * n_bins
    last = np.searchsorted(starts, stops, side="right")          # starts at or before
    first = np.searchsorted(starts, stops - span, side="right")  # starts within range
    pairs = last - first
    if not pairs.sum():
        return counts
    stop_of_pair = np.repeat(np.arange(len(stops)), pairs)
    offset = np.arange(len(stop_of_pair)) - np.repeat(np.cumsum(pairs) - pairs, pairs)
    start_of_pair = np.repeat(first, pairs) + offset
    delays = stops[stop_of_pair] - starts[start_of_pair]
    counts += np.bincount(delays // binwidth, minlength=n_bins)[:n_bins]
    return counts
