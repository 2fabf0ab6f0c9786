"""ID Quantique ID1000 / ID900 Time Controller: the station's time tagger.

Inputs with thresholds and delays, window filters that keep only the sync tags
of attempts that had a click, on-board start-stop histograms, and time-tag
acquisition returned as numpy arrays.

Where the commands come from
----------------------------
Confirmed from IDQ's public Python examples for the ID1000 (the SCPI text is
the same; the real unit receives it over a ZeroMQ REQ socket on port 5555):

- inputs: ``INPU<n>:ENAB ON|OFF``, ``INPU<n>:THRE <v>V``, ``INPU<n>:COUP DC|AC``,
  ``INPU<n>:EDGE RISING|FALLING``, ``INPU<n>:COUN?``, and the counter set-up
  ``INPU<n>:COUN:MODE`` / ``INPU<n>:COUN:INTE`` (IDQ's examples spell the modes
  ``CYCL``/``ACCU``; third-party scripts send ``CYCLE``/``ACCUM`` and give the
  integration time in ms, which is what this driver sends);
- delay blocks: ``DELA<n>:VALU <ps>``, ``DELA<n>:LINK INPU<n>``;
- window filters ("TSCO" combiners): ``TSCO<n>:WIND:ENAB``, ``TSCO<n>:FIR:LINK``,
  ``TSCO<n>:WIND:BEGI:LINK|DELA|EDGE``, ``TSCO<n>:WIND:END:LINK|DELA|EDGE``,
  ``TSCO<n>:OPIN ONLYFIR``, ``TSCO<n>:OPOU MUTE|ONLYFIR``, ``TSCO<n>:COUN?``;
- histograms: ``HIST<n>:REF:LINK``, ``HIST<n>:STOP:LINK``, ``HIST<n>:BWID``,
  ``HIST<n>:BCOU`` (1..16384), ``HIST<n>:FLUS``, ``HIST<n>:DATA?``
  (``HIST<n>:MIN`` is from labctl's command list, not seen in the examples);
- acquisition: ``REC:DURA <ps>``, ``REC:PLAY``, ``REC:STOP``, ``REC:STAG?``
  (answers ``PLAYING`` while a record runs); ``RAW<n>:SEND ON|OFF`` switches the
  time-tag stream of block ``RAW<n>`` on and off (seen in a third-party summary
  of IDQ's time-stamp example only).

labctl's rendering (not IDQ's; the virtual lab's emulator implements it):

- the transport: SCPI over a VISA message-based resource, line-feed
  terminated; set commands are not answered (the real unit answers every
  message, e.g. ``Value set to ...``);
- the error queue ``SYST:ERR?`` (``0,"No error"`` / ``<code>,"<text>"``);
- the query forms of settings (``<command>?``) and their replies as bare
  numbers/keywords; the driver's parsers tolerate a trailing unit suffix
  (the real unit answers e.g. ``DELA1:VALU?`` with a value suffixed ``TB``);
- ``HIST<n>:DATA?`` answers an IEEE-488.2 definite-length block of
  little-endian uint64 bin counts (the real unit answers a text list);
- ``RAW<n>:LINK <block>`` chooses what the tag stream ``n`` carries (by
  default the delay block of input ``n``);
- ``RAW:DATA?`` drains the tags recorded since ``REC:PLAY`` or since the
  previous ``RAW:DATA?``, merged in time order, as one definite-length block
  (the real unit streams tags on separate ZeroMQ sockets, ``.bin`` files of
  bare uint64 timestamps per channel);
- ``INPU<n>:DEAD <ps>`` (the input's dead time) and its query;
- the limits below that the examples do not state (threshold, delays,
  dead time, integration time) are labctl's choices.

Time-tag block format (``RAW:DATA?``)
-------------------------------------
``#<d><length><payload>``: an IEEE-488.2 definite-length block whose payload
is ``8*N`` bytes, N tags, each one **little-endian uint64**:

- bits 63..58 (6 bits): channel number, ``1..63``; tags of stream ``RAW<n>``
  carry channel ``n``, so with the default links the channel is the 1-based
  input index. ``0`` is not a valid channel.
- bits 57..0 (58 bits): timestamp in ps since the start of the acquisition
  (``REC:PLAY``), ``0 .. 2**58 - 1`` (about 80 h).

`wire_formats.idq_id1000` (``encode_timetags``, ``decode_timetags``) is the
single definition of this format (vectorised, no loop per tag) for the
driver, the emulators, the archive and the tests.
``HIST<n>:DATA?`` answers the same kind of block with ``bin_count``
little-endian uint64 bin counts.

Keeping only heralded syncs
---------------------------
Feed the sync through a delay block delayed by ``D`` into a window filter's
first input (``FIR``), open the window from a click input with begin/end
delays ``b < e``, pass inside (``ONLYFIR``) and mute outside. A sync at time
``s`` then passes if and only if a click arrived in ``[s + D - e, s + D - b]``.
Link a tag stream (``timetag_link``) to the filter to record only those syncs.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, cast

import numpy as np
from numpy.typing import NDArray
from qcodes import validators as vals
from qcodes.instrument import ChannelList, InstrumentChannel
from qcodes.parameters import Parameter, create_on_off_val_mapping

from labctl.errors import LabctlError
from labctl.instruments.adapter import Adapter
from labctl.instruments.tagger import Tags
from labctl.visa import ScpiInstrument
from wire_formats.idq_id1000 import MAX_TIMESTAMP_PS, decode_timetags

log = logging.getLogger(__name__)

_NUMBER = re.compile(r"^\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*[A-Za-z]*\s*$")
_INTEGER = re.compile(r"^[+-]?\d+$")


def _number_text(reply: str) -> str:
    """The number in a reply such as ``-0.400V`` or ``1000``; `ValueError` otherwise."""
    match = _NUMBER.match(reply)
    if match is None:
        raise ValueError(f"not a number reply: {reply!r}")
    return match.group(1)


def _float_reply(reply: str) -> float:
    """Parse a numeric reply, ignoring a trailing unit suffix."""
    return float(_number_text(reply))


def _int_reply(reply: str) -> int:
    """Parse an integer reply exactly (ps values exceed float precision)."""
    text = _number_text(reply)
    return int(text) if _INTEGER.match(text) else round(float(text))


def _keyword_reply(choices: Sequence[str]) -> Callable[[str], str]:
    """Parser mapping a long or SCPI short-form keyword reply onto one of ``choices``."""

    def parse(reply: str) -> str:
        word = reply.strip().upper()
        for choice in choices:
            if word == choice or word.startswith(choice) or (
                    len(word) >= 4 and choice.startswith(word)):
                return choice
        raise ValueError(f"unexpected reply {reply!r}, expected one of {list(choices)}")

    return parse


def _link_reply(reply: str) -> str:
    """Normalise a block name reply (``dela2`` -> ``DELA2``)."""
    return reply.strip().upper()


_ON_OFF = create_on_off_val_mapping(on_val="ON", off_val="OFF")
_EDGES = ("RISING", "FALLING")
_OPERATIONS = ("ONLYFIR", "MUTE")


class IDQInput(InstrumentChannel["IDQID1000"]):
    """Input ``n`` with its discriminator, delay block ``DELA<n>``, counter and tag stream."""

    def __init__(self, parent: IDQID1000, name: str, index: int, **kwargs: Any) -> None:
        super().__init__(parent, name, **kwargs)
        self.index = index
        n = index
        self.enabled: Parameter = self.add_parameter(
            "enabled", label=f"Input {n} enabled", unit="",
            get_cmd=f"INPU{n}:ENAB?", set_cmd=f"INPU{n}:ENAB {{}}", val_mapping=_ON_OFF,
        )
        self.threshold: Parameter = self.add_parameter(
            "threshold", label=f"Input {n} threshold", unit="V",
            get_cmd=f"INPU{n}:THRE?", set_cmd=f"INPU{n}:THRE {{:.3f}}V",
            get_parser=_float_reply, vals=vals.Numbers(*parent.threshold_range_v),
        )
        self.coupling: Parameter = self.add_parameter(
            "coupling", label=f"Input {n} coupling", unit="",
            get_cmd=f"INPU{n}:COUP?", set_cmd=f"INPU{n}:COUP {{}}",
            get_parser=_keyword_reply(("DC", "AC")), vals=vals.Enum("DC", "AC"),
        )
        self.edge: Parameter = self.add_parameter(
            "edge", label=f"Input {n} active edge", unit="",
            get_cmd=f"INPU{n}:EDGE?", set_cmd=f"INPU{n}:EDGE {{}}",
            get_parser=_keyword_reply(_EDGES), vals=vals.Enum(*_EDGES),
        )
        self.dead_time_ps: Parameter = self.add_parameter(
            "dead_time_ps", label=f"Input {n} dead time", unit="ps",
            get_cmd=f"INPU{n}:DEAD?", set_cmd=f"INPU{n}:DEAD {{:d}}",
            get_parser=_int_reply, vals=vals.Ints(*parent.dead_time_range_ps),
        )
        self.delay_ps: Parameter = self.add_parameter(
            "delay_ps", label=f"Input {n} delay", unit="ps",
            get_cmd=f"DELA{n}:VALU?", set_cmd=f"DELA{n}:VALU {{:d}}",
            get_parser=_int_reply, vals=vals.Ints(*parent.delay_range_ps),
        )
        self.delay_link: Parameter = self.add_parameter(
            "delay_link", label=f"Source of delay block {n}", unit="",
            get_cmd=f"DELA{n}:LINK?", set_cmd=f"DELA{n}:LINK {{}}", get_parser=_link_reply,
            vals=vals.Enum("NONE", *(f"INPU{i}" for i in range(1, parent.n_inputs + 1))),
        )
        self.counter_mode: Parameter = self.add_parameter(
            "counter_mode", label=f"Input {n} counter mode", unit="",
            get_cmd=f"INPU{n}:COUN:MODE?", set_cmd=f"INPU{n}:COUN:MODE {{}}",
            get_parser=_keyword_reply(("ACCUM", "CYCLE")), vals=vals.Enum("ACCUM", "CYCLE"),
        )
        self.counter_integration_ms: Parameter = self.add_parameter(
            "counter_integration_ms", label=f"Input {n} counter integration time", unit="ms",
            get_cmd=f"INPU{n}:COUN:INTE?", set_cmd=f"INPU{n}:COUN:INTE {{:d}}",
            get_parser=_int_reply, vals=vals.Ints(*parent.counter_integration_range_ms),
        )
        self.counter: Parameter = self.add_parameter(
            "counter", label=f"Input {n} counter", unit="counts",
            get_cmd=f"INPU{n}:COUN?", set_cmd=False, get_parser=_int_reply,
            vals=vals.Ints(min_value=0),
        )
        self.count_rate: Parameter = self.add_parameter(
            "count_rate", label=f"Input {n} count rate", unit="Hz",
            get_cmd=self._count_rate, set_cmd=False, vals=vals.Numbers(min_value=0),
            snapshot_get=False,  # derived, and refused in ACCUM mode
        )
        self.timetags_enabled: Parameter = self.add_parameter(
            "timetags_enabled", label=f"Tag stream {n} on", unit="",
            get_cmd=f"RAW{n}:SEND?", set_cmd=f"RAW{n}:SEND {{}}", val_mapping=_ON_OFF,
        )
        self.timetag_link: Parameter = self.add_parameter(
            "timetag_link", label=f"Source of tag stream {n} (channel {n})", unit="",
            get_cmd=f"RAW{n}:LINK?", set_cmd=f"RAW{n}:LINK {{}}", get_parser=_link_reply,
            vals=vals.Enum(*parent.link_targets()),
        )

    def _count_rate(self) -> float:
        """Counts of the last integration period per second (needs ``CYCLE`` mode)."""
        if self.counter_mode.get() != "CYCLE":
            raise LabctlError(f"{self.full_name}: count_rate needs counter_mode 'CYCLE'")
        return self.counter.get() / (self.counter_integration_ms.get() * 1e-3)


class IDQWindowFilter(InstrumentChannel["IDQID1000"]):
    """Window filter ``TSCO<n>``: passes its first input only inside (or outside) a time window."""

    #: Methods `labctl node serve` lets an orchestrator call (`labctl.remote.allowlist`).
    remote_methods: ClassVar[tuple[str, ...]] = ("configure_window",)

    def __init__(self, parent: IDQID1000, name: str, index: int, **kwargs: Any) -> None:
        super().__init__(parent, name, **kwargs)
        self.index = index
        prefix = f"TSCO{index}"
        targets = vals.Enum(*parent.link_targets())
        delays = vals.Ints(*parent.delay_range_ps)
        self.window_enabled: Parameter = self.add_parameter(
            "window_enabled", label=f"{prefix} window enabled", unit="",
            get_cmd=f"{prefix}:WIND:ENAB?", set_cmd=f"{prefix}:WIND:ENAB {{}}",
            val_mapping=_ON_OFF,
        )
        self.first_link: Parameter = self.add_parameter(
            "first_link", label=f"{prefix} filtered signal", unit="",
            get_cmd=f"{prefix}:FIR:LINK?", set_cmd=f"{prefix}:FIR:LINK {{}}",
            get_parser=_link_reply, vals=targets,
        )
        for end, word in (("begin", "BEGI"), ("end", "END")):
            self.add_parameter(
                f"window_{end}_link", label=f"{prefix} window {end} trigger", unit="",
                get_cmd=f"{prefix}:WIND:{word}:LINK?", set_cmd=f"{prefix}:WIND:{word}:LINK {{}}",
                get_parser=_link_reply, vals=targets,
            )
            self.add_parameter(
                f"window_{end}_delay_ps", label=f"{prefix} window {end} delay", unit="ps",
                get_cmd=f"{prefix}:WIND:{word}:DELA?", set_cmd=f"{prefix}:WIND:{word}:DELA {{:d}}",
                get_parser=_int_reply, vals=delays,
            )
            self.add_parameter(
                f"window_{end}_edge", label=f"{prefix} window {end} trigger edge", unit="",
                get_cmd=f"{prefix}:WIND:{word}:EDGE?", set_cmd=f"{prefix}:WIND:{word}:EDGE {{}}",
                get_parser=_keyword_reply(_EDGES), vals=vals.Enum(*_EDGES),
            )
        self.window_begin_link = cast(Parameter, self.parameters["window_begin_link"])
        self.window_begin_delay_ps = cast(Parameter, self.parameters["window_begin_delay_ps"])
        self.window_begin_edge = cast(Parameter, self.parameters["window_begin_edge"])
        self.window_end_link = cast(Parameter, self.parameters["window_end_link"])
        self.window_end_delay_ps = cast(Parameter, self.parameters["window_end_delay_ps"])
        self.window_end_edge = cast(Parameter, self.parameters["window_end_edge"])
        self.inside_operation: Parameter = self.add_parameter(
            "inside_operation", label=f"{prefix} operation inside the window", unit="",
            get_cmd=f"{prefix}:OPIN?", set_cmd=f"{prefix}:OPIN {{}}",
            get_parser=_keyword_reply(_OPERATIONS), vals=vals.Enum(*_OPERATIONS),
        )
        self.outside_operation: Parameter = self.add_parameter(
            "outside_operation", label=f"{prefix} operation outside the window", unit="",
            get_cmd=f"{prefix}:OPOU?", set_cmd=f"{prefix}:OPOU {{}}",
            get_parser=_keyword_reply(_OPERATIONS), vals=vals.Enum(*_OPERATIONS),
        )
        self.counter: Parameter = self.add_parameter(
            "counter", label=f"{prefix} counter", unit="counts",
            get_cmd=f"{prefix}:COUN?", set_cmd=False, get_parser=_int_reply,
            vals=vals.Ints(min_value=0),
        )

    def configure_window(self, first: str, trigger: str, begin_delay_ps: int,
                         end_delay_ps: int, edge: str = "RISING", keep_inside: bool = True) -> None:
        """Pass ``first`` only inside (``keep_inside``) or only outside the window.

        The window opens ``begin_delay_ps`` and closes ``end_delay_ps`` after each
        ``edge`` of ``trigger``. Every value is validated before anything is sent.
        """
        if end_delay_ps <= begin_delay_ps:
            raise ValueError(f"window end {end_delay_ps} ps must come after "
                             f"its begin {begin_delay_ps} ps")
        settings: list[tuple[Parameter, Any]] = [
            (self.first_link, first),
            (self.window_begin_link, trigger), (self.window_begin_delay_ps, begin_delay_ps),
            (self.window_begin_edge, edge),
            (self.window_end_link, trigger), (self.window_end_delay_ps, end_delay_ps),
            (self.window_end_edge, edge),
            (self.inside_operation, "ONLYFIR" if keep_inside else "MUTE"),
            (self.outside_operation, "MUTE" if keep_inside else "ONLYFIR"),
            (self.window_enabled, True),
        ]
        for parameter, value in settings:
            parameter.validate(value)
        for parameter, value in settings:
            parameter.set(value)


class IDQHistogram(InstrumentChannel["IDQID1000"]):
    """On-board start-stop histogram ``HIST<n>``."""

    #: Methods `labctl node serve` lets an orchestrator call (`labctl.remote.allowlist`).
    remote_methods: ClassVar[tuple[str, ...]] = ("flush", "data", "bin_edges_ps")

    def __init__(self, parent: IDQID1000, name: str, index: int, **kwargs: Any) -> None:
        super().__init__(parent, name, **kwargs)
        self.index = index
        prefix = f"HIST{index}"
        targets = vals.Enum(*parent.link_targets())
        self.ref_link: Parameter = self.add_parameter(
            "ref_link", label=f"{prefix} start (reference)", unit="",
            get_cmd=f"{prefix}:REF:LINK?", set_cmd=f"{prefix}:REF:LINK {{}}",
            get_parser=_link_reply, vals=targets,
        )
        self.stop_link: Parameter = self.add_parameter(
            "stop_link", label=f"{prefix} stop", unit="",
            get_cmd=f"{prefix}:STOP:LINK?", set_cmd=f"{prefix}:STOP:LINK {{}}",
            get_parser=_link_reply, vals=targets,
        )
        self.min_ps: Parameter = self.add_parameter(
            "min_ps", label=f"{prefix} start of the first bin", unit="ps",
            get_cmd=f"{prefix}:MIN?", set_cmd=f"{prefix}:MIN {{:d}}",
            get_parser=_int_reply, vals=vals.Ints(*parent.delay_range_ps),
        )
        self.bin_width_ps: Parameter = self.add_parameter(
            "bin_width_ps", label=f"{prefix} bin width", unit="ps",
            get_cmd=f"{prefix}:BWID?", set_cmd=f"{prefix}:BWID {{:d}}",
            get_parser=_int_reply, vals=vals.Ints(*parent.bin_width_range_ps),
        )
        self.bin_count: Parameter = self.add_parameter(
            "bin_count", label=f"{prefix} number of bins", unit="",
            get_cmd=f"{prefix}:BCOU?", set_cmd=f"{prefix}:BCOU {{:d}}",
            get_parser=_int_reply, vals=vals.Ints(*parent.bin_count_range),
        )

    def flush(self) -> None:
        """Clear the histogram's bins."""
        self.write(f"HIST{self.index}:FLUS")

    def data(self) -> NDArray[np.uint64]:
        """The bin counts, read as a binary block (uint64 per bin)."""
        counts = self.parent.query_block(f"HIST{self.index}:DATA?", datatype="Q")
        return np.asarray(counts, dtype=np.uint64)

    def bin_edges_ps(self) -> NDArray[np.int64]:
        """Left edges of the bins in ps, from ``min_ps``, ``bin_width_ps`` and ``bin_count``."""
        start, width, count = self.min_ps.get(), self.bin_width_ps.get(), self.bin_count.get()
        return start + width * np.arange(count, dtype=np.int64)



