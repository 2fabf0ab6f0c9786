"""Swabian Instruments Time Tagger (Ultra, X, 20): the station's time tagger, via its own API.

The unit is driven through Swabian's own Python package (``Swabian.TimeTagger``,
"Time Tagger API" 2.x, PyPI ``swabian-timetagger``), not through a wire
protocol. What this module uses of it:

- connecting: ``createTimeTagger(serial)`` for a unit on this PC's USB,
  ``createTimeTaggerNetwork("host:port")`` for a unit served by a Time Tagger
  Server (the vendor's own remote mechanism), ``freeTimeTagger(tagger)``;
- identity and inputs: ``getSerial()``, ``getModel()``, ``getFirmwareVersion()``,
  ``getChannelList(ChannelEdge.Rising)`` (inputs are the rising-edge channels
  1..N; falling edges are -1..-N and not used here);
- per input: ``setTriggerLevel(channel, voltage)`` / ``getTriggerLevel`` (V),
  ``setInputDelay(channel, delay)`` / ``getInputDelay`` (ps; on-board within
  ``getDelayHardwareRange``, else in software on the PC),
  ``setDelayHardware`` / ``setDelaySoftware``, ``setDeadtime(channel, deadtime)``
  (ps; returns the value applied) / ``getDeadtime``;
- the conditional filter ``setConditionalFilter(trigger, filtered)`` /
  ``clearConditionalFilter()``: a tag on a filtered channel passes only if a
  tag on a trigger channel arrived since the previous filtered tag; it sees
  on-board delays only (`setDelayHardware`), not software ones;
- software virtual channels ``DelayedChannel(tagger, input_channel, delay)``
  and ``GatedChannel(tagger, input_channel, gate_start_channel,
  gate_stop_channel)``, with ``getChannel()``;
- measurements ``TimeTagStream(tagger, n_max_events, channels)`` (``getData()``
  -> ``TimeTagStreamBuffer`` with ``size``, ``hasOverflows``, ``tStart``,
  ``getChannels()``, ``getTimestamps()`` in ps of device time),
  ``Countrate(tagger, channels)`` (``getData()``: counts/s),
  ``Histogram(tagger, click_channel, start_channel, binwidth, n_bins)``
  (``getData()``: counts per bin), each with ``startFor(capture_duration)``,
  ``isRunning()``, ``stop()``.

The per-model limits below come from Swabian's hardware manual (trigger-level
range) and the API documentation (dead-time range in ``setDeadtime``,
hardware delay range in ``getDelayHardwareRange``). Name the class of your
model in the station file (`SwabianTimeTagger` is the Ultra,
`SwabianTimeTaggerX`, `SwabianTimeTagger20`); the validators use its limits,
so a bad value is refused before the library is called.

The library is imported by name (``library:``, default ``Swabian.TimeTagger``):
the virtual lab substitutes its stand-in, `sim_instruments.swabian_timetagger_api`.
The library's own errors are turned into `SwabianError`, and a lost
connection to a Time Tagger Server into `SwabianConnectionError` (also a
`ConnectionError`, so the engine reconnects and retries; the library
reconnects by itself). Served by ``labctl node serve``, the adapter runs on
the node's PC (an orchestrator calls the tagger capability, not the
library); a tagger on another PC may also be reached through its Time
Tagger Server.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray
from qcodes import validators as vals
from qcodes.instrument import ChannelList, Instrument, InstrumentChannel
from qcodes.parameters import Parameter

from labctl.errors import LabctlError
from labctl.instruments.adapter import Adapter
from labctl.instruments.tagger import Tags

log = logging.getLogger(__name__)

#: The library errors that mean "the call failed" (others are programming errors).
_LIBRARY_ERRORS = (RuntimeError, ValueError, OverflowError, IndexError)


class SwabianError(LabctlError):
    """The Time Tagger library refused a call or failed; ``str()`` is one line."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else type(self).__name__


class SwabianConnectionError(SwabianError, ConnectionError):
    """The connection to a Time Tagger Server was lost (a reconnect may cure it)."""


@dataclass(frozen=True)
class SwabianModel:
    """What differs between Time Tagger models (see the module docstring for sources)."""

    name: str
    trigger_level_range_v: tuple[float, float]
    dead_time_range_ps: tuple[int, int]
    #: On-board input delay range, ps (None: the model delays in software only).
    hardware_delay_range_ps: tuple[int, int] | None


