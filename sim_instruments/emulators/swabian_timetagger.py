"""The virtual lab's Swabian Time Tagger service: the server side of the API stand-in.

`sim_instruments.swabian_timetagger_api` (the stand-in of the vendor's
``Swabian.TimeTagger`` library) reaches the virtual lab through this
service, as the real library's `TimeTaggerNetwork` reaches a Time Tagger
Server. It plays a Time Tagger Ultra with the heralding station's inputs
(``n_inputs`` of the world's `TaggerState`), answered from the world:

- hardware settings (trigger levels, input delays in hardware and in
  software, dead times, the conditional filter) are kept here in the unit's
  own terms (`SwabianSettings`) and their effect written to the world's
  vendor-neutral `TaggerState` after every request (`route`): the input delay
  (hardware + software) and dead time of each input, and the conditional
  filter as ``sync_filter`` (its first filtered channel passes only for
  attempts with a click on a trigger channel, which is what the real filter —
  a filtered tag passes only if a trigger tag arrived since the previous
  filtered tag — does when the sync is delayed past the clicks). There are no
  hardware gates: gating is the library's software `GatedChannel`, computed
  by the client from raw tags;
- measurements run on the virtual clock: created running, restarted by
  ``start_for`` at the world's present time, running until the virtual clock
  has passed their end; their data are computed when asked for, interval by
  interval of captured virtual time: tags from `sim_instruments.acquisition.record`
  with exactly the measurement's channels marked ``recorded`` for that
  computation, count rates from `sim_instruments.acquisition.input_rate`
  (Poisson counts), histograms from a recording of their two channels.

Protocol (private to the stand-in and this service)
--------------------------------------------------
Every message in either direction is an IEEE-488.2 definite-length block
``#<d><length><payload>`` followed by a line feed, so `tcp_server.next_message`
frames requests whatever bytes they hold and the client reads replies by
length. A payload is one JSON object on one line, then a line feed, then
raw little-endian arrays the JSON describes (none for most replies).

Requests (``{"op": ..., ...}``; any request may carry ``"free": [id, ...]``,
measurements whose client objects are gone):

- ``hello`` -> ``{"channels": [1..n], "serial", "model"}``
- ``call`` ``{"method", "args"}`` -> ``{"result"}``: one hardware method of the
  real API by its own name and arguments (`SwabianService.methods`);
- ``create`` ``{"kind": "stream"|"countrate"|"histogram", "channels", ...}``
  -> ``{"id"}`` (a histogram also gives ``click``, ``start``, ``binwidth``,
  ``n_bins``);
- ``start``, ``start_for`` ``{"duration" (ps), "clear"}``, ``stop``, ``clear``,
  ``abort``, ``running`` -> ``{"running"}``, ``capture_duration`` ->
  ``{"capture_duration"}`` (ps), each with ``{"id"}``;
- ``data`` ``{"id"}``: a stream's tags since the last ``data``
  (``{"size": N, "t_start", "t_get_data", "overflow", "capture_duration"}``
  then N ``<i4`` channels and N ``<i8`` timestamps, ps of device time); a
  count rate's counts/s and totals (``<f8`` then ``<i8`` per channel); a
  histogram's bins (``<i4``).

A refused request is answered ``{"error": {"type", "message"}}`` with the
exception the real library raises (``RuntimeError`` for a channel the unit
does not have, ``ValueError`` for bad arguments); the client raises it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sim_instruments.acquisition import Recording, input_rate, record
from sim_instruments.emulators.scpi import ScpiEmulator
from sim_instruments.swabian_timetagger_api import (
    ChannelEdge,
    _block,
    _histogram_counts,
    _pack,
    _unpack,
)
from sim_instruments.world import World
from sim_instruments.world_state import TaggerState

log = logging.getLogger(__name__)

#: The unit this service plays, as its library reports it.
MODEL = "Time Tagger Ultra"
SERIAL = "2302000LAB"
FIRMWARE = "TT-Ultra, FW 3, labctl virtual lab"
#: Trigger-level range of the Ultra's inputs, V (Swabian hardware manual).
TRIGGER_LEVEL_RANGE_V = (-2.5, 2.5)
#: Dead time: the Ultra's clock period up to its largest setting, ps (API docs, setDeadtime).
DEAD_TIME_RANGE_PS = (2_000, 2_147_483_647)
#: On-board (hardware) input delay range of the Ultra, ps (API docs, getDelayHardwareRange).
HARDWARE_DELAY_RANGE_PS = (-2_000_000, 2_000_000)
#: Trigger level at power-up, V.
DEFAULT_TRIGGER_LEVEL_V = 0.5
#: A measurement that ends within this of the clock counts as done (floating-point sums), s.
_CLOCK_SLACK_S = 0.5e-12


class ServiceError(Exception):
    """A refused request: the client raises ``kind(message)``."""

    def __init__(self, kind: type[Exception], message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass
class SwabianInput:
    """One input's settings (its rising-edge channel; falling edges share them)."""

    trigger_level_v: float = DEFAULT_TRIGGER_LEVEL_V
    delay_hardware_ps: int = 0
    delay_software_ps: int = 0
    dead_time_ps: int = DEAD_TIME_RANGE_PS[0]