class ID1000TimeTagger(Adapter["IDQID1000"]):
    """The ID1000 as a `labctl.instruments.TimeTagger` (inputs 1..``n_inputs``).

    Routing: input ``n`` reaches tag stream ``n`` through delay block ``n``; the
    conditional sync filter is window filter 1 (the sync delayed past the
    window, the window opened by a click: labctl's rendering of a filter takes
    one trigger input, the first click input); gates are window filters 2...
    (the input passes only inside a window opened by the raw gate input);
    histograms use ``HIST1`` over a record; count rates the input counters in
    ``CYCLE`` mode.
    """

    #: The conditional filter's window stays open this long past the sync's delay, ps.
    filter_margin_ps = 50_000
    #: The inputs `start_counting` set up.
    _counted: tuple[int, ...] = ()

    def _input(self, channel: int) -> IDQInput:
        count = self.instrument.n_inputs
        if isinstance(channel, bool) or not isinstance(channel, int) or \
                not 1 <= channel <= count:
            raise ValueError(f"{self.instrument.name}: no input {channel!r} (1..{count})")
        found: IDQInput = self.instrument.inputs[channel - 1]
        return found

    def input_channels(self) -> tuple[int, ...]:
        return tuple(range(1, self.instrument.n_inputs + 1))

    def record_raw_inputs(self) -> None:
        for window in self.instrument.window_filters:
            window.window_enabled(False)
        for tag_input in self.instrument.inputs:
            n = tag_input.index
            tag_input.enabled(True)
            tag_input.delay_link(f"INPU{n}")
            tag_input.delay_ps(0)
            tag_input.timetag_link(f"DELA{n}")
            tag_input.timetags_enabled(True)

    def set_input_delay_ps(self, channel: int, delay_ps: int) -> None:
        self._input(channel).delay_ps(delay_ps)

    def input_delay_ps(self, channel: int) -> int:
        return int(self._input(channel).delay_ps())

    def set_trigger_level_v(self, channel: int, level_v: float) -> None:
        self._input(channel).threshold(level_v)

    def trigger_level_v(self, channel: int) -> float:
        return float(self._input(channel).threshold())

    def set_dead_time_ps(self, channel: int, dead_time_ps: int) -> None:
        self._input(channel).dead_time_ps(dead_time_ps)

    def dead_time_ps(self, channel: int) -> int:
        return int(self._input(channel).dead_time_ps())

    def filter_syncs(self, sync: int, clicks: Sequence[int], delay_ps: int) -> None:
        if not clicks:
            raise ValueError("filter_syncs needs at least one click input")
        sync_input, trigger = self._input(sync), self._input(clicks[0])
        sync_input.delay_link(f"INPU{sync}")
        sync_input.delay_ps(delay_ps)
        trigger.delay_link(f"INPU{trigger.index}")
        self.instrument.tsco1.configure_window(
            first=f"DELA{sync}", trigger=f"DELA{trigger.index}", begin_delay_ps=0,
            end_delay_ps=delay_ps + self.filter_margin_ps)
        sync_input.timetag_link("TSCO1")

    def gate_inputs(self, channels: Sequence[int], gate: int, window_ps: int) -> None:
        self._input(gate)
        filters = self.instrument.window_filters[1:]
        if len(channels) > len(filters):
            raise ValueError(f"{self.instrument.name}: {len(filters)} window filters can "
                             f"gate at most {len(filters)} inputs, not {len(channels)}")
        for channel, window in zip(channels, filters, strict=False):
            tag_input = self._input(channel)
            tag_input.delay_link(f"INPU{channel}")
            window.configure_window(first=f"DELA{channel}", trigger=f"INPU{gate}",
                                    begin_delay_ps=0, end_delay_ps=window_ps)
            tag_input.timetag_link(f"TSCO{window.index}")

    def start_recording(self, duration_ps: int) -> None:
        self.instrument.record_duration_ps(duration_ps)
        self.instrument.start_acquisition()

    def recording(self) -> bool:
        return self.instrument.is_acquiring()

    def fetch_tags(self) -> Tags:
        return self.instrument.fetch_timetags()

    def start_counting(self, channels: Sequence[int], duration_ps: int) -> None:
        integration_ms = max(1, round(duration_ps * 1e-9))
        for channel in channels:
            tag_input = self._input(channel)
            tag_input.enabled(True)
            tag_input.counter_mode("CYCLE")
            tag_input.counter_integration_ms(integration_ms)
        self._counted = tuple(channels)

    def count_rates_hz(self) -> dict[int, float]:
        return {channel: float(self._input(channel).count_rate())
                for channel in self._counted}

    def start_histogram(self, start: int, stop: int, bin_width_ps: int, bins: int,
                        duration_ps: int) -> None:
        histogram = self.instrument.hist1
        histogram.ref_link(f"INPU{self._input(start).index}")
        histogram.stop_link(f"INPU{self._input(stop).index}")
        histogram.min_ps(0)
        histogram.bin_width_ps(bin_width_ps)
        histogram.bin_count(bins)
        histogram.flush()
        self.start_recording(duration_ps)

    def histogram(self) -> NDArray[np.int64]:
        return self.instrument.hist1.data().astype(np.int64)

    def stop_acquisition(self) -> None:
        self.instrument.stop_acquisition()