TIME_TAGGER_ULTRA = SwabianModel("Time Tagger Ultra", (-2.5, 2.5), (2_000, 2_147_483_647),
                                 (-2_000_000, 2_000_000))
TIME_TAGGER_X = SwabianModel("Time Tagger X", (-1.0, 1.0), (1_333, 716_000_000),
                             (-2_500_000, 2_500_000))
TIME_TAGGER_20 = SwabianModel("Time Tagger 20", (0.0, 2.5), (6_000, 393_000_000), None)


class SwabianInput(InstrumentChannel["SwabianTimeTagger"]):
    """One input (its rising-edge channel): trigger level, input delay, dead time."""

    def __init__(self, parent: SwabianTimeTagger, name: str, channel: int,
                 **kwargs: Any) -> None:
        super().__init__(parent, name, **kwargs)
        self.channel = channel
        model = parent.model
        self.trigger_level: Parameter = self.add_parameter(
            "trigger_level", label=f"Input {channel} trigger level", unit="V",
            get_cmd=lambda: parent.call("getTriggerLevel", channel),
            set_cmd=lambda level: parent.call("setTriggerLevel", channel, float(level)),
            get_parser=float, vals=vals.Numbers(*model.trigger_level_range_v),
        )
        self.input_delay_ps: Parameter = self.add_parameter(
            "input_delay_ps", label=f"Input {channel} delay", unit="ps",
            get_cmd=lambda: parent.call("getInputDelay", channel),
            set_cmd=lambda delay: parent.call("setInputDelay", channel, int(delay)),
            get_parser=int, vals=vals.Ints(*parent.input_delay_range_ps),
        )
        self.dead_time_ps: Parameter = self.add_parameter(
            "dead_time_ps", label=f"Input {channel} dead time", unit="ps",
            get_cmd=lambda: parent.call("getDeadtime", channel),
            set_cmd=self._set_dead_time, get_parser=int,
            vals=vals.Ints(*model.dead_time_range_ps),
        )

    def _set_dead_time(self, dead_time_ps: int) -> None:
        applied = int(self.parent.call("setDeadtime", self.channel, int(dead_time_ps)))
        if applied != dead_time_ps:
            log.info("%s: dead time %d ps requested, %d ps applied", self.full_name,
                     dead_time_ps, applied)


@dataclass
class _Gates:
    """The software gates of `SwabianTagger.gate_inputs` and the virtual channels built for them."""

    channels: tuple[int, ...]
    gate: int
    window_ps: int
    #: The gate input's delay the virtual channels were built for (None: not built).
    built_for_delay_ps: int | None = None
    #: The library's virtual-channel objects (kept alive while the gates are in use).
    objects: list[Any] = field(default_factory=list)
    #: Virtual channel -> (the input it gates, ps its tags were delayed by).
    routes: dict[int, tuple[int, int]] = field(default_factory=dict)


