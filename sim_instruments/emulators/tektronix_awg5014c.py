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

What QuTech QMI's hardware-tested ``Tektronix_Awg5014`` driver also sends: the
``SOURce[n]`` node left out (``ROSC:SOUR``, ``SOUR:FREQ:FIX``, ``COMB:FEED``),
``TRIGger[:SEQuence]:WVALue {FIRSt|LAST}`` (preset ``FIRS``),
``AWGControl:ENHanced:SEQuence[:JMODe] {LOGic|TABle|SOFTware}`` (preset
``LOG``), ``SOURce[n]:FUNCtion:USER ""`` (clears the channel's waveform;
loading a waveform file by name is refused, not emulated) and voltages with
their unit (``0.7V``). The two presets were not checked against a unit.

Errors use the standard SCPI codes: -114 for a channel or marker suffix that
does not exist, -222 for values, sizes and element indices out of range, -224
for unknown or malformed waveform names, -221 for conflicting settings.

Also emulated (the AWG5000 command tables, Tektronix ``tm_devices`` AWG5K
command set; AWG5000 online help "AWG file format" for the file):

- the parser takes any truncation between a keyword's short and long form
  (``AWGControl:SEQuence:TYPE?``, ``EVENt:JTIMing ASYNC``), as QCoDeS's
  hardware-tested driver relies on; Tektronix's text seen here does not say so;
- ``TRIGger[:SEQuence]:POLarity``, ``SOURce[n]:ROSCillator:TYPE {FIXed|VARiable}``
  and ``:FREQuency`` (10, 20, 100 MHz), ``*TRG`` / ``TRIGger[:SEQuence][:IMMediate]``
  (counted; a running sequence waiting at its first element then runs),
  ``EVENt[:IMMediate]`` (counted), ``SEQuence:JUMP[:IMMediate] <n>`` (answered by
  ``AWGControl:SEQuencer:POSition?``), ``AWGControl:SEQuencer:TYPE?`` (``SOFT``
  when a sequence waveform is under 250 points, else ``HARD``);
