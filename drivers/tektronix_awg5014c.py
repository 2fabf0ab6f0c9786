"""Tektronix AWG5014C arbitrary waveform generator (pulse sequences and markers).

The AWG of a quantum-network node: its analog outputs drive optical
modulators and AOMs, its markers open detection windows and trigger the time
tagger. This driver is the small, validated subset of the AWG5000-series
command set such experiments need: the waveform list, the hardware sequencer,
run control and the per-channel output levels.

Waveform format (``INTeger`` waveforms), defined once in
`wire_formats.tektronix_awg5014` for the driver and for the emulator that
decodes uploaded waveforms: each sample is one
little-endian ``uint16`` whose bits 0-13 are the 14-bit DAC code, bit 14 is
marker 1 and bit 15 is marker 2. The analog value ``a`` in [-1, 1] (fraction
of the half amplitude around the offset) is sent as code
``round(8191 * a + 8191)``: -1 -> 0, 0 -> 8191 (0x1FFF), +1 -> 16382 (0x3FFE).
See ``encode_waveform`` and ``decode_waveform`` there.

Confirmed from Tektronix's own text (the AWG5000/7000 programmer-manual
command tables as Tektronix publishes them in its generated ``tm_devices``
command set for AWG5K/AWG5KC, and the AWG5000/7000 online-help table on
sequencer modes): ``WLISt:WAVeform:NEW <name>,<size>,{REAL|INTeger}``,
``WLISt:WAVeform:DELete {<name>|ALL}`` (deleting a waveform in use stops the
AWG and switches its channel off), ``WLISt:WAVeform:DATA
<name>[,<start>[,<size>]],<block>`` and its query, ``WLISt:WAVeform:LENGth?``;
``SEQuence:LENGth`` (0 clears the table), ``SEQuence:ELEMent[n]:WAVeform[m]``,
``:LOOP:COUNt``, ``:LOOP:INFinite``, ``:TWAit``, ``:GOTO:STATe`` /
``:GOTO:INDex`` (1-based; the index needs the state ON), ``:JTARget:TYPE
{INDex|NEXT|OFF}`` / ``:JTARget:INDex``; ``AWGControl:RMODe``,
``AWGControl:RSTate?``; ``SOURce[n]:VOLTage:LEVel:IMMediate:AMPLitude`` /
``:OFFSet``, ``SOURce[n]:MARKer{1|2}:VOLTage:LEVel:IMMediate:HIGH`` / ``:LOW``,
``SOURce[n]:WAVeform``, ``SOURce[n]:FREQuency:CW`` (the sample rate),
``OUTPut[n]:STATe`` (analog output and its markers), ``SYSTem:ERRor:NEXT?``;
the AWG5000 hardware sequencer's minimum waveform length of 250 points with
1-point granularity (shorter waveforms silently switch to the software
sequencer, which loses trigger waits, event jumps and goto except on the
first/last element).

Event jumps: ``AWGControl:EVENt:JMODe {EJUMp|DJUMp}`` and
``AWGControl:EVENt:DJUMp:DEFine <pattern>,<target>`` (target 0 disables the
pattern) with its query, as the AWG5000/7000 command tables list them; the
4-bit pattern width is from secondary sources.

From secondary sources that cite the manual (the QCoDeS AWG5014 driver and
other published AWG5014 drivers), not seen in Tektronix's text here: the
``INTeger`` bit layout and code scale above, the run-state codes of
``AWGControl:RSTate?`` (0 stopped, 1 waiting for trigger, 2 running), and
``AWGControl:RUN`` / ``AWGControl:STOP`` sent without their optional
``:IMMediate`` node.

Clock, reference and inputs (the AWG5000 command tables, as above):
``AWGControl:CLOCk:SOURce {INTernal|EXTernal}``, ``SOURce1:ROSCillator:SOURce
{INTernal|EXTernal}`` (one 10 MHz-class reference for all channels),
``:ROSCillator:TYPE {FIXed|VARiable}`` and ``:ROSCillator:FREQuency`` (10, 20
or 100 MHz, the ``.awg`` file's REFERENCE_CLOCK_FREQUENCY_SELECTION choices),
``TRIGger[:SEQuence]:{SOURce|LEVel|IMPedance|POLarity|SLOPe}``,
``EVENt:{LEVel|IMPedance|POLarity}`` and ``SOURce[n]:MARKer{1|2}:DELay``;
ranges from the data sheet: thresholds -5..5 V, input impedance 50 ohm or
1 kohm, marker delay 0..1 ns.

labctl's own choices (from the AWG5014C data sheet): amplitude 0.02-4.5 Vpp
and offset +-2.25 V into 50 ohm, marker high -0.9..2.7 V and low
-1.0..2.6 V, sample rate 10 MS/s-1.2 GS/s, 16.2 M points of waveform memory
(standard), 8000 sequence elements, loop count up to 65536; ``*OPC?`` after
uploads and run/stop; the waveform-name rule (ASCII letters, digits,
``_ . -``; a leading ``*`` only to refer to predefined waveforms).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeGuard

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pyvisa.errors import VisaIOError
from qcodes import validators as vals
from qcodes.instrument import ChannelList, InstrumentChannel
from qcodes.parameters import Parameter, create_on_off_val_mapping

from labctl.errors import DriverError, TransportError
from labctl.instruments.adapter import Adapter
from labctl.instruments.sequencer import SequencerLimits, check_sequence
from labctl.pulses.program import JumpTarget, RenderedProgram, SequenceElement
from labctl.visa import ScpiInstrument
from wire_formats.tektronix_awg5014 import decode_waveform, encode_waveform

log = logging.getLogger(__name__)


_UPLOAD_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
_REFERENCE_NAME = re.compile(r"\*?[A-Za-z0-9_][A-Za-z0-9_.\-]*")


def check_waveform_length(n_points: int, min_points: int, max_points: int,
                          granularity: int) -> None:
    """Raise `ValueError` unless ``n_points`` suits the hardware sequencer."""
    if n_points < min_points:
        raise ValueError(f"waveform too short: {n_points} points, the hardware sequencer "
                         f"needs at least {min_points}")
    if n_points > max_points:
        raise ValueError(f"waveform too long: {n_points} points, the memory holds {max_points}")
    if n_points % granularity:
        raise ValueError(f"waveform length {n_points} is not a multiple of the "
                         f"granularity {granularity}")


def check_waveform_name(name: str, allow_predefined: bool = False) -> None:
    """Raise `ValueError` unless ``name`` is a waveform name labctl sends.

    ASCII letters, digits, ``_ . -``; with ``allow_predefined`` a leading
    ``*`` (the instrument's predefined waveforms, e.g. ``*Sine100``).
    """
    pattern = _REFERENCE_NAME if allow_predefined else _UPLOAD_NAME
    if not isinstance(name, str) or pattern.fullmatch(name) is None:
        raise ValueError(f"invalid waveform name {name!r}: use ASCII letters, digits, "
                         f"'_', '.', '-'" + (" (a leading '*' for predefined ones)"
                                            if allow_predefined else ""))


class WaveformName(vals.Validator[str]):
    """QCoDeS validator for waveform names (predefined ``*`` names allowed)."""

    def __init__(self) -> None:
        self._valid_values = ("pulse",)

    def validate(self, value: str, context: str = "") -> None:
        try:
            check_waveform_name(value, allow_predefined=True)
        except ValueError as exc:
            raise ValueError(f"{exc}; {context}") from None

    def __repr__(self) -> str:
        return "<WaveformName>"


# --- the sequence table ------------------------------------------------------

def _is_int(value: object) -> TypeGuard[int | np.integer[Any]]:
    """True for Python and numpy integers, not for booleans."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _upper(reply: str) -> str:
    return reply.strip().upper()


def _unquote(reply: str) -> str:
    text = reply.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


# --- the instrument ----------------------------------------------------------

class AWG5014CChannel(InstrumentChannel):
    """One analog output with its two markers."""

    def __init__(self, parent: TektronixAWG5014C, name: str, channel: int,
                 **kwargs: Any) -> None:
        super().__init__(parent, name, **kwargs)
        self.channel = channel
        source = f"SOUR{channel}"
        self.amplitude: Parameter = self.add_parameter(
            "amplitude",
            label=f"Channel {channel} amplitude (peak-to-peak, 50 ohm)",
            unit="V",
            get_cmd=f"{source}:VOLT:LEV:IMM:AMPL?",
            set_cmd=f"{source}:VOLT:LEV:IMM:AMPL {{:.4f}}",
            get_parser=float,
            vals=vals.Numbers(*parent.amplitude_range_v),
        )
        self.offset: Parameter = self.add_parameter(
            "offset",
            label=f"Channel {channel} offset",
            unit="V",
            get_cmd=f"{source}:VOLT:LEV:IMM:OFFS?",
            set_cmd=f"{source}:VOLT:LEV:IMM:OFFS {{:.4f}}",
            get_parser=float,
            vals=vals.Numbers(*parent.offset_range_v),
        )
        self.output: Parameter = self.add_parameter(
            "output",
            label=f"Channel {channel} output (analog and markers)",
            get_cmd=f"OUTP{channel}:STAT?",
            set_cmd=f"OUTP{channel}:STAT {{}}",
            val_mapping=create_on_off_val_mapping(on_val="1", off_val="0"),
        )
        self.waveform: Parameter = self.add_parameter(
            "waveform",
            label=f"Channel {channel} waveform (run modes other than sequence)",
            get_cmd=f"{source}:WAV?",
            set_cmd=f'{source}:WAV "{{}}"',
            get_parser=_unquote,
            vals=WaveformName(),
        )
        for marker in (1, 2):
            self.add_parameter(
                f"marker{marker}_delay",
                label=f"Channel {channel} marker {marker} delay",
                unit="s",
                get_cmd=f"{source}:MARK{marker}:DEL?",
                set_cmd=f"{source}:MARK{marker}:DEL {{:.4e}}",
                get_parser=float,
                vals=vals.Numbers(*parent.marker_delay_range_s),
            )
            for level, limits in (("high", parent.marker_high_range_v),
                                  ("low", parent.marker_low_range_v)):
                command = f"{source}:MARK{marker}:VOLT:LEV:IMM:{level.upper()}"
                self.add_parameter(
                    f"marker{marker}_{level}",
                    label=f"Channel {channel} marker {marker} {level} level",
                    unit="V",
                    get_cmd=f"{command}?",
                    set_cmd=f"{command} {{:.3f}}",
                    get_parser=float,
                    vals=vals.Numbers(*limits),
                )



class AWG5014CSequencer(Adapter["TektronixAWG5014C"]):
    """The AWG5014C as a `labctl.instruments.PulseSequencer` (its limits: the class data)."""

    def limits(self) -> SequencerLimits:
        return sequencer_limits(type(self.instrument))

    def sample_rate_hz(self) -> float:
        return float(self.instrument.sample_rate())

    def set_amplitude_vpp(self, channel: int, amplitude_vpp: float) -> None:
        self.instrument.channel(channel).amplitude(amplitude_vpp)

    def load_sequence(self, program: RenderedProgram) -> None:
        awg = self.instrument
        awg.stop()
        awg.delete_all_waveforms()
        for name, samples in program.waveforms.items():
            awg.upload_waveform(name, samples.analog, samples.marker1, samples.marker2)
        awg.define_sequence(program.elements)
        if program.dynamic_jumps:
            awg.define_dynamic_jumps(program.dynamic_jumps)
            awg.event_jump_mode("dynamic")
        else:
            awg.event_jump_mode("event")
        for channel in program.channels:
            awg.channel(channel).output(True)
        awg.run_mode("sequence")

    def run(self) -> None:
        self.instrument.run()

    def stop(self) -> None:
        self.instrument.stop()

    def safe_state(self) -> None:
        self.instrument.safe_state()


def sequencer_limits(model: type[TektronixAWG5014C]) -> SequencerLimits:
    """What an AWG5000-series model can play (from its class data)."""
    return SequencerLimits(
        channels=model.n_channels, markers_per_channel=2,
        sample_rate_range_hz=model.sample_rate_range_hz,
        amplitude_range_vpp=model.amplitude_range_v,
        min_waveform_points=model.min_waveform_points,
        max_waveform_points=model.max_waveform_points,
        waveform_granularity=model.waveform_granularity,
        max_sequence_length=model.max_sequence_length, max_loop_count=model.max_loop_count,
        max_jump_pattern=model.max_jump_pattern)


class TektronixAWG5014C(ScpiInstrument):
    """Tektronix AWG5014C: waveform list, hardware sequencer, run control, outputs."""

    #: Provides `labctl.instruments.PulseSequencer` (`labctl.instruments.roles`).
    capability_adapter: ClassVar[type] = AWG5014CSequencer
    #: The model field of the unit's identity this driver drives (an AWG5014 (B or C));
    #: `labctl station check --contact` names a unit that answers otherwise.
    expected_model: ClassVar[str] = r"AWG5014"

    #: Methods `labctl node serve` lets an orchestrator call (`labctl.remote.allowlist`).
    remote_methods: ClassVar[tuple[str, ...]] = (
        "channel", "upload_waveform", "read_waveform", "waveform_length", "delete_waveform",
        "delete_all_waveforms", "define_sequence", "define_dynamic_jumps",
        "dynamic_jump_target", "read_sequence", "run", "stop")

    error_query = "SYST:ERR:NEXT?"

    #: Analog outputs (each with two markers).
    n_channels: ClassVar[int] = 4
    #: Amplitude range into 50 ohm, Vpp.
    amplitude_range_v: ClassVar[tuple[float, float]] = (0.02, 4.5)
    #: Offset range into 50 ohm, V.
    offset_range_v: ClassVar[tuple[float, float]] = (-2.25, 2.25)
    #: Marker high-level range, V.
    marker_high_range_v: ClassVar[tuple[float, float]] = (-0.9, 2.7)
    #: Marker low-level range, V.
    marker_low_range_v: ClassVar[tuple[float, float]] = (-1.0, 2.6)
    #: Sample-rate range, samples per second.
    sample_rate_range_hz: ClassVar[tuple[float, float]] = (10e6, 1.2e9)
    #: Shortest waveform the hardware sequencer plays, points.
    min_waveform_points: ClassVar[int] = 250
    #: Waveform lengths must be multiples of this, points.
    waveform_granularity: ClassVar[int] = 1
    #: Waveform memory (standard instrument), points.
    max_waveform_points: ClassVar[int] = 16_200_000
    #: Sequence-table length.
    max_sequence_length: ClassVar[int] = 8000
    #: Largest finite loop count of a sequence element.
    max_loop_count: ClassVar[int] = 65536
    #: Dynamic-jump patterns 0-15 (four EVENT IN pattern bits; secondary source).
    max_jump_pattern: ClassVar[int] = 15
    #: Marker delay range, s.
    marker_delay_range_s: ClassVar[tuple[float, float]] = (0.0, 1e-9)
    #: TRIGGER IN / EVENT IN threshold range, V.
    input_level_range_v: ClassVar[tuple[float, float]] = (-5.0, 5.0)
    #: TRIGGER IN / EVENT IN impedances, ohm.
    input_impedances_ohm: ClassVar[tuple[float, ...]] = (50.0, 1000.0)
    #: External reference frequencies (fixed type), Hz.
    reference_frequencies_hz: ClassVar[tuple[float, ...]] = (10e6, 20e6, 100e6)

    _RUN_MODES: ClassVar[dict[str, str]] = {
        "continuous": "CONT", "triggered": "TRIG", "sequence": "SEQ",
    }

    def __init__(self, name: str, address: str, **kwargs: Any) -> None:
        super().__init__(name, address, **kwargs)
        self.sample_rate: Parameter = self.add_parameter(
            "sample_rate",
            label="Sample rate",
            unit="Hz",
            get_cmd="SOUR1:FREQ:CW?",
            set_cmd="SOUR1:FREQ:CW {:.7e}",
            get_parser=float,
            vals=vals.Numbers(*self.sample_rate_range_hz),
        )
        self.run_mode: Parameter = self.add_parameter(
            "run_mode",
            label="Run mode",
            get_cmd="AWGC:RMOD?",
            set_cmd="AWGC:RMOD {}",
            get_parser=lambda reply: reply.strip().upper(),
            val_mapping=self._RUN_MODES,
        )
        self.run_state: Parameter = self.add_parameter(
            "run_state",
            label="Run state",
            get_cmd="AWGC:RST?",
            set_cmd=False,
            get_parser=int,
            val_mapping={"stopped": 0, "waiting_for_trigger": 1, "running": 2},
        )
        self.sequence_length: Parameter = self.add_parameter(
            "sequence_length",
            label="Sequence length",
            get_cmd="SEQ:LENG?",
            set_cmd="SEQ:LENG {:d}",
            get_parser=int,
            vals=vals.Ints(0, self.max_sequence_length),
        )
        self.event_jump_mode: Parameter = self.add_parameter(
            "event_jump_mode",
            label="Event jump mode",
            get_cmd="AWGC:EVEN:JMOD?",
            set_cmd="AWGC:EVEN:JMOD {}",
            get_parser=lambda reply: reply.strip().upper()[:4],
            val_mapping={"event": "EJUM", "dynamic": "DJUM"},
        )
        self._add_clock_and_inputs()
        channels = ChannelList(self, "channels", AWG5014CChannel)
        for number in range(1, self.n_channels + 1):
            channel = AWG5014CChannel(self, f"ch{number}", number)
            channels.append(channel)
            self.add_submodule(f"ch{number}", channel)
        self._channels: tuple[AWG5014CChannel, ...] = tuple(channels)
        self.add_submodule("channels", channels.to_channel_tuple())

    def _add_clock_and_inputs(self) -> None:
        """Clock and 10 MHz reference, TRIGGER IN and EVENT IN thresholds (a two-node link)."""
        source = {"internal": "INT", "external": "EXT"}
        polarity = {"positive": "POS", "negative": "NEG"}
        self.add_parameter("clock_source", label="Sample clock source",
                           get_cmd="AWGC:CLOC:SOUR?", set_cmd="AWGC:CLOC:SOUR {}",
                           get_parser=_upper, val_mapping=source)
        self.add_parameter("reference_source", label="Reference oscillator source",
                           get_cmd="SOUR1:ROSC:SOUR?", set_cmd="SOUR1:ROSC:SOUR {}",
                           get_parser=_upper, val_mapping=source)
        self.add_parameter("reference_type", label="External reference type",
                           get_cmd="SOUR1:ROSC:TYPE?", set_cmd="SOUR1:ROSC:TYPE {}",
                           get_parser=_upper, val_mapping={"fixed": "FIX", "variable": "VAR"})
        self.add_parameter("reference_frequency", label="External reference frequency",
                           unit="Hz", get_cmd="SOUR1:ROSC:FREQ?", set_cmd="SOUR1:ROSC:FREQ {:.6e}",
                           get_parser=float, vals=vals.Enum(*self.reference_frequencies_hz))
        for node, what in (("TRIG", "trigger"), ("EVEN", "event")):
            self.add_parameter(f"{what}_level", label=f"{what.capitalize()} input threshold",
                               unit="V", get_cmd=f"{node}:LEV?", set_cmd=f"{node}:LEV {{:.3f}}",
                               get_parser=float, vals=vals.Numbers(*self.input_level_range_v))
            self.add_parameter(f"{what}_impedance", label=f"{what.capitalize()} input impedance",
                               unit="ohm", get_cmd=f"{node}:IMP?", set_cmd=f"{node}:IMP {{:g}}",
                               get_parser=float, vals=vals.Enum(*self.input_impedances_ohm))
            self.add_parameter(f"{what}_polarity", label=f"{what.capitalize()} input polarity",
                               get_cmd=f"{node}:POL?", set_cmd=f"{node}:POL {{}}",
                               get_parser=_upper, val_mapping=polarity)
        self.add_parameter("trigger_slope", label="Trigger input slope",
                           get_cmd="TRIG:SLOP?", set_cmd="TRIG:SLOP {}", get_parser=_upper,
                           val_mapping=polarity)
        self.add_parameter("trigger_source", label="Trigger source",
                           get_cmd="TRIG:SOUR?", set_cmd="TRIG:SOUR {}", get_parser=_upper,
                           val_mapping=source)

    def channel(self, number: int) -> AWG5014CChannel:
        """Return output ``number`` (1-based)."""
        if not 1 <= number <= self.n_channels:
            raise ValueError(f"channel must be 1 .. {self.n_channels}, got {number}")
        return self._channels[number - 1]

    # waveform list

    def upload_waveform(self, name: str, analog: ArrayLike, marker1: ArrayLike | None = None,
                        marker2: ArrayLike | None = None) -> None:
        """Create waveform ``name`` in the waveform list and send its samples.

        ``analog`` in [-1, 1], markers boolean (default all low). Everything is
        validated before a byte is sent. The name must not exist yet: the
        instrument does not overwrite (see `delete_waveform`).
        """
        check_waveform_name(name)
        samples = np.asarray(analog)
        n_points = samples.shape[0] if samples.ndim == 1 else 0
        low = np.zeros(n_points, dtype=bool)
        words = encode_waveform(samples, low if marker1 is None else marker1,
                                low if marker2 is None else marker2)
        check_waveform_length(words.size, self.min_waveform_points, self.max_waveform_points,
                              self.waveform_granularity)
        self.write(f'WLIS:WAV:NEW "{name}",{words.size},INT')
        self.write_block(f'WLIS:WAV:DATA "{name}",0,{words.size},', words, datatype="H")
        self.ask("*OPC?")
        log.info("%s: uploaded waveform %r (%d points)", self.name, name, words.size)

    def read_waveform(self, name: str) -> tuple[NDArray[np.float64], NDArray[np.bool_],
                                                  NDArray[np.bool_]]:
        """Read ``INTeger`` waveform ``name`` back as (analog, marker1, marker2)."""
        check_waveform_name(name)
        words = self.query_block(f'WLIS:WAV:DATA? "{name}"', datatype="H")
        return decode_waveform(np.asarray(words, dtype=np.uint16))

    def waveform_length(self, name: str) -> int:
        """Length of waveform ``name`` in the waveform list, points."""
        check_waveform_name(name, allow_predefined=True)
        return int(self.ask(f'WLIS:WAV:LENG? "{name}"'))

    def delete_waveform(self, name: str) -> None:
        """Delete user waveform ``name`` (stops the AWG and its channel if in use)."""
        check_waveform_name(name)
        self.write(f'WLIS:WAV:DEL "{name}"')

    def delete_all_waveforms(self) -> None:
        """Delete every user-defined waveform (predefined ones stay)."""
        self.write("WLIS:WAV:DEL ALL")

    # sequencer

    def define_sequence(self, elements: Sequence[SequenceElement]) -> None:
        """Replace the sequence table by ``elements`` (element 1 first).

        All elements are checked against this model's limits before anything
        is sent. Select ``run_mode("sequence")`` to play it.
        """
        count = len(elements)
        check_sequence(elements, sequencer_limits(type(self)))
        for element in elements:
            for name in element.waveforms:
                if name is not None:
                    check_waveform_name(name, allow_predefined=True)
        self.sequence_length.set(0)
        self.sequence_length.set(count)
        for index, element in enumerate(elements, start=1):
            self._write_element(index, element)
        log.info("%s: defined a sequence of %d elements", self.name, count)

    def define_dynamic_jumps(self, table: Mapping[int, int]) -> None:
        """Jump table of dynamic-jump mode: event pattern -> element (1-based).

        Patterns 0-15 not in ``table`` are cleared (target 0). All entries are
        checked before anything is sent; the targets must exist in the
        sequence defined now. Select ``event_jump_mode("dynamic")`` to use it.
        """
        length = self.sequence_length.get()
        for pattern, target in table.items():
            if not (_is_int(pattern) and 0 <= pattern <= self.max_jump_pattern):
                raise ValueError(f"dynamic-jump pattern must be within 0..{self.max_jump_pattern}"
                                 f", got {pattern!r}")
            if not (_is_int(target) and 1 <= target <= length):
                raise ValueError(f"dynamic-jump target for pattern {pattern} must be an element "
                                 f"1..{length}, got {target!r}")
        for pattern in range(self.max_jump_pattern + 1):
            self.write(f"AWGC:EVEN:DJUM:DEF {pattern},{int(table.get(pattern, 0))}")

    def dynamic_jump_target(self, pattern: int) -> int:
        """The element pattern ``pattern`` jumps to in dynamic-jump mode (0: none)."""
        if not (_is_int(pattern) and 0 <= pattern <= self.max_jump_pattern):
            raise ValueError(f"dynamic-jump pattern must be within 0..{self.max_jump_pattern}, "
                             f"got {pattern!r}")
        return int(self.ask(f"AWGC:EVEN:DJUM:DEF? {int(pattern)}"))

    def read_sequence(self) -> list[SequenceElement]:
        """Read the sequence table back from the instrument."""
        return [self._read_element(index)
                for index in range(1, self.sequence_length.get() + 1)]

    def _write_element(self, index: int, element: SequenceElement) -> None:
        prefix = f"SEQ:ELEM{index}"
        for channel, name in enumerate(element.waveforms, start=1):
            if name is not None:
                self.write(f'{prefix}:WAV{channel} "{name}"')
        self.write(f"{prefix}:LOOP:INF {int(element.infinite)}")
        self.write(f"{prefix}:LOOP:COUN {element.loop_count}")
        self.write(f"{prefix}:TWA {int(element.wait_for_trigger)}")
        if element.event_jump is None:
            self.write(f"{prefix}:JTAR:TYPE OFF")
        elif element.event_jump == "next":
            self.write(f"{prefix}:JTAR:TYPE NEXT")
        else:
            self.write(f"{prefix}:JTAR:TYPE IND")
            self.write(f"{prefix}:JTAR:IND {element.event_jump}")
        if element.goto is None:
            self.write(f"{prefix}:GOTO:STAT 0")
        else:
            self.write(f"{prefix}:GOTO:STAT 1")
            self.write(f"{prefix}:GOTO:IND {element.goto}")

    def _read_element(self, index: int) -> SequenceElement:
        prefix = f"SEQ:ELEM{index}"
        names = tuple(_unquote(self.ask(f"{prefix}:WAV{channel}?")) or None
                      for channel in range(1, self.n_channels + 1))
        jump_query = f"{prefix}:JTAR:TYPE?"
        jump_type = self.ask(jump_query).strip().upper()
        event_jump: JumpTarget | None
        if jump_type.startswith("IND"):
            event_jump = int(self.ask(f"{prefix}:JTAR:IND?"))
        elif jump_type == "NEXT":
            event_jump = "next"
        elif jump_type == "OFF":
            event_jump = None
        else:
            raise DriverError(self.name, jump_query, f"unexpected reply {jump_type!r}")
        goto = (int(self.ask(f"{prefix}:GOTO:IND?"))
                if self._ask_bool(f"{prefix}:GOTO:STAT?") else None)
        return SequenceElement(
            waveforms=names,
            loop_count=int(self.ask(f"{prefix}:LOOP:COUN?")),
            infinite=self._ask_bool(f"{prefix}:LOOP:INF?"),
            wait_for_trigger=self._ask_bool(f"{prefix}:TWA?"),
            event_jump=event_jump,
            goto=goto,
        )

    def _ask_bool(self, query: str) -> bool:
        reply = self.ask(query).strip().upper()
        if reply in ("1", "ON"):
            return True
        if reply in ("0", "OFF"):
            return False
        raise DriverError(self.name, query, f"unexpected reply {reply!r}")

    # run control

    def run(self) -> None:
        """Start output of the waveforms or the sequence (per ``run_mode``)."""
        self.write("AWGC:RUN")
        self.ask("*OPC?")
        log.info("%s: running", self.name)

    def stop(self) -> None:
        """Stop output of the waveforms or the sequence."""
        self.write("AWGC:STOP")
        self.ask("*OPC?")
        log.info("%s: stopped", self.name)

    def safe_state(self) -> None:
        """Turn every output off and stop the AWG (it drives modulators and AOMs).

        Every step is attempted even if the unit refuses an earlier one; the first
        failure is raised at the end. A step that cannot reach the unit (a VISA
        I/O error) ends the attempt at once: no later step would get through on
        that connection, and the caller reconnects and tries again.
        """
        failures: list[DriverError] = []
        steps: list[tuple[str, Callable[[], None]]] = [
            (f"turn {channel.short_name} off", functools.partial(channel.output.set, False))
            for channel in self._channels]
        for what, step in [*steps, ("stop", self.stop)]:
            try:
                step()
            except (VisaIOError, TransportError) as exc:
                log.error("%s: could not %s: %s", self.name, what, exc)
                raise
            except DriverError as exc:
                log.error("%s: could not %s: %s", self.name, what, exc)
                failures.append(exc)
        if failures:
            raise failures[0]
        log.info("%s: safe state (outputs off, stopped)", self.name)