class SwabianTagger(Adapter["SwabianTimeTagger"]):
    """The Time Tagger as a `labctl.instruments.TimeTagger` (inputs: its rising-edge channels).

    - ``filter_syncs``: the sync delayed on board by ``delay_ps`` and the
      hardware conditional filter (trigger: the clicks, filtered: the sync).
      A filtered tag passes if a trigger tag arrived since the previous
      filtered tag, which is the capability's rule when ``delay_ps`` is
      shorter than the sync period. Beyond the on-board delay range the
      delay is split: the largest on-board part (which the filter sees) and
      the rest in software, so clicks must arrive within the on-board part.
    - ``gate_inputs``: software virtual channels, as the vendor does it:
      ``DelayedChannel(gate, window_ps)`` closes each gate,
      ``GatedChannel(input, gate, closing)`` per input. The capability gates
      on the *undelayed* gate tag; when the gate input is delayed (e.g. the
      sync of ``filter_syncs``), the inputs are delayed by as much before
      gating and the delay is taken off their tags again. The virtual
      channels are rebuilt when the gate's delay changes.
    - recordings are a ``TimeTagStream`` of every input (gated inputs through
      their gated channels), read once at the end; ``fetch_tags`` gives each
      tag its input's number and times since the recording's start, and
      refuses a buffer that overflowed or filled up (`n_max_events`).
    - counting and histograms: ``Countrate`` and ``Histogram`` on the raw inputs.
    """

    #: Tags one recording may hold (the library allocates the buffer up front).
    n_max_events: int = 10_000_000

    def __init__(self, instrument: SwabianTimeTagger) -> None:
        super().__init__(instrument)
        self._gates: _Gates | None = None
        self._stream: Any = None
        self._routes: dict[int, tuple[int, int]] = {}
        self._countrate: Any = None
        self._counted: tuple[int, ...] = ()
        self._histogram: Any = None

    # --- inputs ----------------------------------------------------------------------

    def _input(self, channel: int) -> SwabianInput:
        found = self.instrument.input(channel)
        if found is None:
            raise SwabianError(f"{self.instrument.name}: no input {channel!r} "
                               f"(inputs: {list(self.instrument.input_channels)})")
        return found

    def input_channels(self) -> tuple[int, ...]:
        return self.instrument.input_channels

    def record_raw_inputs(self) -> None:
        self.instrument.call("clearConditionalFilter")
        for channel in self.instrument.input_channels:
            self._input(channel).input_delay_ps(0)
        self._gates = None

    def set_input_delay_ps(self, channel: int, delay_ps: int) -> None:
        self._input(channel).input_delay_ps(delay_ps)

    def input_delay_ps(self, channel: int) -> int:
        return int(self._input(channel).input_delay_ps())

    def set_trigger_level_v(self, channel: int, level_v: float) -> None:
        self._input(channel).trigger_level(level_v)

    def trigger_level_v(self, channel: int) -> float:
        return float(self._input(channel).trigger_level())

    def set_dead_time_ps(self, channel: int, dead_time_ps: int) -> None:
        self._input(channel).dead_time_ps(dead_time_ps)

    def dead_time_ps(self, channel: int) -> int:
        return int(self._input(channel).dead_time_ps())

    # --- filter and gates ------------------------------------------------------------------

    def filter_syncs(self, sync: int, clicks: Sequence[int], delay_ps: int) -> None:
        name = self.instrument.name
        sync_input = self._input(sync)
        triggers = [self._input(c).channel for c in clicks]
        if not triggers:
            raise SwabianError(f"{name}: filter_syncs needs at least one click input")
        if sync in triggers:
            raise SwabianError(f"{name}: input {sync} cannot be the sync and a click input")
        sync_input.input_delay_ps.validate(delay_ps)
        on_board = self.instrument.model.hardware_delay_range_ps
        if on_board is None:
            log.warning("%s: the %s delays in software only, which its conditional filter "
                        "does not see: a sync passes after a click in the attempt before",
                        name, self.instrument.model.name)
            sync_input.input_delay_ps(delay_ps)
        elif on_board[0] <= delay_ps <= on_board[1]:
            sync_input.input_delay_ps(delay_ps)
        else:
            hardware = min(max(delay_ps, on_board[0]), on_board[1])
            log.info("%s: sync delay %d ps beyond the on-board range: %d ps on board (seen by "
                     "the conditional filter), %d ps in software", name, delay_ps, hardware,
                     delay_ps - hardware)
            self.instrument.call("setDelayHardware", sync, hardware)
            self.instrument.call("setDelaySoftware", sync, delay_ps - hardware)
        with self.instrument.api_errors("setConditionalFilter"):
            self.instrument.tagger.setConditionalFilter(trigger=triggers, filtered=[sync])

    def gate_inputs(self, channels: Sequence[int], gate: int, window_ps: int) -> None:
        name = self.instrument.name
        gated = tuple(self._input(c).channel for c in channels)
        self._input(gate)
        if isinstance(window_ps, bool) or not isinstance(window_ps, int) or window_ps <= 0:
            raise SwabianError(f"{name}: a gate window must be a positive number of ps, "
                               f"got {window_ps!r}")
        if gate in gated:
            raise SwabianError(f"{name}: input {gate} cannot gate itself")
        self._gates = _Gates(gated, gate, window_ps)
        self._build_gates(self._gates)

    def _build_gates(self, gates: _Gates) -> None:
        """(Re)build the virtual channels for the gate input's present delay."""
        delay = self.input_delay_ps(gates.gate)
        click_shift, gate_shift = max(delay, 0), max(-delay, 0)
        library, tagger = self.instrument.library, self.instrument.tagger
        objects: list[Any] = []
        routes: dict[int, tuple[int, int]] = {}
        with self.instrument.api_errors("setting up the software gates"):
            opening = gates.gate
            if gate_shift:
                opened = library.DelayedChannel(tagger, gates.gate, gate_shift)
                objects.append(opened)
                opening = opened.getChannel()
            closing = library.DelayedChannel(tagger, gates.gate, gate_shift + gates.window_ps)
            objects.append(closing)
            for channel in gates.channels:
                source = channel
                if click_shift:
                    shifted = library.DelayedChannel(tagger, channel, click_shift)
                    objects.append(shifted)
                    source = shifted.getChannel()
                gated = library.GatedChannel(tagger, source, opening, closing.getChannel())
                objects.append(gated)
                routes[int(gated.getChannel())] = (channel, click_shift)
        gates.objects, gates.routes, gates.built_for_delay_ps = objects, routes, delay
        log.debug("%s: inputs %s gated by input %d (%d ps, gate delayed %d ps)",
                  self.instrument.name, gates.channels, gates.gate, gates.window_ps, delay)

    # --- recordings ----------------------------------------------------------------------

    def _stream_channels(self) -> dict[int, tuple[int, int]]:
        """Stream channel -> (input number, ps to take off its tags): every input, gated
        ones through their gated virtual channels."""
        routes = {channel: (channel, 0) for channel in self.instrument.input_channels}
        gates = self._gates
        if gates is not None:
            if gates.built_for_delay_ps != self.input_delay_ps(gates.gate):
                self._build_gates(gates)
            for channel in gates.channels:
                del routes[channel]
            routes.update(gates.routes)
        return routes

    def start_recording(self, duration_ps: int) -> None:
        _check_duration(self.instrument.name, duration_ps)
        routes = self._stream_channels()
        library, tagger = self.instrument.library, self.instrument.tagger
        with self.instrument.api_errors("starting a TimeTagStream"):
            stream = library.TimeTagStream(tagger, self.n_max_events, list(routes))
            stream.startFor(duration_ps)
        self._stream, self._routes = stream, routes

    def recording(self) -> bool:
        with self.instrument.api_errors("isRunning"):
            return any(bool(m.isRunning()) for m in (self._stream, self._histogram)
                       if m is not None)

    def fetch_tags(self) -> Tags:
        name = self.instrument.name
        if self._stream is None:
            raise SwabianError(f"{name}: no recording was started")
        with self.instrument.api_errors("reading the TimeTagStream"):
            buffer = self._stream.getData()
            size, overflow, t_start = int(buffer.size), bool(buffer.hasOverflows), \
                int(buffer.tStart)
            channels = np.asarray(buffer.getChannels(), dtype=np.int64)
            timestamps = np.asarray(buffer.getTimestamps(), dtype=np.int64) - t_start
        if overflow:
            raise SwabianError(f"{name}: the time-tag stream overflowed (tags were lost "
                               "between the unit and the PC); lower the rates or record shorter")
        if size >= self.n_max_events:
            raise SwabianError(f"{name}: the recording filled its buffer of {self.n_max_events} "
                               "tags and dropped the rest; record shorter or raise n_max_events")
        numbers = np.zeros(len(channels), dtype=np.int64)
        for stream_channel, (number, shift) in self._routes.items():
            mine = channels == stream_channel
            numbers[mine] = number
            timestamps[mine] -= shift
        if np.any(numbers == 0):
            stray = int(channels[numbers == 0][0])
            raise SwabianError(f"{name}: a tag from channel {stray}, which the recording "
                               "did not ask for")
        if numbers.size and int(numbers.max()) > np.iinfo(np.uint8).max:
            raise SwabianError(f"{name}: input {int(numbers.max())} does not fit a tag's "
                               "channel number (at most 255)")
        order = np.argsort(timestamps, kind="stable")
        log.debug("%s: fetched %d time tags", name, len(order))
        return numbers[order].astype(np.uint8), timestamps[order]

    # --- counting and histograms --------------------------------------------------------

    def start_counting(self, channels: Sequence[int], duration_ps: int) -> None:
        _check_duration(self.instrument.name, duration_ps)
        counted = tuple(self._input(c).channel for c in channels)
        library, tagger = self.instrument.library, self.instrument.tagger
        with self.instrument.api_errors("starting a Countrate"):
            countrate = library.Countrate(tagger, list(counted))
            countrate.startFor(duration_ps)
        self._countrate, self._counted = countrate, counted

    def count_rates_hz(self) -> dict[int, float]:
        if self._countrate is None:
            raise SwabianError(f"{self.instrument.name}: no counting was started")
        with self.instrument.api_errors("reading the Countrate"):
            rates = np.asarray(self._countrate.getData(), dtype=np.float64)
        return {channel: float(rate) for channel, rate in zip(self._counted, rates, strict=True)}

    def start_histogram(self, start: int, stop: int, bin_width_ps: int, bins: int,
                        duration_ps: int) -> None:
        _check_duration(self.instrument.name, duration_ps)
        start_channel, click_channel = self._input(start).channel, self._input(stop).channel
        library, tagger = self.instrument.library, self.instrument.tagger
        with self.instrument.api_errors("starting a Histogram"):
            histogram = library.Histogram(tagger, click_channel=click_channel,
                                          start_channel=start_channel, binwidth=bin_width_ps,
                                          n_bins=bins)
            histogram.startFor(duration_ps)
        self._histogram = histogram

    def histogram(self) -> NDArray[np.int64]:
        if self._histogram is None:
            raise SwabianError(f"{self.instrument.name}: no histogram was started")
        with self.instrument.api_errors("reading the Histogram"):
            return np.asarray(self._histogram.getData(), dtype=np.int64)

    def stop_acquisition(self) -> None:
        with self.instrument.api_errors("stopping the measurements"):
            for measurement in (self._stream, self._countrate, self._histogram):
                if measurement is not None and measurement.isRunning():
                    measurement.stop()


