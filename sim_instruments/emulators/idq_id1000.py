"""Emulator of the ID Quantique ID1000 time controller, as the unit answers over zmq.

Speaks the SCPI text of IDQ's Python examples for the ID1000
("TDC_ID1000/Examples/Python"; see ``drivers/idq_id1000.py`` for which
commands are confirmed there and which are labctl's assumptions): inputs
(``INPU<n>``), delay blocks (``DELA<n>``), time-tag streams (``RAW<n>``), window
filters / combiners (``TSCO<n>``), histograms (``HIST<n>``), the record
generator (``REC:...``) and the device block (``DEVI:...``). Every message gets
exactly one reply, served over zmq by `sim_instruments.zmq_server`:

- a query answers its value (delays with the unit's ``TB`` time-bin suffix,
  thresholds with ``V``); a compound message (``A?;:B?``) answers one line per
  query, joined by line feeds;
- a set command answers ``Value set to <value>`` (the confirmation a
  hardware-tested third-party TC1000 driver checks for); a message of set
  commands answers one confirmation line per command; an action (``REC:PLAY``,
  ``HIST1:FLUSh``) answers an empty reply (labctl's assumption);
- a refused command answers ``SCPI_ERR_<reason>: <detail>`` and the rest of
  the message is not executed (the ``SCPI_ERR_`` marker is what IDQ's
  multi-unit example looks for; the reason names are labctl's); there is no
  ``SYST:ERR?`` queue.

The unit answers ``*IDN?`` (IDQ's examples ask it); labctl does not know it to
be an IEEE 488.2 device, so of the common commands only the engine's basic
set is answered (``*IDN?``, ``*RST``, ``*CLS``, ``*OPC?``, ``*WAI``, ``*TST?``).

Counters and acquisitions come from the world's physics
(`sim_instruments.acquisition`): ``REC:PLAY`` starts recording at the present
virtual time; the unit is ``PLAYING`` until the virtual clock has passed
``REC:DURation`` (or ``REC:STOP``). The recording is computed in one vectorised
step when first needed after it ended; the DataLink Target stand-in
(`sim_instruments.emulators.idq_datalink`) takes each streamed channel's
timestamps from `streamed_timestamps`. Histograms are built from the same
recording and answered as a text list (`wire_formats.idq_id1000`).

The unit's settings live here, in its own words (`ID1000Settings`); after
every message their effect is written to the world's vendor-neutral
`TaggerState` (`route`): which inputs reach the stream and with what delay,
whether a window filter passes only the syncs of attempts with a click
(labctl's rendering of a filter takes one trigger input; the world passes
the syncs of attempts with a click on any heralding detector, as a lab that
combines its detectors before the trigger would), and which inputs a window
gates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from labctl.timetags.merge import MAX_TIMESTAMP
from sim_instruments.acquisition import Recording, input_rate, record
from sim_instruments.emulators.scpi import (
    DATA_OUT_OF_RANGE,
    ILLEGAL_PARAMETER_VALUE,
    SETTINGS_CONFLICT,
    Call,
    ScpiEmulator,
    ScpiError,
    parse_bool,
    parse_choice,
    parse_number,
    split_message,
)
from sim_instruments.world import World
from sim_instruments.world_state import TaggerState
from wire_formats.idq_id1000 import format_histogram

_EDGES = {"RISing": "RISING", "FALLing": "FALLING"}
_COUPLINGS = {"DC": "DC", "AC": "AC"}
_MODES = {"ACCUmulate": "ACCU", "ACCUM": "ACCU", "CYCLe": "CYCL"}
_OPERATIONS = {"ONLYFIR": "ONLYFIR", "MUTE": "MUTE"}
_THRESHOLD_V = (-2.0, 2.0)
_DELAY_PS = (0, 1_000_000_000)


#: Dead-time range of an input, ps (labctl's rendering).
_DEAD_TIME_PS = (0, 100_000_000)
#: Combiners ``TSCO1..`` the unit has (IDQ's coincidence example uses up to TSCO24).
N_COMBINERS = 24
#: The time bin in high-resolution mode, ps (``DEVI:RES:BWID?``).
TIME_BIN_PS = 1
_RESOLUTIONS = {"HIRes": "HIRES", "STDres": "STDRES"}
_ARM_MODES = {"MANUal": "MANUAL", "AUTO": "AUTO"}


def _on_off(value: bool) -> str:
    return "ON" if value else "OFF"


@dataclass
class ID1000Input:
    """One input with its delay block ``DELA<n>`` and tag stream ``RAW<n>``."""

    enabled: bool = False
    threshold_v: float = -0.4
    coupling: str = "DC"
    edge: str = "RISING"
    dead_time_ps: int = 0
    delay_ps: int = 0
    delay_link: str = "NONE"
    counter_mode: str = "ACCU"
    integration_ms: int = 1000
    timetags_enabled: bool = False
    timetag_link: str = "NONE"
    timetag_ref_link: str = "NONE"


@dataclass
class ID1000WindowFilter:
    enabled: bool = False
    first_link: str = "NONE"
    begin_link: str = "NONE"
    begin_delay_ps: int = 0
    begin_edge: str = "RISING"
    end_link: str = "NONE"
    end_delay_ps: int = 0
    end_edge: str = "RISING"
    inside: str = "ONLYFIR"
    outside: str = "ONLYFIR"


@dataclass
class ID1000Histogram:
    ref_link: str = "NONE"
    stop_link: str = "NONE"
    min_ps: int = 0
    bin_width_ps: int = 100
    bin_count: int = 8


@dataclass
class ID1000Settings:
    """Everything the unit is set to (inputs, filters, histograms, the record)."""

    n_inputs: int
    inputs: list[ID1000Input] = field(default_factory=list)
    filters: list[ID1000WindowFilter] = field(
        default_factory=lambda: [ID1000WindowFilter() for _ in range(N_COMBINERS)])
    histograms: list[ID1000Histogram] = field(
        default_factory=lambda: [ID1000Histogram() for _ in range(4)])
    record_duration_ps: int = 1_000_000_000_000
    record_started_at: float | None = None
    record_stopped_at: float | None = None
    record_enabled: bool = False
    record_trigger_mode: str = "MANUAL"
    record_number: str = "1"
    record_pulse_width_ps: int = 1_000_000_000_000
    record_pulse_period_ps: int = 1_000_000_000_000
    resolution: str = "HIRES"
    #: Inputs whose tag stream was on (``RAW<n>:SEND ON``) when the record started.
    streamed_inputs: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        if not self.inputs:
            self.inputs = [ID1000Input() for _ in range(self.n_inputs)]


def _number(link: str, kind: str) -> int:
    """``DELA3`` -> 3 for kind ``DELA``; 0 when ``link`` is not of that kind."""
    link = link.upper()
    return int(link[len(kind):]) if link.startswith(kind) and link[len(kind):].isdigit() else 0


def route(settings: ID1000Settings, neutral: TaggerState) -> None:
    """Write what the unit's links, filters and delays do into the world's `TaggerState`."""
    neutral.sync_filter = None
    neutral.gates = {}
    for number, (own, world_input) in enumerate(zip(settings.inputs, neutral.inputs,
                                                    strict=True), start=1):
        link = own.timetag_link.upper()
        source = link
        window = None
        if link.startswith("TSCO"):
            index = _number(link, "TSCO")
            window = settings.filters[index - 1] if 1 <= index <= len(settings.filters) else None
            source = window.first_link.upper() if window is not None else "NONE"
        through_delay = _number(source, "DELA") == number and \
            own.delay_link.upper() == f"INPU{number}"
        carries_own = through_delay or _number(source, "INPU") == number
        world_input.recorded = own.enabled and own.timetags_enabled and carries_own
        world_input.delay_ps = own.delay_ps if through_delay else 0
        world_input.dead_time_ps = own.dead_time_ps
        if window is None or not (window.enabled and window.outside.upper() == "MUTE"
                                  and window.inside.upper() == "ONLYFIR"):
            continue
        trigger = window.begin_link.upper()
        trigger_input = _number(trigger, "DELA") or _number(trigger, "INPU")
        if not trigger_input:
            continue
        if through_delay and _number(trigger, "DELA"):
            # the sync delayed past the window: passes only after a click
            neutral.sync_filter = (number, (trigger_input,))
        elif _number(trigger, "INPU"):
            # the input recorded only inside windows opened by the raw trigger
            neutral.gates[number] = (trigger_input, window.end_delay_ps)


#: SCPI error code -> the reason named in a ``SCPI_ERR_`` reply (labctl's names).
_REASONS = {-104: "DATA_TYPE", -109: "MISSING_PARAMETER", -113: "UNDEFINED_HEADER",
            -114: "SUFFIX_OUT_OF_RANGE", -221: "SETTINGS_CONFLICT",
            -222: "DATA_OUT_OF_RANGE", -224: "ILLEGAL_PARAMETER_VALUE"}


def error_reply(entry: str) -> str:
    """``-222,"Data out of range; 3 not in ..."`` -> ``SCPI_ERR_DATA_OUT_OF_RANGE: ...``."""
    code_text, _, text = entry.partition(",")
    try:
        reason = _REASONS.get(int(code_text), "EXECUTION")
    except ValueError:
        reason = "EXECUTION"
    return f"SCPI_ERR_{reason}: {text.strip().strip(chr(34))}"


class IDQID1000Emulator(ScpiEmulator):
    """The time controller of the heralding station, answered from the world's physics."""

    identity = "IDQ,ID1000,1000-0042,7.1.0"
    ieee488_2 = False

    def __init__(self, neutral: TaggerState, world: World) -> None:
        super().__init__()
        # no SYST:ERR? queue: refusals are answered in the reply itself
        self._commands = [c for c in self._commands if c[0].match(":SYST:ERR") is None]
        self.neutral = neutral
        self.state = ID1000Settings(n_inputs=neutral.n_inputs)
        self.world = world
        self._recording: Recording | None = None
        self._records_started = 0
        self._register_device()
        self._register_inputs()
        self._register_filters()
        self._register_histograms()
        self._register_record()
        route(self.state, self.neutral)

    def respond(self, message: bytes) -> bytes | None:
        """One reply per message (see the module docstring for its form)."""
        self.errors.clear()
        queries: list[str] = []
        confirmations: list[str] = []
        path = ""
        for header, argument in split_message(message):
            if not header:
                continue
            text = header.decode("ascii", errors="replace").strip()
            if not text.startswith((":", "*")) and path:
                text = f"{path}:{text}"
            if not text.startswith("*"):
                bare = text.lstrip(":")
                path = bare.rsplit(":", 1)[0] if ":" in bare else ""
            reply = self._execute(text, argument)
            if self.errors:
                route(self.state, self.neutral)
                return error_reply(self.errors.popleft()).encode()
            if text.endswith("?"):
                queries.append(reply.decode() if isinstance(reply, bytes) else str(reply))
            elif isinstance(argument, str) and argument.strip():
                confirmations.append(f"Value set to {argument.strip()}")
        route(self.state, self.neutral)
        return "\n".join(queries or confirmations).encode()

    # --- helpers -----------------------------------------------------------------

    def _input(self, call: Call) -> int:
        return call.index(self.state.n_inputs, "input")

    def _link(self, call: Call, allowed: tuple[str, ...]) -> str:
        target = call.text().upper()
        if target not in allowed:
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"cannot link {target}")
        return target

    def _blocks(self, kinds: tuple[str, ...]) -> tuple[str, ...]:
        counts = {"INPU": self.state.n_inputs, "DELA": self.state.n_inputs,
                  "TSCO": len(self.state.filters)}
        return ("NONE", *(f"{k}{i}" for k in kinds for i in range(1, counts[k] + 1)))

    def _integer(self, call: Call, low: int, high: int) -> int:
        text = call.text()
        for unit in ("TB", "tb", "PS", "ps"):
            text = text.removesuffix(unit)
        value = parse_number(text, low, high)
        if value != int(value):
            raise ScpiError(DATA_OUT_OF_RANGE, "an integer is expected")
        return int(value)

    # --- the device block -----------------------------------------------------------

    def _register_device(self) -> None:
        def set_resolution(call: Call) -> None:
            self.state.resolution = parse_choice(call.text(), _RESOLUTIONS)

        self.register("DEVIce:RESolution", set_resolution)
        self.register("DEVIce:RESolution?", lambda c: self.state.resolution)
        self.register("DEVIce:RESolution:BWIDth?", lambda c: str(TIME_BIN_PS))
        self.register("DEVIce:CONFIguration:LOAD", self._load_configuration)
        self.register("STARt:ENABle", lambda c: _none(parse_bool(c.text())))
        self.register("STARt:ENABle?", lambda c: "ON")
        self.register("STARt:COUNter?", lambda c: "0")

    def _load_configuration(self, call: Call) -> None:
        """``DEVI:CONFI:LOAD COUNT``: the coincidence-counter wiring (accepted, not modelled)."""
        if call.text().upper() != "COUNT":
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"no configuration {call.text()!r}")

    # --- inputs, delays and tag streams ----------------------------------------

    def _register_inputs(self) -> None:
        inputs = self.state.inputs

        def input_setting(header: str, attribute: str, parse: Callable[[Call], Any],
                          show: Callable[[Any], str]) -> None:
            def write(call: Call) -> None:
                setattr(inputs[self._input(call)], attribute, parse(call))

            def read(call: Call) -> str:
                return show(getattr(inputs[self._input(call)], attribute))

            self.register(header, write)
            self.register(header + "?", read)

        input_setting("INPUt<n>:ENABle", "enabled", lambda c: parse_bool(c.text()), _on_off)
        input_setting("INPUt<n>:THREshold", "threshold_v",
                      lambda c: parse_number(c.text().rstrip("Vv"), *_THRESHOLD_V),
                      lambda v: f"{v:.3f}V")
        input_setting("INPUt<n>:COUPling", "coupling",
                      lambda c: parse_choice(c.text(), _COUPLINGS), str)
        input_setting("INPUt<n>:EDGE", "edge", lambda c: parse_choice(c.text(), _EDGES), str)
        input_setting("INPUt<n>:DEADtime", "dead_time_ps",
                      lambda c: self._integer(c, *_DEAD_TIME_PS), lambda v: f"{v}TB")
        input_setting("INPUt<n>:COUNter:MODE", "counter_mode",
                      lambda c: parse_choice(c.text(), _MODES), str)
        input_setting("INPUt<n>:COUNter:INTEgration", "integration_ms",
                      lambda c: self._integer(c, 1, 1_000_000), str)
        input_setting("DELAy<n>:VALUe", "delay_ps", lambda c: self._integer(c, *_DELAY_PS),
                      lambda v: f"{v}TB")
        input_setting("DELAy<n>:LINK", "delay_link",
                      lambda c: self._link(c, self._blocks(("INPU",))), str)
        input_setting("RAW<n>:SEND", "timetags_enabled", lambda c: parse_bool(c.text()), _on_off)
        input_setting("RAW<n>:STOP:LINK", "timetag_link",
                      lambda c: self._link(c, self._blocks(("INPU", "DELA", "TSCO"))), str)
        input_setting("RAW<n>:REFerence:LINK", "timetag_ref_link",
                      lambda c: self._link(c, self._blocks(("INPU", "DELA", "TSCO"))), str)
        self.register("RAW<n>:ERRors?", self._stream_errors)
        self.register("RAW<n>:ERRors:CLEar", lambda c: _none(self._input(c)))
        self.register("INPUt<n>:COUNter?", self._counter)
        self.register("INPUt<n>:COUNter:RESEt", lambda c: _none(self._input(c)))

    def _stream_errors(self, call: Call) -> str:
        """Tags lost on stream ``n`` since ``RAW<n>:ERRors:CLEar``: none are, here."""
        self._input(call)
        return "0"

    def _counter(self, call: Call) -> str:
        """Counts in one integration time at the input's present rate (Poisson)."""
        setting = self.state.inputs[self._input(call)]
        if not setting.enabled:
            return "0"
        mean = input_rate(self.world, call.suffix) * setting.integration_ms / 1000
        return str(int(self.world.rng.poisson(max(mean, 0.0))))

    # --- window filters --------------------------------------------------------

    def _filter(self, call: Call) -> int:
        return call.index(len(self.state.filters), "window filter")

    def _register_filters(self) -> None:
        filters = self.state.filters
        links = self._blocks(("INPU", "DELA"))

        def filter_setting(header: str, attribute: str, parse: Callable[[Call], Any],
                           show: Callable[[Any], str]) -> None:
            def write(call: Call) -> None:
                setattr(filters[self._filter(call)], attribute, parse(call))

            def read(call: Call) -> str:
                return show(getattr(filters[self._filter(call)], attribute))

            self.register(header, write)
            self.register(header + "?", read)

        filter_setting("TSCO<n>:WINDow:ENABle", "enabled", lambda c: parse_bool(c.text()),
                       _on_off)
        filter_setting("TSCO<n>:FIRst:LINK", "first_link", lambda c: self._link(c, links), str)
        for word, end in (("BEGIn", "begin"), ("END", "end")):
            filter_setting(f"TSCO<n>:WINDow:{word}:LINK", f"{end}_link",
                           lambda c: self._link(c, links), str)
            filter_setting(f"TSCO<n>:WINDow:{word}:DELAy", f"{end}_delay_ps",
                           lambda c: self._integer(c, *_DELAY_PS), lambda v: f"{v}TB")
            filter_setting(f"TSCO<n>:WINDow:{word}:EDGE", f"{end}_edge",
                           lambda c: parse_choice(c.text(), _EDGES), str)
        filter_setting("TSCO<n>:OPIN", "inside", lambda c: parse_choice(c.text(), _OPERATIONS),
                       str)
        filter_setting("TSCO<n>:OPOUt", "outside",
                       lambda c: parse_choice(c.text(), _OPERATIONS), str)
        self.register("TSCO<n>:COUNter?", lambda c: str(self._filter_count(self._filter(c))))
        self.register("TSCO<n>:COUNter:MODE", lambda c: _none(
            (self._filter(c), parse_choice(c.text(), _MODES))))
        self.register("TSCO<n>:COUNter:INTEgration", lambda c: _none(
            (self._filter(c), self._integer(c, 1, 10**15))))
        self.register("TSCO<n>:COUNter:RESEt", lambda c: _none(self._filter(c)))

    def _filter_count(self, index: int) -> int:
        """Tags the filter passed in the last recording (of the streams it feeds)."""
        recording = self._recording
        if recording is None or not self.state.filters[index].enabled:
            return 0
        streams = [n for n, own in enumerate(self.state.inputs, start=1)
                   if own.timetag_link.upper() == f"TSCO{index + 1}"]
        return int(np.count_nonzero(np.isin(recording.channels, streams)))

    # --- histograms --------------------------------------------------------------

    def _histogram(self, call: Call) -> int:
        return call.index(len(self.state.histograms), "histogram")

    def _register_histograms(self) -> None:
        histograms = self.state.histograms
        links = self._blocks(("INPU", "DELA", "TSCO"))

        def histogram_setting(header: str, attribute: str,
                              parse: Callable[[Call], Any]) -> None:
            def write(call: Call) -> None:
                setattr(histograms[self._histogram(call)], attribute, parse(call))

            def read(call: Call) -> str:
                return str(getattr(histograms[self._histogram(call)], attribute))

            self.register(header, write)
            self.register(header + "?", read)

        histogram_setting("HISTogram<n>:REFerence:LINK", "ref_link",
                          lambda c: self._link(c, links))
        histogram_setting("HISTogram<n>:STOP:LINK", "stop_link", lambda c: self._link(c, links))
        histogram_setting("HISTogram<n>:MINimum", "min_ps",
                          lambda c: self._integer(c, 0, 10**12))
        histogram_setting("HISTogram<n>:BWIDth", "bin_width_ps",
                          lambda c: self._integer(c, 1, 1_000_000_000))
        histogram_setting("HISTogram<n>:BCOUnt", "bin_count",
                          lambda c: self._integer(c, 1, 16384))
        self.register("HISTogram<n>:FLUSh", self._flush)
        self.register("HISTogram<n>:DATA?", self._histogram_data)

    def _flush(self, call: Call) -> None:
        self._histogram(call)   # checks the suffix; the bins are rebuilt from each record

    def _histogram_data(self, call: Call) -> str:
        """Start-stop histogram of the last recording: stop tags after each start tag."""
        setting = self.state.histograms[self._histogram(call)]
        counts = np.zeros(setting.bin_count, dtype=np.int64)
        recording = self._finished_recording()
        start_input, stop_input = _input_number(setting.ref_link), _input_number(setting.stop_link)
        if recording is not None and start_input and stop_input:
            starts = recording.timestamps_ps[recording.channels == start_input]
            stops = recording.timestamps_ps[recording.channels == stop_input]
            if len(starts) and len(stops):
                previous = np.searchsorted(starts, stops, side="right") - 1
                valid = previous >= 0
                delays = stops[valid] - starts[previous[valid]] - setting.min_ps
                bins = delays // setting.bin_width_ps
                bins = bins[(bins >= 0) & (bins < setting.bin_count)]
                counts += np.bincount(bins, minlength=setting.bin_count)
        return format_histogram(counts)

    # --- the record generator (acquisition timer) -----------------------------------

    def _register_record(self) -> None:
        state = self.state

        def setter(attribute: str, parse: Callable[[Call], Any]) -> Callable[[Call], None]:
            return lambda c: setattr(state, attribute, parse(c))

        self.register("RECord:TRIGger:ARM:MODE",
                      setter("record_trigger_mode", lambda c: parse_choice(c.text(), _ARM_MODES)))
        self.register("RECord:TRIGger:ARM:MODE?", lambda c: state.record_trigger_mode)
        self.register("RECord:ENABle", setter("record_enabled", lambda c: parse_bool(c.text())))
        self.register("RECord:ENABle?", lambda c: _on_off(state.record_enabled))
        self.register("RECord:NUMber", setter("record_number", self._record_number))
        self.register("RECord:NUMber?", lambda c: state.record_number)
        self.register("RECord:DURation", setter("record_duration_ps",
                                                 lambda c: self._integer(c, 1, MAX_TIMESTAMP)))
        self.register("RECord:DURation?", lambda c: str(state.record_duration_ps))
        self.register("RECord:PWIDth", setter("record_pulse_width_ps",
                                               lambda c: self._integer(c, 1, MAX_TIMESTAMP)))
        self.register("RECord:PWIDth?", lambda c: str(state.record_pulse_width_ps))
        self.register("RECord:PPERiod", setter("record_pulse_period_ps",
                                                lambda c: self._integer(c, 1, MAX_TIMESTAMP)))
        self.register("RECord:PPERiod?", lambda c: str(state.record_pulse_period_ps))
        self.register("RECord:PLAY", self._play)
        self.register("RECord:STOP", self._stop)
        self.register("RECord:STAGe?", lambda c: "PLAYING" if self._playing() else "STOPPED")

    def _record_number(self, call: Call) -> str:
        text = call.text().upper()
        if text in ("INF", "INFINITY"):
            return "INF"
        return str(self._integer(call, 1, 1_000_000))

    def _play(self, call: Call) -> None:
        if not self.state.record_enabled:
            raise ScpiError(SETTINGS_CONFLICT, "the record generator is off (REC:ENAB ON)")
        if not any(i.enabled for i in self.state.inputs):
            raise ScpiError(SETTINGS_CONFLICT, "no input enabled")
        self.state.record_started_at = self.world.state.clock.now()
        self.state.record_stopped_at = None
        self.state.streamed_inputs = frozenset(
            n for n, own in enumerate(self.state.inputs, start=1) if own.timetags_enabled)
        self._recording = None
        self._records_started += 1
        end = self._end_time()
        if end is not None and end < float("inf"):
            self.world.state.clock.at(end, self._precompute(self._records_started))

    def _precompute(self, generation: int) -> Callable[[], None]:
        """The record's tags, computed when the clock reaches its end (`VirtualClock.at`)."""
        def compute() -> None:
            with self.world.state.lock:
                if self._records_started == generation:
                    self._finished_recording()
        return compute

    def _stop(self, call: Call) -> None:
        if self._playing():
            self.state.record_stopped_at = self.world.state.clock.now()

    def _record_length_s(self) -> float | None:
        """How long the record lasts: ``REC:DURation`` once, until ``REC:STOP`` with ``INF``."""
        if self.state.record_number == "INF":
            return None
        count = int(self.state.record_number)
        if count == 1:
            return self.state.record_duration_ps * 1e-12
        return (count * self.state.record_pulse_period_ps) * 1e-12

    def _end_time(self) -> float | None:
        started = self.state.record_started_at
        if started is None:
            return None
        length = self._record_length_s()
        end = float("inf") if length is None else started + length
        if self.state.record_stopped_at is not None:
            end = min(end, self.state.record_stopped_at)
        return end

    def _playing(self) -> bool:
        """Still recording? The tags have picosecond resolution, so a clock that stops
        within half a picosecond of the end (floating-point sums) counts as done."""
        end = self._end_time()
        return end is not None and self.world.state.clock.now() < end - 0.5e-12

    def _finished_recording(self) -> Recording | None:
        end = self._end_time()
        if end is None or self._playing():
            return None
        if self._recording is None:
            assert self.state.record_started_at is not None
            self._recording = record(self.world, end - self.state.record_started_at)
        return self._recording

    # --- what the DataLink Target service receives ---------------------------------

    @property
    def record_generation(self) -> int:
        """How many records have been started (``REC:PLAY``) since power-on."""
        return self._records_started

    def streamed_timestamps(self, channel: int) -> NDArray[np.uint64] | None:
        """Channel ``channel``'s timestamps in time bins once the record has ended.

        None while it runs (or before any); empty when the channel's stream was
        not on (``RAW<n>:SEND ON``) at ``REC:PLAY``.
        """
        recording = self._finished_recording()
        if recording is None:
            return None
        if channel not in self.state.streamed_inputs:
            return np.zeros(0, dtype=np.uint64)
        times = recording.timestamps_ps[recording.channels == channel]
        return (times // TIME_BIN_PS).astype(np.uint64)


def _none(_: object) -> None:
    """A set command's handler answers nothing, whatever the call it makes returns."""


def _input_number(link: str) -> int:
    """``INPU3``/``DELA3``/``TSCO3`` -> 3 (the stream it carries), 0 for ``NONE``."""
    digits = "".join(c for c in link if c.isdigit())
    return int(digits) if digits and not link.upper().startswith("TSCO") else 0