- the disk: ``MMEMory:MSIS``, ``:CDIRectory`` (after power-on
  ``"\\Users\\OEM\\Documents"`` on ``C:``, as QCoDeS's simulation file has it;
  answered quoted, without drive), ``:MDIRectory``, ``:CATalog?``
  (``<used>,<free>,"<name>,DIR,0",...,"<file>,,<size>"``; the layout of an entry
  is labctl's assumption), ``:DATA <file>,<block>`` and its query, ``:DELete``;
  a missing file or directory is ``-256``, an invalid or existing name ``-257``;
- ``AWGControl:SREStore <file>[,<msus>]`` decodes an ``.awg`` file
  (`wire_formats.tektronix_awg5014.decode_awg_file`) into the waveform list,
  the sequence (wait, loop 0 = infinite, jump 0 off / -1 next / n, goto),
  the channels (waveform, state, amplitude, offset, marker levels and
  skews, filter, direct output, add input, DC level) and the head records
  (sample rate, clock/reference/trigger/event settings, run mode, run state,
  event jump mode); what the file does not set returns to its default, a
  file that fails to decode (``-200``) or holds a refused value changes
  nothing. ``AWGControl:SNAMe?`` then answers ``"<path>","<drive>"``. The
  record codes are those QCoDeS's writer and parser use (not checked
  against Tektronix's text here); ``TABLE_JUMP_DEFINITION`` is not decoded.

Not emulated: ``REAL`` waveforms by ``WLISt`` (``NEW ...,REAL`` is refused with
-224; the real unit accepts them; a setup file's REAL waveforms load), the gated
run mode (-224), ``AWGControl:SSAVe``, the software-sequencer fallback for
waveforms shorter than 250 points, block transfers of predefined
waveforms (-224); deleting a waveform name not in the list is refused with
-224 (labctl's reading, not confirmed on a unit). Only a few predefined
waveforms exist (``*Sine100``, ``*Square1000`` ...; content computed here,
markers low). ``*RST`` restores the default settings, clears the sequence and
keeps the waveform list and the disk.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import re
from collections.abc import Callable
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from sim_instruments.emulators.scpi import (
    DATA_OUT_OF_RANGE,
    EXECUTION_ERROR,
    FILE_NAME_ERROR,
    FILE_NAME_NOT_FOUND,
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
    AwgFile,
    AwgFileElement,
    RecordValue,
    decode_awg_file,
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
_REFERENCE_TYPE = {"FIXed": "FIX", "VARiable": "VAR"}
#: External 10 MHz-class reference frequencies (fixed type), Hz.
REFERENCE_FREQUENCIES_HZ = (10e6, 20e6, 100e6)
#: Hardware-sequencer minimum waveform length; shorter ones need the software sequencer.
HARDWARE_SEQUENCER_MIN_POINTS = 250
#: The directory ``MMEMory:CDIRectory?`` names after power-on, on drive ``C:``.
DEFAULT_DIRECTORY = "\\Users\\OEM\\Documents"
#: What ``MMEMory:CATalog?`` reports free on the emulated disk, bytes.
DISK_FREE_BYTES = 100_000_000_000

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


def _with_optional_source(spelling: str) -> tuple[str, ...]:
    """A header and, for one in the ``[SOURce[n]]`` subsystem, its form without the node."""
    prefix = "SOURce<n>:"
    return (spelling, spelling[len(prefix):]) if spelling.startswith(prefix) else (spelling,)


def _without_unit(text: str) -> str:
    """A voltage or time argument without its unit suffix (``0.7V``, ``1ns`` as 1e-9)."""
    stripped = text.strip()
    for unit, scale in (("NS", "e-9"), ("US", "e-6"), ("MS", "e-3"), ("V", ""), ("S", "")):
        if stripped.upper().endswith(unit) and stripped[:-len(unit)].strip():
            return stripped[:-len(unit)].strip() + scale
    return stripped


def _nr3(value: float) -> str:
    return f"{value:.10E}"


def preset_settings() -> dict[str, str]:
    """The settings no physics reads, as answered after ``*RST`` (see the module docstring)."""
    settings = {
        "trigger_source": "INT", "trigger_impedance": _nr3(50.0), "trigger_level": _nr3(0.0),
        "trigger_slope": "POS", "event_polarity": "POS", "event_impedance": _nr3(50.0),
        "event_level": _nr3(0.0), "event_jump_timing": "ASYN", "clock_source": "INT",
        "reference_source": "INT", "reference_type": "FIX",
        "reference_frequency": _nr3(10e6), "trigger_polarity": "POS", "dc_state": "0",
        "sequence_jump_mode": "LOG", "wait_value": "FIRS",
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


class MassMemory:
    """The unit's disk as the ``MMEMory`` commands see it: directories and files in memory.

    Paths are Windows paths, case-insensitive: ``X:`` selects a drive,
    a leading ``\\`` is absolute, anything else is relative to the current
    directory; ``.`` and ``..`` are followed (``..`` of the root is the root).
    """

    def __init__(self) -> None:
        self.drive = "C:"
        self.directory: tuple[str, ...] = tuple(DEFAULT_DIRECTORY.strip("\\").split("\\"))
        #: (drive, lower-case parts) -> the parts as created.
        self.directories: dict[tuple[str, tuple[str, ...]], tuple[str, ...]] = {}
        self.files: dict[tuple[str, tuple[str, ...]], tuple[tuple[str, ...], bytes]] = {}
        for depth in range(len(self.directory) + 1):
            self.directories[self._key(self.drive, self.directory[:depth])] = \
                self.directory[:depth]

    @staticmethod
    def _key(drive: str, parts: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
        return drive.upper(), tuple(part.lower() for part in parts)

    def resolve(self, text: str, msus: str | None = None) -> tuple[str, tuple[str, ...]]:
        """(drive, parts) of a quoted path argument."""
        path = unquote(text)
        drive = unquote(msus).upper() if msus else self.drive
        match = re.fullmatch(r"([A-Za-z]):(.*)", path)
        if match is not None:
            drive, path = match.group(1).upper() + ":", match.group(2)
        if not re.fullmatch(r"[A-Z]:", drive):
            raise ScpiError(FILE_NAME_ERROR, f"{drive!r} is not a drive")
        relative = not path.startswith(("\\", "/")) and match is None
        parts = list(self.directory) if relative else []
        for part in re.split(r"[\\/]+", path):
            if part in ("", "."):
                continue
            if part == "..":
                if parts:
                    parts.pop()
                continue
            if re.search(r'[<>:"|?*]', part):
                raise ScpiError(FILE_NAME_ERROR, f"{part!r} is not a valid file name")
            parts.append(part)
        return drive, tuple(parts)

    def is_directory(self, drive: str, parts: tuple[str, ...]) -> bool:
        return self._key(drive, parts) in self.directories

    def change_directory(self, text: str) -> None:
        drive, parts = self.resolve(text)
        if not self.is_directory(drive, parts):
            raise ScpiError(FILE_NAME_NOT_FOUND, f"no directory {_display(parts)!r} on {drive}")
        self.drive, self.directory = drive, self.directories[self._key(drive, parts)]

    def make_directory(self, text: str) -> None:
        drive, parts = self.resolve(text)
        key = self._key(drive, parts)
        if not parts or key in self.directories or key in self.files:
            raise ScpiError(FILE_NAME_ERROR, f"{_display(parts)!r} exists")
        if not self.is_directory(drive, parts[:-1]):
            raise ScpiError(FILE_NAME_NOT_FOUND, f"no directory {_display(parts[:-1])!r}")
        self.directories[key] = parts

    def write(self, text: str, data: bytes) -> None:
        drive, parts = self.resolve(text)
        key = self._key(drive, parts)
        if not parts or key in self.directories:
            raise ScpiError(FILE_NAME_ERROR, f"{_display(parts)!r} is a directory")
        if not self.is_directory(drive, parts[:-1]):
            raise ScpiError(FILE_NAME_NOT_FOUND, f"no directory {_display(parts[:-1])!r}")
        self.files[key] = (parts, bytes(data))

    def read(self, text: str, msus: str | None = None) -> tuple[str, tuple[str, ...], bytes]:
        """(drive, parts as stored, contents) of a file; -256 if there is none."""
        drive, parts = self.resolve(text, msus)
        found = self.files.get(self._key(drive, parts))
        if found is None:
            raise ScpiError(FILE_NAME_NOT_FOUND, f"no file {_display(parts)!r} on {drive}")
        return drive, found[0], found[1]

    def delete(self, text: str, msus: str | None = None) -> None:
        drive, parts = self.resolve(text, msus)
        key = self._key(drive, parts)
        if key in self.files:
            del self.files[key]
            return
        if key not in self.directories or not parts:
            raise ScpiError(FILE_NAME_NOT_FOUND, f"no file {_display(parts)!r} on {drive}")
        if any(other[0] == key[0] and other[1][:-1] == key[1]
               for other in (*self.directories, *self.files)):
            raise ScpiError(EXECUTION_ERROR, f"directory {_display(parts)!r} is not empty")
        del self.directories[key]

    def catalog(self, msus: str | None = None) -> str:
        """``<used>,<free>{,"<name>,<DIR or empty>,<size>"}`` of the current directory."""
        drive = unquote(msus).upper() if msus else self.drive
        here = self._key(drive, self.directory if drive == self.drive else ())
        entries = [f'"{parts[-1]},DIR,0"' for key, parts in self.directories.items()
                   if key[0] == here[0] and key[1][:-1] == here[1] and parts]
        used = 0
        for key, (parts, data) in self.files.items():
            if key[0] == here[0] and key[1][:-1] == here[1]:
                entries.append(f'"{parts[-1]},,{len(data)}"')
            if key[0] == here[0]:
                used += len(data)
        return ",".join([str(used), str(DISK_FREE_BYTES), *entries])


def _display(parts: tuple[str, ...]) -> str:
    return "\\" + "\\".join(parts)


class TektronixAWG5014CEmulator(ScpiEmulator):
    """The AWG5014C's waveform list, sequencer, run control and outputs on an `AwgState`."""

    identity = "TEKTRONIX,AWG5014C,B010101,SCPI:99.0 FW:4.6.0.7"
    partial_keywords = True

    def __init__(self, state: AwgState) -> None:
        super().__init__()
        self.state = state
        #: The element ``SEQuence:JUMP`` forced the sequencer to (1 after ``AWGControl:RUN``).
        self._jump_position = 1
        #: Has a trigger released a sequence waiting at its first element since the last run?
        self._triggered = False
        #: Triggers (``*TRG``, ``TRIGger:IMMediate``) and events (``EVENt:IMMediate``) forced.
        self.forced_triggers = 0
        self.forced_events = 0
        #: The unit's disk, and the setup file last restored (path, drive).
        self.disk = MassMemory()
        self._setup_name: tuple[str, str] | None = None
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
        self._register_mass_memory()

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
            return lambda text: parse_choice(text, choices, partial=True)

        def number(low: float, high: float) -> Callable[[str], str]:
            return lambda text: _nr3(parse_number(_without_unit(text), low, high))

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
                ("SOURce<n>:ROSCillator:TYPE", shared("reference_type"), choice(_REFERENCE_TYPE)),
                ("SOURce<n>:ROSCillator:FREQuency", shared("reference_frequency"),
                 _reference_frequency),
                ("TRIGger[:SEQuence]:POLarity", fixed("trigger_polarity"), choice(_POLARITY)),
                ("TRIGger[:SEQuence]:WVALue", fixed("wait_value"),
                 choice({"FIRSt": "FIRS", "LAST": "LAST"})),
                ("AWGControl:ENHanced:SEQuence[:JMODe]", fixed("sequence_jump_mode"),
                 choice({"LOGic": "LOG", "TABle": "TABL", "SOFTware": "SOFT"})),
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
                      lambda call: str(self._position()))
        self.register("AWGControl:SEQuencer:TYPE?", lambda call: self._sequencer_type())
        self.register("SEQuence:JUMP[:IMMediate]", self._force_jump)
        self.register("TRIGger[:SEQuence][:IMMediate]", lambda call: self.trigger())
        self.register("EVENt[:IMMediate]", lambda call: self._force_event())

    def _other_setting(self, spelling: str, key: Callable[[Call], str],
                       parse: Callable[[str], str]) -> None:
        def set_value(call: Call) -> None:
            self.settings[key(call)] = parse(call.text())

        for header in _with_optional_source(spelling):
            self.register(header, set_value)
            self.register(f"{header}?", lambda call: self.settings[key(call)])

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
        for spelling in _with_optional_source("SOURce<n>:FUNCtion:USER"):
            self.register(spelling, self._load_channel_file)
        self.register("SOURce<n>:WAVeform?",
                      lambda call: f'"{self._channel(call).waveform}"')
        for header in ("FREQuency[:CW]", "FREQuency:FIXed"):
            for spelling in _with_optional_source(f"SOURce<n>:{header}"):
                self.register(spelling, self._set_sample_rate)
                self.register(f"{spelling}?", self._sample_rate)

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
            call.text(), {"EJUMp": "EJUMP", "DJUMp": "DJUMP"}, partial=True) == "DJUMP" \
            else "EJUMP"

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
        kind = parse_choice(arguments[2], {"INTeger": "INT", "REAL": "REAL"}, partial=True)
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
        kind = parse_choice(call.text(), _JUMP_TYPES, partial=True)
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

    def _load_channel_file(self, call: Call) -> None:
        """``SOURce[n]:FUNCtion:USER <file>``: ``""`` clears the channel's waveform."""
        channel = self._channel(call)
        if unquote(call.text()):
            raise ScpiError(EXECUTION_ERROR, "loading a waveform file is not emulated")
        channel.waveform = ""

    def _set_sample_rate(self, call: Call) -> None:
        self._channel_index(call.suffix)
        self.state.sample_rate = parse_number(call.text(), *SAMPLE_RATE_RANGE_HZ)

    def _sample_rate(self, call: Call) -> str:
        self._channel_index(call.suffix)
        return _nr3(self.state.sample_rate)

    # --- run control ---------------------------------------------------------

    def _set_run_mode(self, call: Call) -> None:
        self.state.run_mode = _RUN_MODE_VALUES[parse_choice(call.text(), _RUN_MODES,
                                                            partial=True)]

    def _run(self, call: Call) -> None:
        if self.state.run_mode == "sequence":
            self._check_sequence()
        else:
            self._check_channel_waveforms()
        self.state.running = True
        self._jump_position = 1
        self._triggered = False
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
                and state.sequence[0].wait_for_trigger and not self._triggered):
            return "1"
        return "2"

    def trigger(self) -> None:
        """``*TRG`` / ``TRIGger[:SEQuence][:IMMediate]``: a forced trigger.

        Counted; a running sequence waiting at its first element then runs
        (``RSTate?`` 2). In triggered mode the waveform plays once and the
        unit waits again at once in emulated time, so ``RSTate?`` stays 1.
        """
        self.forced_triggers += 1
        if self.state.running and self.state.run_mode == "sequence":
            self._triggered = True

    def _force_event(self) -> None:
        """``EVENt[:IMMediate]``: a forced event (counted; jumps are the world's, at heralds)."""
        self.forced_events += 1

    def _position(self) -> int:
        """``AWGControl:SEQuencer:POSition?``: 0 without a sequence, else the forced element."""
        if not self.state.sequence:
            return 0
        return min(self._jump_position, len(self.state.sequence))

    def _force_jump(self, call: Call) -> None:
        """``SEQuence:JUMP[:IMMediate] <element>``: force the sequencer to an element."""
        if not self.state.sequence:
            raise ScpiError(SETTINGS_CONFLICT, "there is no sequence to jump in")
        self._jump_position = _integer(call.text(), 1, len(self.state.sequence))

    def _sequencer_type(self) -> str:
        """``HARD``, or ``SOFT`` when a sequence waveform is shorter than the hardware minimum."""
        for element in self.state.sequence:
            for name in element.waveforms:
                waveform = self.state.waveforms.get(name)
                if waveform is not None and waveform.analog.size < HARDWARE_SEQUENCER_MIN_POINTS:
                    return "SOFT"
        return "HARD"

    # --- mass memory and setup files ------------------------------------------------

    def _register_mass_memory(self) -> None:
        disk = self.disk

        def msus(arguments: list[str]) -> str | None:
            return arguments[1] if len(arguments) > 1 else None

        def change_directory(call: Call) -> None:
            if call.argument in (None, ""):
                disk.directory = ()
            else:
                disk.change_directory(call.text())

        def write_file(call: Call) -> None:
            payload = call.block()
            arguments = block_prefix(payload)
            if not arguments:
                raise ScpiError(MISSING_PARAMETER, "file name")
            disk.write(arguments[0], payload)
            log.debug("MMEM:DATA: stored %s (%d bytes)", arguments[0], len(payload))

        def set_drive(call: Call) -> None:
            drive = unquote(call.text()).upper()
            if not re.fullmatch(r"[A-Z]:", drive):
                raise ScpiError(FILE_NAME_ERROR, f"{drive!r} is not a drive")
            disk.drive, disk.directory = drive, ()

        self.register("MMEMory:CDIRectory", change_directory)
        self.register("MMEMory:CDIRectory?", lambda call: f'"{_display(disk.directory)}"')
        self.register("MMEMory:MSIS", set_drive)
        self.register("MMEMory:MSIS?", lambda call: f'"{disk.drive}"')
        self.register("MMEMory:MDIRectory", lambda call: disk.make_directory(call.text()))
        self.register("MMEMory:CATalog?", lambda call: disk.catalog(
            call.text() if call.argument not in (None, "") else None))
        self.register("MMEMory:DATA", write_file)
        self.register("MMEMory:DATA?", lambda call: block(disk.read(call.text())[2]))
        self.register("MMEMory:DELete", lambda call: disk.delete(
            call.arguments()[0], msus(call.arguments())))
        self.register("AWGControl:SREStore", lambda call: self._restore(
            call.arguments()[0], msus(call.arguments())))
        self.register("AWGControl:SNAMe?", lambda call: '""' if self._setup_name is None
                      else f'"{self._setup_name[0]}","{self._setup_name[1]}"')

    def _apply_setup(self, setup: AwgFile) -> None:
        """Set the waveform list, sequence, channels and settings from a decoded file."""
        state = self.state
        for name, waveform in setup.waveforms.items():
            if _USER_NAME.fullmatch(name) is None:
                raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"invalid waveform name {name!r}")
            if waveform.analog.size > MAX_WAVEFORM_POINTS:
                raise ScpiError(DATA_OUT_OF_RANGE, f"waveform {name!r} is too long")
            state.waveforms[name] = AwgWaveform(waveform.analog.copy(), waveform.marker1.copy(),
                                                waveform.marker2.copy())
        if len(setup.sequence) > MAX_SEQUENCE_LENGTH:
            raise ScpiError(DATA_OUT_OF_RANGE, f"{len(setup.sequence)} sequence elements")
        for number, record in enumerate(setup.sequence, start=1):
            state.sequence.append(self._file_element(number, record, len(setup.sequence)))
        for channel, records in setup.channels.items():
            if not 1 <= channel <= N_CHANNELS:
                raise ScpiError(HEADER_SUFFIX_OUT_OF_RANGE, f"channel {channel} in the file")
            self._apply_channel(channel, records)
        self._apply_head(setup.settings)

    def _file_element(self, number: int, record: AwgFileElement,
                      length: int) -> SequenceElementState:
        element = SequenceElementState()
        sizes = set()
        for channel, name in record.waveforms.items():
            if not 1 <= channel <= N_CHANNELS:
                raise ScpiError(HEADER_SUFFIX_OUT_OF_RANGE, f"channel {channel} of element "
                                                            f"{number}")
            if name:
                sizes.add(self._waveform(name).analog.size)
            element.waveforms[channel - 1] = name
        if len(sizes) > 1:
            raise ScpiError(SETTINGS_CONFLICT, f"element {number}: waveforms of {sorted(sizes)} "
                                               "points")
        if record.loop == 0:
            element.infinite = True
        else:
            element.loop_count = _checked_int(record.loop, 1, MAX_LOOP_COUNT, "loop count")
        element.wait_for_trigger = record.wait
        if record.jump == -1:
            element.jump_target = "NEXT"
        elif record.jump == 0:
            element.jump_target = "OFF"
        else:
            element.jump_target = str(_checked_int(record.jump, 1, length, "jump target"))
        if record.goto:
            element.goto_enabled = True
            element.goto_index = _checked_int(record.goto, 1, length, "goto target")
        return element

    def _apply_channel(self, number: int, records: dict[str, RecordValue]) -> None:
        channel = self.state.channels[number - 1]
        settings = self.settings
        for key, value in records.items():
            if key == "OUTPUT_WAVEFORM_NAME":
                channel.waveform = self._assignable(str(value)) if value else ""
            elif key == "CHANNEL_STATE":
                channel.output = bool(value)
            elif key == "ANALOG_AMPLITUDE":
                channel.amplitude_vpp = _checked(value, AMPLITUDE_RANGE_V, key)
            elif key == "ANALOG_OFFSET":
                channel.offset_v = _checked(value, OFFSET_RANGE_V, key)
            elif key in ("MARKER1_HIGH", "MARKER2_HIGH"):
                channel.marker_high_v[int(key[6]) - 1] = _checked(value, MARKER_HIGH_RANGE_V, key)
            elif key in ("MARKER1_LOW", "MARKER2_LOW"):
                channel.marker_low_v[int(key[6]) - 1] = _checked(value, MARKER_LOW_RANGE_V, key)
            elif key in ("MARKER1_SKEW", "MARKER2_SKEW"):
                settings[f"marker_delay{number}.{key[6]}"] = _nr3(
                    _checked(value, MARKER_DELAY_RANGE_S, key))
            elif key == "ANALOG_DIRECT_OUTPUT":
                settings[f"direct_output{number}"] = str(int(bool(value)))
            elif key == "ANALOG_FILTER":
                if value not in _FILE_FILTERS:
                    raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"ANALOG_FILTER_{number} {value!r}")
                settings[f"filter{number}"] = _nr3(_FILE_FILTERS[int(value)])
            elif key == "EXTERNAL_ADD":
                settings[f"add_input{number}"] = '"ESIG"' if value else '""'
            elif key == "DC_OUTPUT_LEVEL":
                settings[f"dc_level{number}"] = _nr3(_checked(value, DC_LEVEL_RANGE_V, key))
            else:
                log.debug("setup file: channel %d record %s not emulated", number, key)

    def _apply_head(self, records: dict[str, RecordValue]) -> None:
        settings = self.settings
        for key, value in records.items():
            if key == "SAMPLING_RATE":
                self.state.sample_rate = _checked(value, SAMPLE_RATE_RANGE_HZ, key)
            elif key == "RUN_MODE":
                mode = _FILE_RUN_MODES.get(int(value))
                if mode is None:
                    raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"RUN_MODE {value!r} (the gated "
                                                             "mode is not emulated)")
                self.state.run_mode = mode
            elif key == "EVENT_JUMP_MODE":
                self.state.jump_mode = "DJUMP" if value == 2 else "EJUMP"
            elif key in _FILE_CHOICES:
                setting, choices = _FILE_CHOICES[key]
                if value not in choices:
                    raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"{key} {value!r}")
                settings[setting] = choices[int(value)]
            elif key in ("TRIGGER_INPUT_THRESHOLD", "EVENT_INPUT_THRESHOLD"):
                settings["trigger_level" if key.startswith("TRIG") else "event_level"] = _nr3(
                    _checked(value, INPUT_LEVEL_RANGE_V, key))
            elif key not in ("MAGIC", "VERSION", "RUN_STATE"):
                log.debug("setup file: record %s not emulated", key)
        if records.get("RUN_STATE") == 1:
            self._run(Call("AWGControl:RUN", (), False, None))

    def _restore(self, path: str, msus: str | None) -> None:
        """``AWGControl:SREStore``: load an ``.awg`` setup file from the disk.

        Everything the file does not set returns to its default; the user
        waveform list and the sequence are replaced by the file's. A file that
        does not decode or holds values the unit refuses changes nothing.
        """
        drive, parts, data = self.disk.read(path, msus)
        try:
            setup = decode_awg_file(data)
        except ValueError as error:
            raise ScpiError(EXECUTION_ERROR, f"{_display(parts)}: {error}") from None
        saved = (copy.deepcopy(self.state), dict(self.settings), dict(self._jump_index))
        try:
            self.reset()
            for name in [name for name in self.state.waveforms if not name.startswith("*")]:
                del self.state.waveforms[name]
            self._apply_setup(setup)
        except ScpiError:
            state, self.settings, self._jump_index = saved
            for field in dataclasses.fields(AwgState):
                setattr(self.state, field.name, getattr(state, field.name))
            raise
        self._setup_name = (_display(parts), drive)
        log.info("restored setup %s%s: %d waveforms, %d sequence elements", drive,
                 _display(parts), len(setup.waveforms), len(setup.sequence))

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
        self._jump_position = 1
        self._triggered = False