def _check_duration(name: str, duration_ps: int) -> None:
    if isinstance(duration_ps, bool) or not isinstance(duration_ps, int) or duration_ps <= 0:
        raise SwabianError(f"{name}: a duration must be a positive number of ps, "
                           f"got {duration_ps!r}")


def _import_library(name: str, library: str) -> ModuleType:
    try:
        return importlib.import_module(library)
    except ImportError as error:
        raise SwabianError(f"{name}: cannot import the Time Tagger library {library!r} "
                           f"({error}); install it with `pip install swabian-timetagger`"
                           ) from None


def _create_tagger(name: str, module: ModuleType, address: str) -> tuple[Any, bool]:
    """Connect: ``host:port`` through a Time Tagger Server, else a serial number on USB."""
    network = ":" in address
    try:
        if network:
            return module.createTimeTaggerNetwork(address), True
        return module.createTimeTagger(address), False
    except _LIBRARY_ERRORS as error:
        where = f"the Time Tagger Server at {address}" if network else \
            f"the Time Tagger {address or '(first found)'}"
        raise SwabianError(f"{name}: cannot connect to {where}: {error}") from None


class SwabianTimeTagger(Instrument):
    """Swabian Instruments Time Tagger Ultra through ``Swabian.TimeTagger`` (module docstring).

    ``address`` is a serial number (``""``: the first unit found) or
    ``host:port`` of a Time Tagger Server; ``n_inputs`` defaults to every
    rising-edge channel the unit lists.
    """

    #: Provides `labctl.instruments.TimeTagger` (`labctl.instruments.roles`).
    capability_adapter: ClassVar[type] = SwabianTagger
    #: The model field of the unit's identity this driver drives (any Time Tagger model);
    #: `labctl station check --contact` names a unit that answers otherwise.
    expected_model: ClassVar[str] = r"Time ?Tagger"
    #: The model this class's validators are for.
    model: ClassVar[SwabianModel] = TIME_TAGGER_ULTRA
    #: Input delays labctl allows, ps (the library takes more, in software, slowly).
    input_delay_range_ps: ClassVar[tuple[int, int]] = (-1_000_000_000, 1_000_000_000)

    def __init__(self, name: str, address: str, library: str = "Swabian.TimeTagger",
                 n_inputs: int | None = None, **kwargs: Any) -> None:
        self.library = _import_library(name, library)
        tagger, network = _create_tagger(name, self.library, address)
        try:
            with _translated(name, "getChannelList"):
                rising = tuple(int(c) for c in tagger.getChannelList(
                    self.library.ChannelEdge.Rising))
            count = len(rising) if n_inputs is None else n_inputs
            if isinstance(count, bool) or not isinstance(count, int) or \
                    not 1 <= count <= len(rising):
                raise SwabianError(f"{name}: n_inputs must be an integer within "
                                   f"1..{len(rising)} (the unit's inputs), got {n_inputs!r}")
            super().__init__(name, **kwargs)
        except BaseException:
            self.library.freeTimeTagger(tagger)
            raise
        self._tagger: Any = tagger
        self._network = network
        self.address = address
        self.input_channels: tuple[int, ...] = rising[:count]
        self.n_inputs = count
        try:
            inputs = ChannelList(self, "inputs", SwabianInput)
            for channel in self.input_channels:
                tag_input = SwabianInput(self, f"ch{channel}", channel)
                inputs.append(tag_input)
                self.add_submodule(f"ch{channel}", tag_input)
            self.inputs = self.add_submodule("inputs", inputs.to_channel_tuple())
        except BaseException:
            self.close()
            raise
        log.info("%s: connected to %s (%d inputs)", name, address or "the first Time Tagger",
                 count)

    @property
    def tagger(self) -> Any:
        """The library's tagger object (`SwabianError` once closed)."""
        tagger = getattr(self, "_tagger", None)   # QCoDeS strips attributes on close
        if tagger is None:
            raise SwabianError(f"{self.name}: the Time Tagger is closed")
        return tagger

    def input(self, channel: int) -> SwabianInput | None:
        """The input of rising-edge channel ``channel`` (None if there is none)."""
        if isinstance(channel, bool) or channel not in self.input_channels:
            return None
        found: SwabianInput = self.submodules[f"ch{channel}"]  # type: ignore[assignment]
        return found

    @contextlib.contextmanager
    def api_errors(self, what: str) -> Iterator[None]:
        """Turn the library's errors inside the block into `SwabianError` (one line)."""
        try:
            yield
        except _LIBRARY_ERRORS as error:
            if self._network and isinstance(error, RuntimeError) and not self._connected():
                raise SwabianConnectionError(
                    f"{self.name}: lost the connection to the Time Tagger Server at "
                    f"{self.address} ({what}): {error}") from error
            raise SwabianError(f"{self.name}: {what}: {error}") from error

    def call(self, method: str, *args: Any) -> Any:
        """``tagger.<method>(*args)`` with the library's errors turned into `SwabianError`."""
        with self.api_errors(f"{method}({', '.join(repr(a) for a in args)})"):
            return getattr(self.tagger, method)(*args)

    def _connected(self) -> bool:
        try:
            return bool(self.tagger.isConnected())
        except (*_LIBRARY_ERRORS, SwabianError):
            return False

    def get_idn(self) -> dict[str, str | None]:
        with self.api_errors("reading the identity"):
            model = str(self.tagger.getModel())
            serial = str(self.tagger.getSerial())
            firmware = str(self.tagger.getFirmwareVersion())
        if model != self.model.name:
            log.warning("%s: the unit is a %s but the driver class %s is for a %s (its "
                        "validators use that model's limits)", self.name, model,
                        type(self).__name__, self.model.name)
        return {"vendor": "Swabian Instruments", "model": model, "serial": serial,
                "firmware": firmware}

    def close(self) -> None:
        """Release the unit (``freeTimeTagger``) and close the instrument."""
        tagger, self._tagger = getattr(self, "_tagger", None), None
        if tagger is not None:
            try:
                self.library.freeTimeTagger(tagger)
            except (*_LIBRARY_ERRORS, TypeError) as error:
                log.warning("%s: freeTimeTagger failed: %s", self.name, error)
        super().close()


class SwabianTimeTaggerX(SwabianTimeTagger):
    """Swabian Instruments Time Tagger X (its limits; see `SwabianTimeTagger`)."""

    model: ClassVar[SwabianModel] = TIME_TAGGER_X


class SwabianTimeTagger20(SwabianTimeTagger):
    """Swabian Instruments Time Tagger 20 (its limits; no on-board delays)."""

    model: ClassVar[SwabianModel] = TIME_TAGGER_20


@contextlib.contextmanager
def _translated(name: str, what: str) -> Iterator[None]:
    try:
        yield
    except _LIBRARY_ERRORS as error:
        raise SwabianError(f"{name}: {what}: {error}") from None