@dataclass
class SwabianSettings:
    """Everything the unit is set to, in the library's terms."""

    n_inputs: int
    inputs: list[SwabianInput] = field(default_factory=list)
    filter_trigger: tuple[int, ...] = ()
    filter_filtered: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not self.inputs:
            self.inputs = [SwabianInput() for _ in range(self.n_inputs)]


def route(settings: SwabianSettings, neutral: TaggerState) -> None:
    """Write what the unit's settings do into the world's `TaggerState`."""
    for own, world_input in zip(settings.inputs, neutral.inputs, strict=True):
        world_input.delay_ps = own.delay_hardware_ps + own.delay_software_ps
        world_input.dead_time_ps = own.dead_time_ps
    neutral.gates = {}
    filtered = [c for c in settings.filter_filtered if c > 0]
    triggers = tuple(c for c in settings.filter_trigger if c > 0)
    neutral.sync_filter = (filtered[0], triggers) if filtered and triggers else None


@dataclass
class Measurement:
    """One measurement: what it measures and which spans of virtual time it captured."""

    kind: str
    channels: tuple[int, ...]
    parameters: dict[str, int]
    running_since: float | None
    ends_at: float | None = None
    #: The latest start (the stream's ``tStart``), s.
    started_at: float = 0.0
    #: Spans captured but not yet turned into data, s.
    pending: list[tuple[float, float]] = field(default_factory=list)
    #: Captured time since the last clear, s (spans closed so far).
    captured_s: float = 0.0
    counts: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    #: A stream's tags computed but not yet fetched: (channels, timestamps in ps).
    tags: list[tuple[NDArray[np.int32], NDArray[np.int64]]] = field(default_factory=list)