#: ``.awg`` record codes (AWG5000 "Record Name List"; as QCoDeS's writer and parser use them).
_FILE_RUN_MODES: dict[int, RunMode] = {1: "continuous", 2: "triggered", 4: "sequence"}
_FILE_FILTERS = {1: 20e6, 3: 100e6, 10: INFINITY_REPLY}
_FILE_CHOICES: dict[str, tuple[str, dict[int, str]]] = {
    "CLOCK_SOURCE": ("clock_source", {1: "INT", 2: "EXT"}),
    "REFERENCE_SOURCE": ("reference_source", {1: "INT", 2: "EXT"}),
    "EXTERNAL_REFERENCE_TYPE": ("reference_type", {1: "FIX", 2: "VAR"}),
    "REFERENCE_CLOCK_FREQUENCY_SELECTION": (
        "reference_frequency", {1: _nr3(10e6), 2: _nr3(20e6), 3: _nr3(100e6)}),
    "TRIGGER_SOURCE": ("trigger_source", {1: "INT", 2: "EXT"}),
    "TRIGGER_INPUT_IMPEDANCE": ("trigger_impedance", {1: _nr3(50.0), 2: _nr3(1000.0)}),
    "TRIGGER_INPUT_SLOPE": ("trigger_slope", {1: "POS", 2: "NEG"}),
    "TRIGGER_INPUT_POLARITY": ("trigger_polarity", {1: "POS", 2: "NEG"}),
    "EVENT_INPUT_IMPEDANCE": ("event_impedance", {1: _nr3(50.0), 2: _nr3(1000.0)}),
    "EVENT_INPUT_POLARITY": ("event_polarity", {1: "POS", 2: "NEG"}),
    "JUMP_TIMING": ("event_jump_timing", {1: "SYNC", 2: "ASYN"}),
}


def _checked(value: RecordValue, limits: tuple[float, float], what: str) -> float:
    if not isinstance(value, int | float) or not limits[0] <= value <= limits[1]:
        raise ScpiError(DATA_OUT_OF_RANGE, f"{what} {value!r} not in [{limits[0]:g}, "
                                           f"{limits[1]:g}]")
    return float(value)


def _checked_int(value: int, low: int, high: int, what: str) -> int:
    if not low <= value <= high:
        raise ScpiError(DATA_OUT_OF_RANGE, f"{what} {value} not in {low}..{high}")
    return value


def _reference_frequency(text: str) -> str:
    value = parse_number(text.upper().removesuffix("MHZ")) * (
        1e6 if text.strip().upper().endswith("MHZ") else 1.0)
    if value not in REFERENCE_FREQUENCIES_HZ:
        raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"{value:g} Hz: the external reference is "
                                                 "10, 20 or 100 MHz")
    return _nr3(value)


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

