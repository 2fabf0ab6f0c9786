"""ID Quantique ID1000 / ID900 Time Controller over zmq: the station's time tagger.

Inputs with thresholds and delays, window filters that keep only the sync tags
of attempts that had a click, on-board start-stop histograms, and time tags
streamed through IDQ's DataLink Target service, returned as numpy arrays.

Transport (IDQ's official Python examples for the ID1000,
"TDC_ID1000/Examples/Python", ``utils/common.py``): SCPI text over a zmq REQ
socket to the unit, ``tcp://<unit>:5555``; every message gets exactly one reply
(set commands too: a hardware-tested third-party TC1000 driver checks replies
such as ``Value set to 100``); a refused command answers text containing
``SCPI_ERR_`` (what IDQ's multi-unit example checks), which this driver raises
as `DriverError` naming the command; there is no ``SYST:ERR?`` queue. The
transport is `labctl.transports.zmq_scpi` (timeouts and dropped connections
also raise `DriverError`; the next call uses a fresh socket).

Commands confirmed in IDQ's examples or the third-party driver:

- inputs: ``INPU<n>:ENAB ON|OFF``, ``INPU<n>:THRE <v>V`` (``THRE?`` answers with a
  ``V`` suffix), ``INPU<n>:COUP DC|AC``, ``INPU<n>:EDGE RISING|FALLING``,
  ``INPU<n>:COUN?``, ``INPU<n>:COUN:MODE CYCL|ACCU``, ``INPU<n>:COUN:INTE``;
- delay blocks: ``DELA<n>:VALU <ps>`` (``VALU?`` answers with the ``TB`` time-bin
  suffix), ``DELA<n>:LINK``;
- window filters (combiners): ``TSCO<n>:WIND:ENAB``, ``TSCO<n>:FIR:LINK``,
  ``TSCO<n>:WIND:BEGI:LINK|DELA|EDGE``, ``TSCO<n>:WIND:END:LINK|DELA|EDGE``,
  ``TSCO<n>:OPIN ONLYFIR``, ``TSCO<n>:OPOU MUTE|ONLYFIR``, ``TSCO<n>:COUN?``;
- histograms: ``HIST<n>:REF:LINK``, ``HIST<n>:STOP:LINK``, ``HIST<n>:BWID``,
  ``HIST<n>:BCOU`` (1..16384), ``HIST<n>:FLUS``, ``HIST<n>:DATA?`` (a text list
  of counts, `wire_formats.idq_id1000.parse_histogram`);
- the record generator: ``REC:TRIG:ARM:MODE MANU``, ``REC:ENAB ON``, ``REC:STOP``,
  ``REC:NUM 1``, ``REC:DUR <ps>``, ``REC:PLAY``, ``REC:STAG?`` (``PLAYING`` while it
  runs); the device: ``DEVI:RES:BWID?`` (the time bin, read at connect);
- time tags: ``RAW<n>:STOP:LINK`` and ``RAW<n>:REF:LINK NONE`` (what stream ``n``
  carries, referenced to the record's start), ``RAW<n>:ERRORS:CLEAR``,
  ``RAW<n>:ERRORS?``, ``RAW<n>:SEND ON|OFF``.

The DataLink Target service (DLT; a host program, zmq REP, port 6060, JSON
replies, errors as ``{"error": {"description": ...}}``), as in IDQ's timestamp
stream examples: ``start-stream --address <unit> --channel <n> --stream-port <p>``
-> ``{"id": ...}``; it binds a PAIR socket on ``p`` to which this driver connects
(the examples use ``4241 + n``), and streams frames of little-endian uint64
timestamps in time bins; ``status --id`` (``acquisitions_count``), ``stop --id``.

labctl's assumptions (not in the public sources):

- the query forms of settings (``<command>?``) besides those above; the
  replies' number formats (the parsers tolerate any unit suffix);
- ``INPU<n>:DEAD <ps>`` (the input's dead time) and ``HIST<n>:MIN``;
- the counter integration time in ms (IDQ's examples pass a bare number;
  third-party scripts disagree on its unit);
- a stream ends with an empty frame after ``stop --id`` (IDQ's stream client
  stops on an empty frame or a disconnection); the tags of a record are all
  read after it ended (the examples stream them while it runs);
- ``data_link: "+N"`` names a DLT on the unit's host at the unit's port + N
  (the virtual lab's layout); a lab gives ``tcp://host:6060``;
- the limits below that the examples do not state (threshold, delays,
  dead time, integration time).

Keeping only heralded syncs
---------------------------
Feed the sync through a delay block delayed by ``D`` into a window filter's
first input (``FIR``), open the window from a click input with begin/end
delays ``b < e``, pass inside (``ONLYFIR``) and mute outside. A sync at time
``s`` then passes if and only if a click arrived in ``[s + D - e, s + D - b]``.
Link a tag stream (``timetag_link``) to the filter to record only those syncs.
"""