class IDQID1000(ScpiInstrument):
    """ID Quantique ID1000 / ID900 time controller: inputs, filters, histograms, time tags."""

    #: Provides `labctl.instruments.TimeTagger` (`labctl.instruments.roles`).
    capability_adapter: ClassVar[type] = ID1000TimeTagger

    #: Methods `labctl node serve` lets an orchestrator call (`labctl.remote.allowlist`).
    remote_methods: ClassVar[tuple[str, ...]] = (
        "start_acquisition", "stop_acquisition", "abort", "is_acquiring", "fetch_timetags",
        "link_targets")

    #: Inputs of the standard unit (START input not exposed); a station may say
    #: ``init: {n_inputs: N}`` for a configuration with more (up to `max_inputs`).
    default_inputs: ClassVar[int] = 4
    #: Most inputs labctl addresses (tag words carry channels up to 63).
    max_inputs: ClassVar[int] = 8
    #: Number of window filters ``TSCO1..`` exposed (the unit has more combiners).
    n_window_filters: ClassVar[int] = 8
    #: Number of on-board histograms ``HIST1..``.
    n_histograms: ClassVar[int] = 4
    #: Discriminator threshold range, V (labctl's assumption).
    threshold_range_v: ClassVar[tuple[float, float]] = (-2.0, 2.0)
    #: Range of delay blocks, window delays and histogram offsets, ps (labctl's assumption).
    delay_range_ps: ClassVar[tuple[int, int]] = (0, 1_000_000_000)
    #: Input dead-time range, ps (labctl's assumption).
    dead_time_range_ps: ClassVar[tuple[int, int]] = (0, 100_000_000)
    #: Histogram bin width range, ps.
    bin_width_range_ps: ClassVar[tuple[int, int]] = (1, 1_000_000_000)
    #: Histogram bin count range.
    bin_count_range: ClassVar[tuple[int, int]] = (1, 16384)
    #: Counter integration time range in CYCLE mode, ms (labctl's assumption).
    counter_integration_range_ms: ClassVar[tuple[int, int]] = (1, 1_000_000)
    #: Longest record: timestamps must fit in 58 bits, ps.
    record_duration_range_ps: ClassVar[tuple[int, int]] = (1, MAX_TIMESTAMP_PS)

    def __init__(self, name: str, address: str, n_inputs: int | None = None,
                 **kwargs: Any) -> None:
        n_inputs = self.default_inputs if n_inputs is None else n_inputs
        if isinstance(n_inputs, bool) or not isinstance(n_inputs, int) or \
                not 1 <= n_inputs <= self.max_inputs:
            raise ValueError(f"n_inputs must be an integer within 1..{self.max_inputs}, "
                             f"got {n_inputs!r}")
        self.n_inputs = n_inputs
        super().__init__(name, address, **kwargs)
        inputs = ChannelList(self, "inputs", IDQInput)
        for n in range(1, self.n_inputs + 1):
            channel = IDQInput(self, f"input{n}", n)
            inputs.append(channel)
            self.add_submodule(f"input{n}", channel)
        self.inputs = self.add_submodule("inputs", inputs.to_channel_tuple())

        filters = ChannelList(self, "window_filters", IDQWindowFilter)
        for n in range(1, self.n_window_filters + 1):
            window = IDQWindowFilter(self, f"tsco{n}", n)
            filters.append(window)
            self.add_submodule(f"tsco{n}", window)
        self.window_filters = self.add_submodule("window_filters", filters.to_channel_tuple())

        histograms = ChannelList(self, "histograms", IDQHistogram)
        for n in range(1, self.n_histograms + 1):
            histogram = IDQHistogram(self, f"hist{n}", n)
            histograms.append(histogram)
            self.add_submodule(f"hist{n}", histogram)
        self.histograms = self.add_submodule("histograms", histograms.to_channel_tuple())

        self.record_duration_ps: Parameter = self.add_parameter(
            "record_duration_ps", label="Acquisition duration", unit="ps",
            get_cmd="REC:DURA?", set_cmd="REC:DURA {:d}", get_parser=_int_reply,
            vals=vals.Ints(*self.record_duration_range_ps),
        )

    def link_targets(self) -> tuple[str, ...]:
        """Block names a filter, histogram or tag stream may be linked to."""
        return ("NONE",
                *(f"INPU{n}" for n in range(1, self.n_inputs + 1)),
                *(f"DELA{n}" for n in range(1, self.n_inputs + 1)),
                *(f"TSCO{n}" for n in range(1, self.n_window_filters + 1)))

    def start_acquisition(self) -> None:
        """Start a record of ``record_duration_ps`` (``REC:PLAY``); timestamps restart at 0."""
        log.debug("%s: starting acquisition", self.name)
        self.write("REC:PLAY")

    def stop_acquisition(self) -> None:
        """Stop the running record (``REC:STOP``); tags recorded so far stay readable."""
        log.debug("%s: stopping acquisition", self.name)
        self.write("REC:STOP")

    def abort(self) -> None:
        """Stop any running acquisition (the engine's abort path)."""
        self.stop_acquisition()

    def is_acquiring(self) -> bool:
        """Whether a record is running (``REC:STAG?`` answers ``PLAYING``)."""
        return self.ask("REC:STAG?").strip().upper().startswith("PLAY")

    def fetch_timetags(self) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
        """Drain the recorded tags: ``(channels, timestamps_ps)`` as numpy arrays.

        Raises `LabctlError` if a tag names a channel the unit does not have.
        """
        words = np.asarray(self.query_block("RAW:DATA?", datatype="Q"), dtype=np.uint64)
        channels, timestamps = decode_timetags(words)
        if channels.size and int(channels.max()) > self.n_inputs:
            raise LabctlError(f"{self.name}: tag from channel {int(channels.max())}, "
                              f"the unit has {self.n_inputs} tag streams")
        log.debug("%s: fetched %d time tags", self.name, channels.size)
        return channels, timestamps
