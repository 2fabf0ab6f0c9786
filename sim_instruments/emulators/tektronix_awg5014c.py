"""Emulator of the Tektronix AWG5014C arbitrary waveform generator (four channels, markers).

Answers the command subset of ``drivers/tektronix_awg5014c.py`` and of
QCoDeS's own ``TektronixAWG5014`` (through ``drivers/qcodes_awg5014.py``) from
an `AwgState`, so the virtual lab's physics plays exactly what was uploaded:

- waveform list: ``WLISt:WAVeform:NEW <name>,<size>,INTeger`` allocates a
  zero waveform; ``WLISt:WAVeform:DATA <name>[,<start>[,<size>]],<block>``
  writes little-endian ``uint16`` ``INTeger`` words (decoded with
  `wire_formats.tektronix_awg5014`) into it, the query form reads them back
  bit-exactly; ``:LENGth?``, ``:TYPE?``, ``:PREDefined?``, ``:DELete
  {<name>|ALL}``, ``WLISt:SIZE?``, ``WLISt:NAME? <index>`` (0-based);
- deleting a waveform in use stops the AWG, switches the channels that used
  it off and clears those assignments;
- sequencer: ``SEQuence:LENGth`` (grows with empty elements, truncates, 0
  clears), per element waveforms, loops, trigger wait, event jump and goto;
  all waveforms of one element must have the same length (-221);
- event jumps: ``AWGControl:EVENt:JMODe {EJUMp|DJUMp}`` and
  ``AWGControl:EVENt:DJUMp:DEFine <pattern>,<target>`` (pattern 0-15, target
  0 removes the entry) with their queries; in DJUMp mode the virtual lab's
  world reads the pattern each node's random-number generator puts on the
  EVENT IN pins at a herald (`sim_instruments.world`);
- run control: ``AWGControl:RUN`` refuses with -221 and stays stopped when
  nothing is assigned (no channel waveform; an empty sequence or an empty
  element in sequence mode) or the channel waveforms differ in length;
  ``AWGControl:RSTate?`` answers 0 stopped, 1 waiting for a trigger
  (triggered mode, or a sequence whose first element waits for one), 2
  running;
- outputs: amplitude 0.02-4.5 Vpp, offset +-2.25 V, marker high -0.9..2.7 V
  and low -1.0..2.6 V, sample rate 10 MS/s-1.2 GS/s (one clock for all
  channels), each refused with -222 outside its range;
- settings no physics reads, kept as the text the unit answers, so a
  driver's snapshot reads them all (QCoDeS's own ``TektronixAWG5014`` queries
  every one at load): ``TRIGger[:SEQuence]:{SOURce|IMPedance|LEVel|SLOPe}``,
  ``EVENt:{POLarity|IMPedance|LEVel|JTIMing}``, ``AWGControl:CLOCk:SOURce``,
  ``SOURce[n]:ROSCillator:SOURce`` (one reference for all channels),
  ``AWGControl:DC[n]:STATe`` (one state for the four DC outputs) and
  ``AWGControl:DC[n]:VOLTage[:LEVel][:IMMediate]:OFFSet`` (-3..5 V),
  ``AWGControl:DOUTput[n]:STATe``, ``SOURce[n]:COMBine:FEED {"ESIGnal"|""}``,
  ``OUTPut[n]:FILTer[:LPASs]:FREQuency {20 MHz|100 MHz|INFinity}`` (answered
  9.9E+37 for none), ``SOURce[n]:MARKer{1|2}:DELay`` (0..1 ns), and the
  queries ``AWGControl:SEQuencer:POSition?`` (1, or 0 without a sequence: the
  emulator does not follow the sequencer in time) and ``AWGControl:SNAMe?``
  (``""``: no setup saved). The commands and their arguments are the
  AWG5000 command tables' (Tektronix's ``tm_devices`` command set for
  AWG5K/AWG5KC); the presets (trigger and event inputs 50 ohm at 0 V,
  internal clock, reference and trigger, no filter, delays, DC levels 0) are
  those of QCoDeS's own simulation file for this unit, not checked against a
  unit; slopes and polarities are preset positive, the jump timing
  asynchronous, the DC outputs off.

Errors use the standard SCPI codes: -114 for a channel or marker suffix that
does not exist, -222 for values, sizes and element indices out of range, -224
for unknown or malformed waveform names, -221 for conflicting settings.

Not emulated: ``REAL`` waveforms (``NEW ...,REAL`` is refused with -224; the
real unit accepts them), the gated run mode (-224), forcing triggers and
events (``*TRG`` is accepted, ``TRIGger[:SEQuence]:IMMediate``, ``EVENt:IMMediate``;
their input settings are only kept), ``SEQuence:JUMP``, the software-sequencer fallback for
waveforms shorter than 250 points, block transfers of predefined
waveforms (-224). Only a few predefined waveforms exist (``*Sine100``,
``*Square1000`` ...; content computed here, markers low). ``*RST`` restores
the default settings, clears the sequence and keeps the waveform list.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from sim_instruments.emulators.scpi import (
    DATA_OUT_OF_RANGE,
    HEADER_SUFFIX_OUT_OF_RANGE,
    ILLEGAL_PARAMETER_VALUE,
    MISSING_PARAMETER,
    SETTINGS_CONFLICT,
    Call,
    ScpiEmulator,
    ScpiError,
    block,
    block_prefix,
    parse_bool,
    parse_choice,
    parse_number,
    unquote,
)
from sim_instruments.world_state import (
    AwgChannelState,
    AwgState,
    AwgWaveform,
    SequenceElementState,
)
from wire_formats.tektronix_awg5014 import (
    CODE_HALF_RANGE,
    CODE_ZERO,
    MARKER1_BIT,
    MARKER2_BIT,
    decode_waveform,
)

log = logging.getLogger(__name__)

RunMode = Literal["continuous", "triggered", "sequence"]


N_CHANNELS = 4
AMPLITUDE_RANGE_V = (0.02, 4.5)
OFFSET_RANGE_V = (-2.25, 2.25)
MARKER_HIGH_RANGE_V = (-0.9, 2.7)
MARKER_LOW_RANGE_V = (-1.0, 2.6)
SAMPLE_RATE_RANGE_HZ = (10e6, 1.2e9)
MAX_WAVEFORM_POINTS = 16_200_000
MAX_SEQUENCE_LENGTH = 8000
MAX_LOOP_COUNT = 65536
#: Dynamic-jump patterns: the 4-bit pattern on the rear EVENT IN connector.
MAX_JUMP_PATTERN = 15

_USER_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
_RUN_MODES = {"CONTinuous": "continuous", "TRIGgered": "triggered",
              "SEQuence": "sequence", "ENHanced": "sequence"}
_RUN_MODE_VALUES: dict[str, RunMode] = {
    "continuous": "continuous", "triggered": "triggered", "sequence": "sequence"}
_RUN_MODE_REPLY = {"continuous": "CONT", "triggered": "TRIG", "sequence": "SEQ"}
_JUMP_TYPES = {"INDex": "IND", "NEXT": "NEXT", "OFF": "OFF"}
_INT_EXT = {"INTernal": "INT", "EXTernal": "EXT"}
_POLARITY = {"POSitive": "POS", "NEGative": "NEG"}
_JUMP_TIMING = {"SYNChronous": "SYNC", "ASYNchronous": "ASYN"}

#: Trigger and event input impedances, ohm.
INPUT_IMPEDANCES_OHM = (50.0, 1000.0)
#: Trigger and event input thresholds, V.
INPUT_LEVEL_RANGE_V = (-5.0, 5.0)
#: DC output levels, V.
DC_LEVEL_RANGE_V = (-3.0, 5.0)
#: Marker delays, s.
MARKER_DELAY_RANGE_S = (0.0, 1e-9)
#: Low-pass filters of an analog output, Hz (and no filter: INFinity).
FILTER_FREQUENCIES_HZ = (20e6, 100e6)
#: What the unit answers for an infinite value.
INFINITY_REPLY = 9.9e37


def preset_settings() -> dict[str, str]:
    """The settings no physics reads, as answered after ``*RST`` (see the module docstring)."""
    settings = {
        "trigger_source": "INT", "trigger_impedance": _nr3(50.0), "trigger_level": _nr3(0.0),
        "trigger_slope": "POS", "event_polarity": "POS", "event_impedance": _nr3(50.0),
        "event_level": _nr3(0.0), "event_jump_timing": "ASYN", "clock_source": "INT",
        "reference_source": "INT", "dc_state": "0",
    }
    for channel in range(1, N_CHANNELS + 1):
        settings[f"dc_level{channel}"] = _nr3(0.0)
        settings[f"direct_output{channel}"] = "0"
        settings[f"add_input{channel}"] = '""'
        settings[f"filter{channel}"] = _nr3(INFINITY_REPLY)
        for marker in (1, 2):
            settings[f"marker_delay{channel}.{marker}"] = _nr3(0.0)
    return settings


def _quantised(analog: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.rint(analog * CODE_HALF_RANGE) / CODE_HALF_RANGE


def predefined_waveforms() -> dict[str, AwgWaveform]:
    """The predefined waveforms this emulator knows (a subset of the real list)."""
    waveforms: dict[str, AwgWaveform] = {}
    for n in (100, 1000):
        phase = np.arange(n) / n
        shapes = {
            "Sine": np.sin(2 * np.pi * phase),
            "Square": np.where(phase < 0.5, 1.0, -1.0),
            "Ramp": 2 * phase - 1,
            "Triangle": 1 - 4 * np.abs(phase - 0.5),
        }
        low = np.zeros(n, dtype=bool)
        for shape, analog in shapes.items():
            waveforms[f"*{shape}{n}"] = AwgWaveform(_quantised(analog), low.copy(), low.copy())
    return waveforms


def encode_words(waveform: AwgWaveform) -> NDArray[np.uint16]:
    """The ``INTeger`` words of a stored waveform (any code 0..16383 round-trips)."""
    codes = np.clip(np.rint(waveform.analog * CODE_HALF_RANGE + CODE_ZERO), 0, 0x3FFF)
    words = codes.astype(np.uint16)
    words |= np.where(waveform.marker1, MARKER1_BIT, 0).astype(np.uint16)
    words |= np.where(waveform.marker2, MARKER2_BIT, 0).astype(np.uint16)
    return words


def _integer(text: str, low: int, high: int) -> int:
    return round(parse_number(text, low, high))


class TektronixAWG5014CEmulator(ScpiEmulator):
    """The AWG5014C's waveform list, sequencer, run control and outputs on an `AwgState`."""

    identity = "TEKTRONIX,AWG5014C,B010101,SCPI:99.0 FW:4.6.0.7"

    def __init__(self, state: AwgState) -> None:
        super().__init__()
        self.state = state
        # The event-jump index of elements whose jump type is not INDex (the
        # state keeps only the effective target); restored when INDex is chosen.
        self._jump_index: dict[int, int] = {}
        for name, waveform in predefined_waveforms().items():
            state.waveforms.setdefault(name, waveform)
        self._register_waveform_list()
        self._register_sequencer()
        self._register_outputs()
        #: Settings no physics reads, as the text the unit answers (`preset_settings`).
        self.settings = preset_settings()
        self._register_other_settings()
        self.register("AWGControl:RMODe", self._set_run_mode)
        self.register("AWGControl:RMODe?",
                      lambda call: _RUN_MODE_REPLY[self.state.run_mode])
        self.register("AWGControl:RUN[:IMMediate]", self._run)
        self.register("AWGControl:STOP[:IMMediate]", self._stop)
        self.register("AWGControl:RSTate?", self._run_state)
        self.register("AWGControl:EVENt:JMODe", self._set_jump_mode)
        self.register("AWGControl:EVENt:JMODe?", lambda call: self.state.jump_mode[:4])
        self.register("AWGControl:EVENt:DJUMp:DEFine", self._define_dynamic_jump)
        self.register("AWGControl:EVENt:DJUMp:DEFine?", lambda call: str(
            self.state.jump_table.get(_integer(call.text(), 0, MAX_JUMP_PATTERN), 0)))

    def _register_waveform_list(self) -> None:
        self.register("WLISt:WAVeform:NEW", self._new)
        self.register("WLISt:WAVeform:DATA", self._write_data)
        self.register("WLISt:WAVeform:DATA?", self._read_data)
        self.register("WLISt:WAVeform:LENGth?",
                      lambda call: str(self._waveform(call.text()).analog.size))
        self.register("WLISt:WAVeform:TYPE?",
                      lambda call: "REAL" if self._predefined(call.text()) else "INT")
        self.register("WLISt:WAVeform:PREDefined?",
                      lambda call: str(int(self._predefined(call.text()))))
        self.register("WLISt:WAVeform:DELete", self._delete)
        self.register("WLISt:SIZE?", lambda call: str(len(self.state.waveforms)))
        self.register("WLISt:NAME?", self._list_name)

    def _register_sequencer(self) -> None:
        self.register("SEQuence:LENGth", self._set_length)
        self.register("SEQuence:LENGth?", lambda call: str(len(self.state.sequence)))
        self.register("SEQuence:ELEMent<n>:WAVeform<n>", self._set_element_waveform)
        self.register("SEQuence:ELEMent<n>:WAVeform<n>?", self._element_waveform)
        self._element_setting("LOOP:COUNt", "loop_count",
                              lambda text: _integer(text, 1, MAX_LOOP_COUNT), str)
        self._element_setting("LOOP:INFinite", "infinite", parse_bool, _bool_reply)
        self._element_setting("TWAit", "wait_for_trigger", parse_bool, _bool_reply)
        self._element_setting("GOTO:STATe", "goto_enabled", parse_bool, _bool_reply)
        self._element_setting("GOTO:INDex", "goto_index",
                              lambda text: _integer(text, 1, len(self.state.sequence)), str)
        self.register("SEQuence:ELEMent<n>:JTARget:TYPE", self._set_jump_type)
        self.register("SEQuence:ELEMent<n>:JTARget:TYPE?", lambda call: (
            "IND" if self._element(call).jump_target.isdigit()
            else self._element(call).jump_target))
        self.register("SEQuence:ELEMent<n>:JTARget:INDex", self._set_jump_index)
        self.register("SEQuence:ELEMent<n>:JTARget:INDex?",
                      lambda call: str(self._jump_index_of(call)))

    def _register_other_settings(self) -> None:
        def fixed(key: str) -> Callable[[Call], str]:
            return lambda call: key

        def per_channel(key: str) -> Callable[[Call], str]:
            return lambda call: f"{key}{self._channel_index(call.suffix) + 1}"

        def shared(key: str) -> Callable[[Call], str]:
            def checked(call: Call) -> str:
                self._channel_index(call.suffix)
                return key
            return checked

        def choice(choices: dict[str, str]) -> Callable[[str], str]:
            return lambda text: parse_choice(text, choices)

        def number(low: float, high: float) -> Callable[[str], str]:
            return lambda text: _nr3(parse_number(text, low, high))

        def switch(text: str) -> str:
            return str(int(parse_bool(text)))

        for spelling, key, parse in (
                ("TRIGger[:SEQuence]:SOURce", fixed("trigger_source"), choice(_INT_EXT)),
                ("TRIGger[:SEQuence]:IMPedance", fixed("trigger_impedance"), _impedance),
                ("TRIGger[:SEQuence]:LEVel", fixed("trigger_level"),
                 number(*INPUT_LEVEL_RANGE_V)),
                ("TRIGger[:SEQuence]:SLOPe", fixed("trigger_slope"), choice(_POLARITY)),
                ("EVENt:POLarity", fixed("event_polarity"), choice(_POLARITY)),
                ("EVENt:IMPedance", fixed("event_impedance"), _impedance),
                ("EVENt:LEVel", fixed("event_level"), number(*INPUT_LEVEL_RANGE_V)),
                ("EVENt:JTIMing", fixed("event_jump_timing"), choice(_JUMP_TIMING)),
                ("AWGControl:CLOCk:SOURce", fixed("clock_source"), choice(_INT_EXT)),
                ("SOURce<n>:ROSCillator:SOURce", shared("reference_source"), choice(_INT_EXT)),
                ("AWGControl:DC<n>:STATe", shared("dc_state"), switch),
                ("AWGControl:DC<n>:VOLTage[:LEVel][:IMMediate]:OFFSet", per_channel("dc_level"),
                 number(*DC_LEVEL_RANGE_V)),
                ("AWGControl:DOUTput<n>:STATe", per_channel("direct_output"), switch),
                ("SOURce<n>:COMBine:FEED", per_channel("add_input"), _add_input),
                ("OUTPut<n>:FILTer[:LPASs]:FREQuency", per_channel("filter"), _filter),
        ):
            self._other_setting(spelling, key, parse)
        self._other_setting(
            "SOURce<n>:MARKer<n>:DELay",
            lambda call: f"marker_delay{self._channel_index(call.suffix) + 1}."
                         f"{self._marker_index(call) + 1}",
            number(*MARKER_DELAY_RANGE_S))
        self.register("AWGControl:SEQuencer:POSition?",
                      lambda call: "1" if self.state.sequence else "0")
        self.register("AWGControl:SNAMe?", lambda call: '""')

    def _other_setting(self, spelling: str, key: Callable[[Call], str],
                       parse: Callable[[str], str]) -> None:
        def set_value(call: Call) -> None:
            self.settings[key(call)] = parse(call.text())

        self.register(spelling, set_value)
        self.register(f"{spelling}?", lambda call: self.settings[key(call)])

    def _element_setting(self, node: str, attribute: str, parse: Callable[[str], object],
                         reply: Callable[[object], str]) -> None:
        def set_value(call: Call) -> None:
            element = self._element(call)
            setattr(element, attribute, parse(call.text()))

        self.register(f"SEQuence:ELEMent<n>:{node}", set_value)
        self.register(f"SEQuence:ELEMent<n>:{node}?",
                      lambda call: reply(getattr(self._element(call), attribute)))

    def _register_outputs(self) -> None:
        self._channel_level("VOLTage[:LEVel][:IMMediate][:AMPLitude]", "amplitude_vpp",
                            AMPLITUDE_RANGE_V)
        self._channel_level("VOLTage[:LEVel][:IMMediate]:OFFSet", "offset_v", OFFSET_RANGE_V)
        for level, limits in (("HIGH", MARKER_HIGH_RANGE_V), ("LOW", MARKER_LOW_RANGE_V)):
            self.register(f"SOURce<n>:MARKer<n>:VOLTage[:LEVel][:IMMediate]:{level}",
                          self._marker_setter(level, limits))
            self.register(f"SOURce<n>:MARKer<n>:VOLTage[:LEVel][:IMMediate]:{level}?",
                          self._marker_getter(level))
        self.register("OUTPut<n>[:STATe]", self._set_output)
        self.register("OUTPut<n>[:STATe]?",
                      lambda call: str(int(self._channel(call).output)))
        self.register("SOURce<n>:WAVeform", self._set_channel_waveform)
        self.register("SOURce<n>:WAVeform?",
                      lambda call: f'"{self._channel(call).waveform}"')
        self.register("SOURce<n>:FREQuency[:CW]", self._set_sample_rate)
        self.register("SOURce<n>:FREQuency[:CW]?", self._sample_rate)

    def _channel_level(self, spelling: str, attribute: str,
                       limits: tuple[float, float]) -> None:
        def set_level(call: Call) -> None:
            channel = self._channel(call)
            setattr(channel, attribute, parse_number(call.text(), *limits))

        self.register(f"SOURce<n>:{spelling}", set_level)
        self.register(f"SOURce<n>:{spelling}?",
                      lambda call: _nr3(getattr(self._channel(call), attribute)))

    # --- helpers -------------------------------------------------------------

    def _channel_index(self, number: int) -> int:
        if not 1 <= number <= N_CHANNELS:
            raise ScpiError(HEADER_SUFFIX_OUT_OF_RANGE, f"channel {number}")
        return number - 1

    def _channel(self, call: Call) -> AwgChannelState:
        return self.state.channels[self._channel_index(call.suffix)]

    def _marker_index(self, call: Call) -> int:
        marker = call.suffixes[1]
        if marker not in (1, 2):
            raise ScpiError(HEADER_SUFFIX_OUT_OF_RANGE, f"marker {marker}")
        return marker - 1

    def _marker_levels(self, call: Call, level: str) -> list[float]:
        channel = self._channel(call)
        return channel.marker_high_v if level == "HIGH" else channel.marker_low_v

    def _marker_getter(self, level: str) -> Callable[[Call], str]:
        def marker_level(call: Call) -> str:
            return _nr3(self._marker_levels(call, level)[self._marker_index(call)])

        return marker_level

    def _marker_setter(self, level: str,
                       limits: tuple[float, float]) -> Callable[[Call], None]:
        def set_marker(call: Call) -> None:
            levels = self._marker_levels(call, level)
            index = self._marker_index(call)
            levels[index] = parse_number(call.text(), *limits)

        return set_marker

    def _element(self, call: Call) -> SequenceElementState:
        index = call.suffix
        if not 1 <= index <= len(self.state.sequence):
            raise ScpiError(DATA_OUT_OF_RANGE, f"element {index} is not in the sequence "
                                               f"of length {len(self.state.sequence)}")
        return self.state.sequence[index - 1]

    @staticmethod
    def _waveform_name(text: str) -> str:
        return unquote(text)

    def _waveform(self, text: str) -> AwgWaveform:
        name = self._waveform_name(text)
        waveform = self.state.waveforms.get(name)
        if waveform is None:
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"no waveform named {name!r}")
        return waveform

    def _predefined(self, text: str) -> bool:
        self._waveform(text)
        return self._waveform_name(text).startswith("*")

    def _user_waveform(self, text: str) -> tuple[str, AwgWaveform]:
        name = self._waveform_name(text)
        waveform = self._waveform(text)
        if name.startswith("*"):
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"{name!r} is a predefined waveform")
        return name, waveform

    def _assignable(self, text: str) -> str:
        """A waveform name that may be assigned ("" unassigns)."""
        name = self._waveform_name(text)
        if name:
            self._waveform(text)
        return name

    # --- event jumps ------------------------------------------------------------

    def _set_jump_mode(self, call: Call) -> None:
        self.state.jump_mode = "DJUMP" if parse_choice(
            call.text(), {"EJUMp": "EJUMP", "DJUMp": "DJUMP"}) == "DJUMP" else "EJUMP"

    def _define_dynamic_jump(self, call: Call) -> None:
        arguments = call.arguments()
        if len(arguments) != 2:
            raise ScpiError(MISSING_PARAMETER, "expected <pattern>,<target>")
        pattern = _integer(arguments[0], 0, MAX_JUMP_PATTERN)
        target = _integer(arguments[1], 0, MAX_SEQUENCE_LENGTH)
        if target == 0:
            self.state.jump_table.pop(pattern, None)
        else:
            self.state.jump_table[pattern] = target

    # --- waveform list ------------------------------------------------------

    def _new(self, call: Call) -> None:
        arguments = call.arguments()
        if len(arguments) != 3:
            raise ScpiError(MISSING_PARAMETER, "expected <name>,<size>,INTeger")
        name = self._waveform_name(arguments[0])
        if _USER_NAME.fullmatch(name) is None:
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"invalid waveform name {name!r}")
        if name in self.state.waveforms:
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"waveform {name!r} already exists")
        size = _integer(arguments[1], 1, MAX_WAVEFORM_POINTS)
        kind = parse_choice(arguments[2], {"INTeger": "INT", "REAL": "REAL"})
        if kind != "INT":
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, "REAL waveforms are not emulated")
        self.state.waveforms[name] = AwgWaveform(
            np.zeros(size), np.zeros(size, dtype=bool), np.zeros(size, dtype=bool))
        log.debug("new waveform %r of %d points", name, size)

    def _span(self, arguments: list[str], length: int,
              points: int | None) -> tuple[int, int]:
        """(start, size) of a transfer from ``<start>[,<size>]`` arguments."""
        start = _integer(arguments[0], 0, length - 1) if arguments else 0
        if len(arguments) > 1:
            size = _integer(arguments[1], 1, length)
            if points is not None and size != points:
                raise ScpiError(DATA_OUT_OF_RANGE, f"the block holds {points} points, "
                                                   f"the command announces {size}")
        elif points is not None:
            size = points
        else:
            size = length - start
        if len(arguments) > 2:
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, "too many arguments")
        if size < 1 or start + size > length:
            raise ScpiError(DATA_OUT_OF_RANGE, f"points {start}..{start + size - 1} are "
                                               f"beyond the waveform's {length}")
        return start, size

    def _write_data(self, call: Call) -> None:
        payload = call.block()
        arguments = block_prefix(payload)
        if not arguments:
            raise ScpiError(MISSING_PARAMETER, "waveform name")
        name, waveform = self._user_waveform(arguments[0])
        if len(payload) % 2:
            raise ScpiError(DATA_OUT_OF_RANGE, f"block of {len(payload)} bytes is not "
                                               f"whole 2-byte INTeger points")
        words = np.frombuffer(payload, dtype="<u2")
        start, size = self._span(arguments[1:], waveform.analog.size, words.size)
        analog, marker1, marker2 = decode_waveform(words)
        new = AwgWaveform(waveform.analog.copy(), waveform.marker1.copy(),
                          waveform.marker2.copy())
        new.analog[start:start + size] = analog
        new.marker1[start:start + size] = marker1
        new.marker2[start:start + size] = marker2
        self.state.waveforms[name] = new
        log.debug("waveform %r: wrote points %d..%d", name, start, start + size - 1)

    def _read_data(self, call: Call) -> bytes:
        arguments = call.arguments()
        _, waveform = self._user_waveform(arguments[0])
        start, size = self._span(arguments[1:], waveform.analog.size, None)
        words = encode_words(waveform)[start:start + size]
        return block(words.astype("<u2").tobytes())

    def _delete(self, call: Call) -> None:
        text = call.text()
        if text.upper() == "ALL":
            names = [name for name in self.state.waveforms if not name.startswith("*")]
        else:
            names = [self._user_waveform(text)[0]]
        for name in names:
            self._release(name)
            del self.state.waveforms[name]
        log.debug("deleted waveforms %s", names)

    def _release(self, name: str) -> None:
        """Before deleting ``name``: stop and switch off the channels that use it."""
        channels = {index for index, channel in enumerate(self.state.channels)
                    if channel.waveform == name}
        for element in self.state.sequence:
            for index, assigned in enumerate(element.waveforms):
                if assigned == name:
                    element.waveforms[index] = ""
                    channels.add(index)
        if not channels:
            return
        self.state.running = False
        for index in channels:
            channel = self.state.channels[index]
            channel.output = False
            if channel.waveform == name:
                channel.waveform = ""
        log.info("waveform %r was in use: AWG stopped, channel(s) %s off", name,
                 sorted(index + 1 for index in channels))

    def _list_name(self, call: Call) -> str:
        names = list(self.state.waveforms)
        if not names:
            raise ScpiError(DATA_OUT_OF_RANGE, "the waveform list is empty")
        index = _integer(call.text(), 0, len(names) - 1)
        return f'"{names[index]}"'

    # --- sequencer -----------------------------------------------------------

    def _set_length(self, call: Call) -> None:
        length = _integer(call.text(), 0, MAX_SEQUENCE_LENGTH)
        sequence = self.state.sequence
        del sequence[length:]
        sequence.extend(SequenceElementState() for _ in range(length - len(sequence)))
        for index in [index for index in self._jump_index if index > length]:
            del self._jump_index[index]
        if length == 0 and self.state.running and self.state.run_mode == "sequence":
            self.state.running = False
            log.info("sequence cleared while playing: AWG stopped")

    def _set_element_waveform(self, call: Call) -> None:
        element = self._element(call)
        index = self._channel_index(call.suffixes[1])
        name = self._assignable(call.text())
        if name:
            points = self.state.waveforms[name].analog.size
            for other, assigned in enumerate(element.waveforms):
                if other != index and assigned in self.state.waveforms:
                    other_points = self.state.waveforms[assigned].analog.size
                    if other_points != points:
                        raise ScpiError(SETTINGS_CONFLICT, f"{name!r} has {points} points, "
                                        f"channel {other + 1} of this element {other_points}")
        element.waveforms[index] = name

    def _element_waveform(self, call: Call) -> str:
        element = self._element(call)
        return f'"{element.waveforms[self._channel_index(call.suffixes[1])]}"'

    def _set_jump_type(self, call: Call) -> None:
        element = self._element(call)
        kind = parse_choice(call.text(), _JUMP_TYPES)
        if kind == "IND":
            element.jump_target = str(self._jump_index_of(call))
        else:
            if element.jump_target.isdigit():
                self._jump_index[call.suffix] = int(element.jump_target)
            element.jump_target = kind

    def _set_jump_index(self, call: Call) -> None:
        element = self._element(call)
        index = _integer(call.text(), 1, len(self.state.sequence))
        if element.jump_target.isdigit():
            element.jump_target = str(index)
        else:
            self._jump_index[call.suffix] = index

    def _jump_index_of(self, call: Call) -> int:
        element = self._element(call)
        if element.jump_target.isdigit():
            return int(element.jump_target)
        return self._jump_index.get(call.suffix, 1)

    # --- outputs -------------------------------------------------------------

    def _set_output(self, call: Call) -> None:
        self._channel(call).output = parse_bool(call.text())

    def _set_channel_waveform(self, call: Call) -> None:
        channel = self._channel(call)
        channel.waveform = self._assignable(call.text())

    def _set_sample_rate(self, call: Call) -> None:
        self._channel_index(call.suffix)
        self.state.sample_rate = parse_number(call.text(), *SAMPLE_RATE_RANGE_HZ)

    def _sample_rate(self, call: Call) -> str:
        self._channel_index(call.suffix)
        return _nr3(self.state.sample_rate)

    # --- run control ---------------------------------------------------------

    def _set_run_mode(self, call: Call) -> None:
        self.state.run_mode = _RUN_MODE_VALUES[parse_choice(call.text(), _RUN_MODES)]

    def _run(self, call: Call) -> None:
        if self.state.run_mode == "sequence":
            self._check_sequence()
        else:
            self._check_channel_waveforms()
        self.state.running = True
        log.debug("running (%s)", self.state.run_mode)

    def _check_sequence(self) -> None:
        if not self.state.sequence:
            raise ScpiError(SETTINGS_CONFLICT, "the sequence is empty")
        for number, element in enumerate(self.state.sequence, start=1):
            if not any(element.waveforms):
                raise ScpiError(SETTINGS_CONFLICT, f"sequence element {number} has no waveform")

    def _check_channel_waveforms(self) -> None:
        lengths = {self.state.waveforms[channel.waveform].analog.size
                   for channel in self.state.channels if channel.waveform in self.state.waveforms}
        if not lengths:
            raise ScpiError(SETTINGS_CONFLICT, "no waveform is assigned to any channel")
        if len(lengths) > 1:
            raise ScpiError(SETTINGS_CONFLICT, f"the channel waveforms differ in length: "
                                               f"{sorted(lengths)}")

    def _stop(self, call: Call) -> None:
        self.state.running = False

    def _run_state(self, call: Call) -> str:
        state = self.state
        if not state.running:
            return "0"
        if state.run_mode == "triggered" or (
                state.run_mode == "sequence" and state.sequence
                and state.sequence[0].wait_for_trigger):
            return "1"
        return "2"

    def trigger(self) -> None:
        """``*TRG``: accepted (the unit has a trigger input); its effect is not emulated."""

    def reset(self) -> None:
        """``*RST``: default settings, stopped, empty sequence; the waveform list stays."""
        defaults = AwgState()
        for attribute in ("sample_rate", "run_mode", "running", "jump_mode"):
            setattr(self.state, attribute, getattr(defaults, attribute))
        for channel in self.state.channels:
            fresh = AwgChannelState()
            for field in dataclasses.fields(AwgChannelState):
                setattr(channel, field.name, getattr(fresh, field.name))
        self.state.sequence.clear()
        self.state.jump_table.clear()
        self._jump_index.clear()
        self.settings = preset_settings()


def _impedance(text: str) -> str:
    value = parse_number(text)
    if value not in INPUT_IMPEDANCES_OHM:
        raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"{value:g} ohm: the input is 50 ohm or 1 kohm")
    return _nr3(value)


def _filter(text: str) -> str:
    if text.strip().upper() in ("INF", "INFINITY"):
        return _nr3(INFINITY_REPLY)
    value = parse_number(text)
    if value >= INFINITY_REPLY:
        return _nr3(INFINITY_REPLY)
    if value not in FILTER_FREQUENCIES_HZ:
        raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"{value:g} Hz: the filters are 20 MHz, "
                                                 "100 MHz or INFinity")
    return _nr3(value)


def _add_input(text: str) -> str:
    word = unquote(text).upper()
    if word == "":
        return '""'
    if word in ("ESIG", "ESIGNAL"):
        return '"ESIG"'
    raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"{text.strip()!r} not in \"ESIGnal\", \"\"")


def _bool_reply(value: object) -> str:
    return "1" if value else "0"


def _nr3(value: float) -> str:
    return f"{value:.10E}"