from __future__ import annotations

import json
import logging
import re
import shlex
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, cast

import numpy as np
import zmq
from numpy.typing import NDArray
from qcodes import validators as vals
from qcodes.instrument import ChannelList, Instrument, InstrumentChannel
from qcodes.parameters import Parameter, create_on_off_val_mapping

from labctl.errors import DriverError, LabctlError, TransportError
from labctl.instruments.adapter import Adapter
from labctl.instruments.tagger import Tags
from labctl.timetags.merge import MAX_TIMESTAMP, merge_channels
from labctl.transports.zmq_scpi import ZmqRequester, ZmqScpiClient, check_address
from wire_formats.idq_id1000 import decode_stream, parse_histogram

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
            val_mapping={"ACCUM": "ACCU", "CYCLE": "CYCL"},
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
            get_cmd=f"RAW{n}:STOP:LINK?", set_cmd=f"RAW{n}:STOP:LINK {{}}",
            get_parser=_link_reply, vals=vals.Enum(*parent.link_targets()),
        )
        self.timetag_reference: Parameter = self.add_parameter(
            "timetag_reference", label=f"Reference of tag stream {n}", unit="",
            get_cmd=f"RAW{n}:REF:LINK?", set_cmd=f"RAW{n}:REF:LINK {{}}",
            get_parser=_link_reply, vals=vals.Enum(*parent.link_targets()),
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
        """The bin counts (the unit answers a text list)."""
        command = f"HIST{self.index}:DATA?"
        reply = self.ask(command)
        try:
            return parse_histogram(reply).astype(np.uint64)
        except ValueError as error:
            raise DriverError(self.parent.name, command, str(error)) from None

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



class DataLinkClient:
    """Commands to IDQ's DataLink Target service: JSON replies, errors as `DriverError`."""

    def __init__(self, address: str, name: str, timeout_s: float) -> None:
        self.requester = ZmqRequester(address, f"{name} (DataLink)", timeout_s)
        self.name = name

    def command(self, text: str) -> Any:
        """Send ``text``; the decoded JSON reply (None for an empty one)."""
        reply = self.requester.request(text.encode(), text)
        try:
            answer = json.loads(reply.decode("utf-8")) if reply.strip() else None
        except (UnicodeDecodeError, ValueError):
            raise TransportError(self.requester.name, text,   # garbled: retried
                                 f"reply is not JSON: {reply[:24]!r}") from None
        if isinstance(answer, dict) and answer.get("error"):
            error = answer["error"]
            description = error.get("description") if isinstance(error, dict) else error
            raise DriverError(self.requester.name, text, str(description or "unknown error"))
        return answer


class TimestampStream:
    """One channel's stream from the DLT: a PAIR socket this side connects (the DLT binds)."""

    def __init__(self, channel: int, address: str) -> None:
        self.channel = channel
        self.address = address
        self.acquisition_id: str | None = None
        self.socket: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.PAIR)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.RECONNECT_IVL, 10)
        self.socket.setsockopt(zmq.RCVHWM, 0)
        self.socket.connect(address)

    def read_to_end(self, timeout_s: float, name: str) -> NDArray[np.uint64]:
        """Every timestamp until the empty frame that ends the stream."""
        frames: list[NDArray[np.uint64]] = []
        while True:
            if not self.socket.poll(max(1, round(timeout_s * 1000))):
                raise TransportError(name, f"stream of channel {self.channel}",
                                     f"no end of stream from {self.address} within {timeout_s:g} s")
            frame = self.socket.recv()
            if not frame:
                break
            try:
                times, _ = decode_stream(frame)
            except ValueError as error:   # a garbled frame: a transport fault, retried
                raise TransportError(name, f"stream of channel {self.channel}",
                                     str(error)) from None
            frames.append(times)
        return np.concatenate(frames) if frames else np.zeros(0, dtype=np.uint64)

    def close(self) -> None:
        self.socket.close(linger=0)


