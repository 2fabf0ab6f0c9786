"""Emulator of the ID Quantique ID1000 time controller (labctl's VISA rendering).

Speaks the command vocabulary of ``drivers/idq_id1000.py``: inputs
(``INPU<n>``), delay blocks (``DELA<n>``), tag streams (``RAW<n>``), window
filters (``TSCO<n>``), histograms (``HIST<n>``) and the acquisition
(``REC:DURA``, ``REC:PLAY``, ``REC:STOP``, ``REC:STAG?``, ``RAW:DATA?``).
Counters and acquisitions come from the world's physics
(`sim_instruments.acquisition`): ``REC:PLAY`` starts recording at the
present virtual time; the unit is ``PLAYING`` until the virtual clock has
passed the record duration (or ``REC:STOP``); ``RAW:DATA?`` then answers the
whole recording as one block of tag words (`wire_formats.idq_id1000`), computed
in one vectorised step the first time it is asked for, and an empty block
before that. Histograms are built from the same recording.

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

from sim_instruments.acquisition import Recording, input_rate, record
from sim_instruments.emulators.scpi import (
    DATA_OUT_OF_RANGE,
    ILLEGAL_PARAMETER_VALUE,
    SETTINGS_CONFLICT,
    Call,
    ScpiEmulator,
    ScpiError,
    block,
    parse_bool,
    parse_choice,
    parse_number,
)
from sim_instruments.world import World
from sim_instruments.world_state import TaggerState
from wire_formats.idq_id1000 import MAX_TIMESTAMP_PS, encode_timetags

_EDGES = {"RISing": "RISING", "FALLing": "FALLING"}
_COUPLINGS = {"DC": "DC", "AC": "AC"}
_MODES = {"ACCUMulate": "ACCUM", "CYCLe": "CYCLE"}
_OPERATIONS = {"ONLYFIR": "ONLYFIR", "MUTE": "MUTE"}
_THRESHOLD_V = (-2.0, 2.0)
_DELAY_PS = (0, 1_000_000_000)


#: Dead-time range of an input, ps (labctl's rendering).
_DEAD_TIME_PS = (0, 100_000_000)


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
    counter_mode: str = "ACCUM"
    integration_ms: int = 1000
    timetags_enabled: bool = False
    timetag_link: str = "NONE"


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
        default_factory=lambda: [ID1000WindowFilter() for _ in range(8)])
    histograms: list[ID1000Histogram] = field(
        default_factory=lambda: [ID1000Histogram() for _ in range(4)])
    record_duration_ps: int = 1_000_000_000_000
    record_started_at: float | None = None
    record_stopped_at: float | None = None

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


class IDQID1000Emulator(ScpiEmulator):
    """The time controller of the heralding station, answered from the world's physics."""

    identity = "IDQ,ID1000,1000-0042,7.1.0"

    def __init__(self, neutral: TaggerState, world: World) -> None:
        super().__init__()
        self.neutral = neutral
        self.state = ID1000Settings(n_inputs=neutral.n_inputs)
        self.world = world
        self._recording: Recording | None = None
        self._register_inputs()
        self._register_filters()
        self._register_histograms()
        self.register("REC:DURAtion", self._set_duration)
        self.register("REC:DURAtion?", lambda c: str(self.state.record_duration_ps))
        self.register("REC:PLAY", self._play)
        self.register("REC:STOP", self._stop)
        self.register("REC:STAGe?", lambda c: "PLAYING" if self._playing() else "STOPPED")
        self.register("RAW:DATA?", self._raw_data)
        route(self.state, self.neutral)

    def respond(self, message: bytes) -> bytes | None:
        reply = super().respond(message)
        route(self.state, self.neutral)
        return reply

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
        value = parse_number(call.text().rstrip("psPS"), low, high)
        if value != int(value):
            raise ScpiError(DATA_OUT_OF_RANGE, "an integer is expected")
        return int(value)

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
                      lambda c: self._integer(c, *_DEAD_TIME_PS), str)
        input_setting("INPUt<n>:COUNter:MODE", "counter_mode",
                      lambda c: parse_choice(c.text(), _MODES), str)
        input_setting("INPUt<n>:COUNter:INTEgration", "integration_ms",
                      lambda c: self._integer(c, 1, 1_000_000), str)
        input_setting("DELAy<n>:VALUe", "delay_ps", lambda c: self._integer(c, *_DELAY_PS), str)
        input_setting("DELAy<n>:LINK", "delay_link",
                      lambda c: self._link(c, self._blocks(("INPU",))), str)
        input_setting("RAW<n>:SEND", "timetags_enabled", lambda c: parse_bool(c.text()), _on_off)
        input_setting("RAW<n>:LINK", "timetag_link",
                      lambda c: self._link(c, self._blocks(("INPU", "DELA", "TSCO"))), str)
        self.register("INPUt<n>:COUNter?", self._counter)

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
                           lambda c: self._integer(c, *_DELAY_PS), str)
            filter_setting(f"TSCO<n>:WINDow:{word}:EDGE", f"{end}_edge",
                           lambda c: parse_choice(c.text(), _EDGES), str)
        filter_setting("TSCO<n>:OPIN", "inside", lambda c: parse_choice(c.text(), _OPERATIONS),
                       str)
        filter_setting("TSCO<n>:OPOUt", "outside",
                       lambda c: parse_choice(c.text(), _OPERATIONS), str)
        self.register("TSCO<n>:COUNter?", lambda c: str(self._filter_count(self._filter(c))))

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
        histogram_setting("HISTogram<n>:MINimum", "min_ps", lambda c: self._integer(c, 0,
                                                                                 10**12))
        histogram_setting("HISTogram<n>:BWIDth", "bin_width_ps",
                          lambda c: self._integer(c, 1, 1_000_000_000))
        histogram_setting("HISTogram<n>:BCOUnt", "bin_count", lambda c: self._integer(c, 1,
                                                                                   16384))
        self.register("HISTogram<n>:FLUSh", self._flush)
        self.register("HISTogram<n>:DATA?", self._histogram_data)

    def _flush(self, call: Call) -> None:
        self._histogram(call)   # checks the suffix; the bins are rebuilt from each record

    def _histogram_data(self, call: Call) -> bytes:
        """Start-stop histogram of the last recording: stop tags after each start tag."""
        setting = self.state.histograms[self._histogram(call)]
        counts = np.zeros(setting.bin_count, dtype="<u8")
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
                counts += np.bincount(bins, minlength=setting.bin_count).astype("<u8")
        return block(counts.astype("<u8").tobytes())

    # --- acquisition ---------------------------------------------------------------

    def _set_duration(self, call: Call) -> None:
        self.state.record_duration_ps = self._integer(call, 1, MAX_TIMESTAMP_PS)

    def _play(self, call: Call) -> None:
        if not any(i.enabled for i in self.state.inputs):
            raise ScpiError(SETTINGS_CONFLICT, "no input enabled")
        self.state.record_started_at = self.world.state.clock.now()
        self.state.record_stopped_at = None
        self._recording = None

    def _stop(self, call: Call) -> None:
        if self._playing():
            self.state.record_stopped_at = self.world.state.clock.now()

    def _end_time(self) -> float | None:
        started = self.state.record_started_at
        if started is None:
            return None
        end = started + self.state.record_duration_ps * 1e-12
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

    def _raw_data(self, call: Call) -> bytes:
        recording = self._finished_recording()
        if recording is None:
            return block(b"")
        words = encode_timetags(recording.channels, recording.timestamps_ps)
        return block(words.astype("<u8").tobytes())


def _input_number(link: str) -> int:
    """``INPU3``/``DELA3``/``TSCO3`` -> 3 (the stream it carries), 0 for ``NONE``."""
    digits = "".join(c for c in link if c.isdigit())
    return int(digits) if digits and not link.upper().startswith("TSCO") else 0