class SwabianService(ScpiEmulator):
    """The virtual lab's Time Tagger Server (see the module docstring for the protocol).

    It derives from `ScpiEmulator` only to fit `InstrumentServer`
    (`respond`, `reply_terminator`); it speaks no SCPI.
    """

    def __init__(self, neutral: TaggerState, world: World) -> None:
        super().__init__()
        self.neutral = neutral
        self.world = world
        self.settings = SwabianSettings(n_inputs=neutral.n_inputs)
        self.measurements: dict[int, Measurement] = {}
        self._next_id = 1
        self.methods: dict[str, Callable[..., Any]] = {
            "getSerial": lambda: SERIAL,
            "getModel": lambda: MODEL,
            "getFirmwareVersion": lambda: FIRMWARE,
            "getChannelList": self._channel_list,
            "getOverflows": lambda: 0,
            "setTriggerLevel": self._set_trigger_level,
            "getTriggerLevel": lambda c: self._input(c).trigger_level_v,
            "getTriggerLevelRange": self._range_of(TRIGGER_LEVEL_RANGE_V),
            "setInputDelay": self._set_input_delay,
            "getInputDelay": lambda c: (self._input(c).delay_hardware_ps
                                        + self._input(c).delay_software_ps),
            "setDelayHardware": self._set_delay_hardware,
            "getDelayHardware": lambda c: self._input(c).delay_hardware_ps,
            "getDelayHardwareRange": self._range_of(HARDWARE_DELAY_RANGE_PS),
            "setDelaySoftware": self._set_delay_software,
            "getDelaySoftware": lambda c: self._input(c).delay_software_ps,
            "setDeadtime": self._set_dead_time,
            "getDeadtime": lambda c: self._input(c).dead_time_ps,
            "getDeadtimeRange": self._range_of(DEAD_TIME_RANGE_PS),
            "setConditionalFilter": self._set_conditional_filter,
            "clearConditionalFilter": lambda: self._set_conditional_filter([], []),
            "getConditionalFilterTrigger": lambda: list(self.settings.filter_trigger),
            "getConditionalFilterFiltered": lambda: list(self.settings.filter_filtered),
        }
        self._ops: dict[str, Callable[[dict[str, Any]], bytes]] = {
            "hello": lambda r: _pack({"channels": list(range(1, self.settings.n_inputs + 1)),
                                      "serial": SERIAL, "model": MODEL}),
            "call": self._call,
            "create": self._create,
            "start": lambda r: self._control(r, self._start),
            "start_for": lambda r: self._control(r, self._start_for),
            "stop": lambda r: self._control(r, self._stop),
            "clear": lambda r: self._control(r, self._clear),
            "abort": lambda r: self._control(r, self._abort),
            "running": lambda r: _pack({"running": self._running(self._measurement(r))}),
            "capture_duration": lambda r: _pack(
                {"capture_duration": self._capture_ps(self._measurement(r))}),
            "data": self._data,
        }
        route(self.settings, self.neutral)

    # --- framing ---------------------------------------------------------------------

    def respond(self, message: bytes) -> bytes | None:
        try:
            request = self._parse(message)
            for unused in request.get("free") or ():
                self.measurements.pop(int(unused), None)
            op = self._ops.get(str(request.get("op")))
            if op is None:
                raise ServiceError(ValueError, f"unknown request {request.get('op')!r}")
            payload = op(request)
        except ServiceError as error:
            payload = _pack({"error": {"type": error.kind.__name__, "message": error.message}})
        except (KeyError, TypeError, ValueError) as error:
            payload = _pack({"error": {"type": "ValueError",
                                       "message": f"malformed request: {error}"}})
        route(self.settings, self.neutral)
        return _block(payload)

    @staticmethod
    def _parse(message: bytes) -> dict[str, Any]:
        if len(message) < 2 or message[:1] != b"#" or not message[1:2].isdigit():
            raise ServiceError(ValueError, "a request must be a definite-length block")
        digits = int(message[1:2])
        length = int(message[2:2 + digits])
        payload = message[2 + digits:2 + digits + length]
        if len(payload) != length:
            raise ServiceError(ValueError, "truncated request")
        try:
            request, _ = _unpack(payload)
        except (ValueError, UnicodeDecodeError) as error:
            raise ServiceError(ValueError, f"a request must be a JSON object: {error}") from None
        return request

    # --- hardware settings -------------------------------------------------------------

    def _call(self, request: dict[str, Any]) -> bytes:
        method = self.methods.get(str(request.get("method")))
        if method is None:
            raise ServiceError(RuntimeError, f"the virtual lab's Time Tagger does not offer "
                                             f"{request.get('method')!r}")
        arguments = request.get("args") or []
        if not isinstance(arguments, list):
            raise ServiceError(ValueError, "args must be a list")
        return _pack({"result": method(*arguments)})

    def _channel(self, channel: Any) -> int:
        if isinstance(channel, bool) or not isinstance(channel, int) or \
                not 1 <= abs(channel) <= self.settings.n_inputs:
            raise ServiceError(RuntimeError, f"Channel {channel} does not exist or is not "
                                             "available for your use.")
        return channel

    def _input(self, channel: Any) -> SwabianInput:
        return self.settings.inputs[abs(self._channel(channel)) - 1]

    def _range_of(self, limits: tuple[float, float]) -> Callable[[int], list[float]]:
        """A ``get...Range(channel)`` method answering ``limits`` for any channel the unit has."""

        def answer(channel: int) -> list[float]:
            self._channel(channel)
            return list(limits)

        return answer

    def _channel_list(self, edges: int = ChannelEdge.All) -> list[int]:
        rising = list(range(1, self.settings.n_inputs + 1))
        if edges == ChannelEdge.Rising:
            return rising
        if edges == ChannelEdge.Falling:
            return [-c for c in rising]
        return rising + [-c for c in rising]

    def _set_trigger_level(self, channel: int, voltage: float) -> None:
        own = self._input(channel)
        if not isinstance(voltage, int | float) or not math.isfinite(voltage):
            raise ServiceError(ValueError, f"trigger level {voltage!r} is not a number")
        low, high = TRIGGER_LEVEL_RANGE_V
        if not low <= voltage <= high:   # the real library clamps and warns
            voltage = min(max(voltage, low), high)
            log.warning("Trigger level out of range. Setting to %s device value: %.3f V.",
                        "max" if voltage == high else "min", voltage)
        own.trigger_level_v = float(voltage)

    def _set_input_delay(self, channel: int, delay: int) -> None:
        own = self._input(channel)
        low, high = HARDWARE_DELAY_RANGE_PS
        if low <= _integer(delay) <= high:
            own.delay_hardware_ps, own.delay_software_ps = delay, 0
        else:
            log.info("This device supports a hardware input delay range of %.1f us .. %.1f us. "
                     "Falling back to software delay.", low * 1e-6, high * 1e-6)
            own.delay_hardware_ps, own.delay_software_ps = 0, delay

    def _set_delay_hardware(self, channel: int, delay: int) -> None:
        own = self._input(channel)
        low, high = HARDWARE_DELAY_RANGE_PS
        if not low <= _integer(delay) <= high:
            raise ServiceError(ValueError, f"This device supports a hardware input delay range "
                                           f"of {low * 1e-6:.1f} us .. {high * 1e-6:.1f} us.")
        own.delay_hardware_ps = delay

    def _set_delay_software(self, channel: int, delay: int) -> None:
        self._input(channel).delay_software_ps = _integer(delay)

    def _set_dead_time(self, channel: int, deadtime: int) -> int:
        own = self._input(channel)
        low, high = DEAD_TIME_RANGE_PS
        if _integer(deadtime) < 0:
            raise ServiceError(ValueError, "negative deadtimes are not supported")
        if deadtime > high:
            raise ServiceError(ValueError, f"The deadtime {deadtime} ps exceeds the maximum "
                                           f"of {high} ps.")
        own.dead_time_ps = max(deadtime, low)
        return own.dead_time_ps

    def _set_conditional_filter(self, trigger: Sequence[int], filtered: Sequence[int]) -> None:
        triggers = tuple(self._channel(c) for c in trigger)
        filters = tuple(self._channel(c) for c in filtered)
        if set(triggers) & set(filters):
            raise ServiceError(ValueError, "A channel cannot trigger and be filtered at the "
                                           "same time.")
        if bool(triggers) != bool(filters):
            raise ServiceError(ValueError, "channels must not be empty.")
        self.settings.filter_trigger, self.settings.filter_filtered = triggers, filters

    # --- measurements ------------------------------------------------------------------

    def _now(self) -> float:
        return self.world.state.clock.now()

    def _create(self, request: dict[str, Any]) -> bytes:
        kind = str(request["kind"])
        channels = tuple(self._channel(int(c)) for c in request["channels"])
        parameters: dict[str, int] = {}
        if kind == "histogram":
            parameters = {key: int(request[key]) for key in ("click", "start", "binwidth",
                                                              "n_bins")}
            if parameters["binwidth"] < 1 or parameters["n_bins"] < 1:
                raise ServiceError(ValueError, "binwidth and n_bins must be at least 1")
        elif kind not in ("stream", "countrate"):
            raise ServiceError(ValueError, f"unknown measurement {kind!r}")
        now = self._now()
        measurement = Measurement(kind, channels, parameters, running_since=now, started_at=now)
        self._reset_counts(measurement)
        number, self._next_id = self._next_id, self._next_id + 1
        self.measurements[number] = measurement
        return _pack({"id": number})

    def _measurement(self, request: dict[str, Any]) -> Measurement:
        measurement = self.measurements.get(int(request["id"]))
        if measurement is None:
            raise ServiceError(RuntimeError, "this measurement no longer exists on the server")
        self._settle(measurement)
        return measurement

    def _control(self, request: dict[str, Any],
                 action: Callable[[Measurement, dict[str, Any]], None]) -> bytes:
        action(self._measurement(request), request)
        return _pack({})

    def _settle(self, measurement: Measurement) -> None:
        """A run whose end the clock has passed is closed."""
        start, end = measurement.running_since, measurement.ends_at
        if start is not None and end is not None and self._now() >= end - _CLOCK_SLACK_S:
            self._close_run(measurement, end)

    def _close_run(self, measurement: Measurement, end: float) -> None:
        start = measurement.running_since
        assert start is not None
        if end > start:
            measurement.pending.append((start, end))
            measurement.captured_s += end - start
        measurement.running_since = None
        measurement.ends_at = None

    def _running(self, measurement: Measurement) -> bool:
        return measurement.running_since is not None

    def _start(self, measurement: Measurement, request: dict[str, Any]) -> None:
        if measurement.running_since is None:
            measurement.running_since = measurement.started_at = self._now()
        measurement.ends_at = None

    def _start_for(self, measurement: Measurement, request: dict[str, Any]) -> None:
        duration_ps = int(request["duration"])
        if duration_ps < 0:
            raise ServiceError(ValueError, "capture_duration must not be negative.")
        now = self._now()
        if bool(request.get("clear", True)):
            self._clear(measurement, request)
        if measurement.running_since is not None:
            self._close_run(measurement, now)
        measurement.running_since = measurement.started_at = now
        measurement.ends_at = now + duration_ps * 1e-12
        self.world.state.clock.at(measurement.ends_at, self._precompute(measurement))

    def _stop(self, measurement: Measurement, request: dict[str, Any]) -> None:
        if measurement.running_since is not None:
            self._close_run(measurement, self._now())

    def _clear(self, measurement: Measurement, request: dict[str, Any]) -> None:
        measurement.pending.clear()
        measurement.tags.clear()
        measurement.captured_s = 0.0
        self._reset_counts(measurement)
        if measurement.running_since is not None:
            measurement.running_since = self._now()

    def _abort(self, measurement: Measurement, request: dict[str, Any]) -> None:
        self._clear(measurement, request)
        measurement.running_since = measurement.ends_at = None

    def _reset_counts(self, measurement: Measurement) -> None:
        size = {"countrate": len(measurement.channels),
                "histogram": measurement.parameters.get("n_bins", 0)}.get(measurement.kind, 0)
        measurement.counts = np.zeros(size, dtype=np.int64)

    def _capture_ps(self, measurement: Measurement) -> int:
        running = 0.0 if measurement.running_since is None else \
            self._now() - measurement.running_since
        return round((measurement.captured_s + running) * 1e12)

    def _close_running(self, measurement: Measurement) -> None:
        """Capture the running span up to now (it goes on running until its own end)."""
        if measurement.running_since is not None:
            now, ends_at = self._now(), measurement.ends_at
            self._close_run(measurement, now)
            measurement.running_since, measurement.ends_at = now, ends_at

    def _accumulate(self, measurement: Measurement) -> None:
        """Turn the captured spans into the measurement's data: counts, or stream tags."""
        spans, measurement.pending = measurement.pending, []
        for start, end in spans:
            if measurement.kind == "countrate":
                means = [max(_rate(self.world, c) * (end - start), 0.0)
                         for c in measurement.channels]
                measurement.counts += self.world.rng.poisson(means).astype(np.int64)
                continue
            recording = self._record(measurement.channels, end - start)
            stamps = recording.timestamps_ps
            if measurement.kind == "stream":
                measurement.tags.append((recording.channels.astype(np.int32),
                                         stamps + np.int64(round(start * 1e12))))
                continue
            parameters = measurement.parameters
            measurement.counts += _histogram_counts(
                stamps[recording.channels == parameters["start"]],
                stamps[recording.channels == parameters["click"]],
                parameters["binwidth"], parameters["n_bins"])

    def _precompute(self, measurement: Measurement) -> Callable[[], None]:
        """The data of a timed run, computed when the clock reaches its end
        (`VirtualClock.at`), so that no client request waits on it."""
        def compute() -> None:
            with self.world.state.lock:
                if any(m is measurement for m in self.measurements.values()):
                    self._settle(measurement)
                    self._accumulate(measurement)
        return compute

    def _data(self, request: dict[str, Any]) -> bytes:
        measurement = self._measurement(request)
        self._close_running(measurement)
        self._accumulate(measurement)
        if measurement.kind == "stream":
            return self._stream_data(measurement)
        if measurement.kind == "countrate":
            seconds = measurement.captured_s
            rates = measurement.counts / seconds if seconds > 0 else \
                np.zeros(len(measurement.channels))
            return _pack({}, rates.astype("<f8"), measurement.counts.astype("<i8"))
        counts = np.minimum(measurement.counts, np.iinfo(np.int32).max)
        return _pack({}, counts.astype("<i4"))

    def _stream_data(self, measurement: Measurement) -> bytes:
        """The tags since the last `getData` (they are handed over once)."""
        tags, measurement.tags = measurement.tags, []
        channel = np.concatenate([c for c, _ in tags]) if tags else np.zeros(0, np.int32)
        stamp = np.concatenate([t for _, t in tags]) if tags else np.zeros(0, np.int64)
        header = {"size": len(channel), "t_start": round(measurement.started_at * 1e12),
                  "t_get_data": round(self._now() * 1e12), "overflow": False,
                  "capture_duration": self._capture_ps(measurement)}
        log.debug("stream: %d tags in %d span(s)", len(channel), len(tags))
        return _pack(header, channel.astype("<i4"), stamp.astype("<i8"))

    def _record(self, channels: Iterable[int], seconds: float) -> Recording:
        """What the world records on ``channels`` (their rising edges) in ``seconds``."""
        wanted = {c for c in channels if c > 0}
        saved = [state.recorded for state in self.neutral.inputs]
        try:
            for number, state in enumerate(self.neutral.inputs, start=1):
                state.recorded = number in wanted
            return record(self.world, seconds)
        finally:
            for state, recorded in zip(self.neutral.inputs, saved, strict=True):
                state.recorded = recorded


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ServiceError(TypeError, f"an integer is required, got {value!r}")
    return value


def _rate(world: World, channel: int) -> float:
    """Counts/s on a channel: its input's rate for a rising edge (falling edges carry none)."""
    return input_rate(world, channel) if channel > 0 else 0.0