def _free_port() -> int:
    """A port free on this host now (for a stream the local DLT binds)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class IDQID1000(Instrument):
    """ID Quantique ID1000 / ID900 time controller: inputs, filters, histograms, time tags."""

    #: Provides `labctl.instruments.TimeTagger` (`labctl.instruments.roles`).
    capability_adapter: ClassVar[type] = ID1000TimeTagger
    #: The model field of the unit's identity this driver drives (the ID1000, and the
    #: ID900, which answers alike);
    #: `labctl station check --contact` names a unit that answers otherwise.
    expected_model: ClassVar[str] = r"ID1000|ID900"

    #: Methods `labctl node serve` lets an orchestrator call (`labctl.remote.allowlist`).
    remote_methods: ClassVar[tuple[str, ...]] = (
        "start_acquisition", "stop_acquisition", "abort", "is_acquiring", "fetch_timetags",
        "link_targets")

    #: Inputs of the standard unit (START input not exposed); a station may say
    #: ``init: {n_inputs: N}`` for a configuration with more (up to `max_inputs`).
    default_inputs: ClassVar[int] = 4
    #: Most inputs labctl addresses.
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
    #: Longest record, ps: the largest timestamp labctl takes from a stream (~106 days;
    #: the unit's own limit is not documented publicly).
    record_duration_range_ps: ClassVar[tuple[int, int]] = (1, MAX_TIMESTAMP)
    #: The DLT of IDQ's examples (on the host, port 6060).
    default_data_link: ClassVar[str] = "tcp://127.0.0.1:6060"
    #: First stream port: channel ``n`` streams to ``stream_port_base + n`` (IDQ's examples).
    default_stream_port_base: ClassVar[int] = 4241
    #: How long the DLT may take to report a channel's tags after a record, s.
    stream_timeout_s: ClassVar[float] = 10.0

    def __init__(self, name: str, address: str, n_inputs: int | None = None,
                 data_link: str | None = None, stream_port_base: int | None = None,
                 timeout: float = 5.0, **kwargs: Any) -> None:
        n_inputs = self.default_inputs if n_inputs is None else n_inputs
        if isinstance(n_inputs, bool) or not isinstance(n_inputs, int) or \
                not 1 <= n_inputs <= self.max_inputs:
            raise ValueError(f"n_inputs must be an integer within 1..{self.max_inputs}, "
                             f"got {n_inputs!r}")
        base = self.default_stream_port_base if stream_port_base is None else stream_port_base
        if isinstance(base, bool) or not isinstance(base, int) or \
                not 0 <= base <= 65535 - self.max_inputs:
            raise ValueError(f"stream_port_base must be 0 (any free port) or a port, "
                             f"got {base!r}")
        self.n_inputs = n_inputs
        self.stream_port_base = base
        self.address = check_address(address, name)
        self.data_link_address = self._data_link_address(address, data_link, name)
        self.unit_host = address.removeprefix("tcp://").rsplit(":", 1)[0]
        self._client = ZmqScpiClient(self.address, name, timeout)
        self._data_link = DataLinkClient(self.data_link_address, name, timeout)
        self._streams: dict[int, TimestampStream] = {}
        super().__init__(name, **kwargs)
        self.timeout: Parameter = self.add_parameter(
            "timeout", label="Reply timeout", unit="s", get_cmd=self._get_timeout,
            set_cmd=self._set_timeout, vals=vals.Numbers(0.01, 600))
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
            get_cmd="REC:DUR?", set_cmd="REC:DUR {:d}", get_parser=_int_reply,
            vals=vals.Ints(*self.record_duration_range_ps),
        )
        self.time_bin_ps: Parameter = self.add_parameter(
            "time_bin_ps", label="Time bin of timestamps and delays", unit="ps",
            get_cmd="DEVI:RES:BWID?", set_cmd=False, get_parser=_int_reply,
            vals=vals.Ints(min_value=1))
        self._time_bin_ps = int(self.time_bin_ps.get())
        self.connect_message()

    @staticmethod
    def _data_link_address(address: str, data_link: str | None, name: str) -> str:
        if data_link is None:
            return IDQID1000.default_data_link
        if isinstance(data_link, str) and re.fullmatch(r"\+\d{1,4}", data_link):
            host, port = address.removeprefix("tcp://").rsplit(":", 1)
            return check_address(f"tcp://{host}:{int(port) + int(data_link)}", name)
        return check_address(data_link, name)

    # --- the transport -------------------------------------------------------------

    def _get_timeout(self) -> float:
        return self._client.timeout_s

    def _set_timeout(self, seconds: float) -> None:
        self._client.timeout_s = self._data_link.requester.timeout_s = float(seconds)
        self._client.reset()
        self._data_link.requester.reset()

    def write_raw(self, cmd: str) -> None:
        """Send a command; its reply (``Value set to ...``) is read and checked for refusal."""
        self._client.query(cmd)

    def ask_raw(self, cmd: str) -> str:
        return self._client.query(cmd)

    def reconnect(self) -> None:
        """Fresh sockets to the unit and its DLT (after a dropped connection)."""
        self._client.reset()
        self._data_link.requester.reset()

    def close(self) -> None:
        self._close_streams()
        self._client.close()
        self._data_link.requester.close()
        super().close()

    # --- blocks ---------------------------------------------------------------------

    def link_targets(self) -> tuple[str, ...]:
        """Block names a filter, histogram or tag stream may be linked to."""
        return ("NONE",
                *(f"INPU{n}" for n in range(1, self.n_inputs + 1)),
                *(f"DELA{n}" for n in range(1, self.n_inputs + 1)),
                *(f"TSCO{n}" for n in range(1, self.n_window_filters + 1)))

    # --- acquisition -----------------------------------------------------------------

    def start_acquisition(self) -> None:
        """Start a record of ``record_duration_ps`` streaming every input's tags.

        IDQ's sequence: the record generator armed by hand (``REC:TRIG:ARM:MODE
        MANU``, ``REC:ENAB ON``, ``REC:STOP``, ``REC:NUM 1``); per channel the stream
        referenced to the record's start, its error count cleared, a DLT stream
        opened and the unit's transfer on (``RAW<n>:SEND ON``); then ``REC:PLAY``.
        """
        log.debug("%s: starting acquisition", self.name)
        self._close_streams()
        for command in ("REC:TRIG:ARM:MODE MANU", "REC:ENAB ON", "REC:STOP", "REC:NUM 1"):
            self.write(command)
        try:
            for tag_input in self.inputs:
                self._open_stream(tag_input.index)
        except BaseException:
            self._close_streams()
            raise
        self.write("REC:PLAY")

    def _open_stream(self, channel: int) -> None:
        port = _free_port() if self.stream_port_base == 0 else self.stream_port_base + channel
        host = self.data_link_address.removeprefix("tcp://").rsplit(":", 1)[0]
        stream = TimestampStream(channel, f"tcp://{host}:{port}")
        self._streams[channel] = stream
        self.write(f"RAW{channel}:REF:LINK NONE")
        self.write(f"RAW{channel}:ERRORS:CLEAR")
        answer = self._data_link.command(
            f"start-stream --address {shlex.quote(self.unit_host)} --channel {channel} "
            f"--stream-port {port}")
        if not isinstance(answer, dict) or "id" not in answer:
            raise DriverError(self.name, "start-stream", f"no acquisition id in {answer!r}")
        stream.acquisition_id = str(answer["id"])
        self.write(f"RAW{channel}:SEND ON")

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
        """The last record's tags, every channel merged: ``(channels, timestamps_ps)``.

        Waits (wall time, at most `stream_timeout_s`) until the DLT has each
        channel's tags, stops the DLT acquisitions, reads each stream to its end,
        turns the unit's transfer off and checks its error count. Empty arrays
        when no record was started since the last fetch.
        """
        if not self._streams:
            return merge_channels({})
        if self.is_acquiring():
            self.stop_acquisition()
        try:
            collected = {channel: self._collect(stream)
                         for channel, stream in self._streams.items()}
        finally:
            self._close_streams()
        channels, times = merge_channels(collected)
        log.debug("%s: fetched %d time tags", self.name, channels.size)
        return channels, times * self._time_bin_ps

    def _collect(self, stream: TimestampStream) -> NDArray[np.uint64]:
        deadline = time.monotonic() + self.stream_timeout_s
        while True:
            status = self._data_link.command(f"status --id {stream.acquisition_id}")
            if not isinstance(status, dict):
                raise DriverError(self.name, "status", f"unexpected DLT status {status!r}")
            if status.get("errors"):
                raise DriverError(self.name, f"stream of channel {stream.channel}",
                                  "; ".join(str(e.get("description", e))
                                            for e in status["errors"]))
            if int(status.get("acquisitions_count", 0)) >= 1:
                break
            if time.monotonic() > deadline:
                raise DriverError(self.name, f"stream of channel {stream.channel}",
                                  f"the DLT had no tags {self.stream_timeout_s:g} s after "
                                  "the record")
            time.sleep(0.01)
        self._data_link.command(f"stop --id {stream.acquisition_id}")
        stream.acquisition_id = None
        times = stream.read_to_end(self.stream_timeout_s, self.name)
        self.write(f"RAW{stream.channel}:SEND OFF")
        errors = _int_reply(self.ask(f"RAW{stream.channel}:ERRORS?"))
        if errors:
            raise DriverError(self.name, f"RAW{stream.channel}:ERRORS?",
                              f"the unit lost tags of channel {stream.channel} ({errors})")
        return times

    def _close_streams(self) -> None:
        """Close this side's stream sockets and stop their DLT acquisitions."""
        streams, self._streams = self._streams, {}
        for stream in streams.values():
            if stream.acquisition_id is not None:
                try:
                    self._data_link.command(f"stop --id {stream.acquisition_id}")
                except DriverError as error:
                    log.warning("%s: %s", self.name, error)
            stream.close()
