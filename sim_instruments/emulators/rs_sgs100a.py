"""Emulator of the Rohde & Schwarz SGS100A vector microwave source.

Answers ``drivers/rs_sgs100a.py`` (QCoDeS's SGS100A driver plus labctl's
error-queue check): every parameter the QCoDeS driver defines, so a snapshot
reads them all. Frequency, level, phase, RF output and I/Q modulation live in
the named fields of `MicrowaveState`; every other setting lives in
``state.other`` under the QCoDeS parameter's name (``"pulsemod_state"``,
``"ref_osc_source"``, ...) as the text the unit answers.

Quirks of the real unit that are emulated:

- the ``SOURce`` node is optional (``FREQ?`` = ``SOUR:FREQ?``); the unit has
  one signal path, so ``SOUR2:...`` queues ``-114``;
- enumerations are accepted in short or long form, any case (``ext``,
  ``EXTernal``, ``single``, ``10MHz``) and answered in upper-case short form
  (``EXT``, ``SING``, ``10MHZ``, ``BBBY``); booleans are answered ``0``/``1``;
- numbers are answered without unit (``2877000000``, ``-12.5``, ``1E-06``) and
  may be sent with one (``2.877GHz``, ``-10dBm``, ``2us``); an unknown unit
  queues ``-131``;
- a value outside the setting range queues ``-222`` and leaves the setting
  unchanged; a refused query sends no reply;
- the frequency range depends on the frequency option: 1 MHz .. 12.75 GHz
  (SGS-B112) by default, ``max_frequency_hz`` for another option;
- ``*TST?`` answers ``0`` (passed) and ``*RST`` restores the preset (RF off);
- ``*OPT?`` names the frequency option (``SGS-B106``: 6 GHz, ``SGS-B112``:
  12.75 GHz), IEEE 488.2 §10.20;
- the level limit ``[SOURce]:POWer:LIMit[:AMPLitude]`` (preset: the top of
  the level range): a level above it is refused with ``-221`` and lowering
  it below the set level lowers the level (so the world never sees more
  than the limit). The SGS100A manual (remote-control chapter, SOURce:POWer
  subsystem) lists the command; whether the real unit refuses or clips an
  over-limit level was not confirmed: labctl assumes refusal;
- ``[SOURce]:POWer:ALC[:STATe] {ON|OFF|AUTO}`` (preset ``AUTO``, answered
  ``1``/``0``/``AUTO``, as the R&S SMB/SGS family manuals give it) and
  ``[SOURce]:IQ:WBSTate`` (I/Q wideband) are kept as settings; the level
  control has no effect on the world;
- ``SYSTem:ERRor:ALL?`` answers the whole queue, comma-separated, and
  empties it (``0,"No error"`` when empty), and ``SYSTem:ERRor:COUNt?`` its
  length, SCPI-99 / SGS100A manual SYSTem subsystem;
- what QuTech QMI's hardware-tested ``RohdeSchwarz_SGS100A`` driver also
  uses: ``[SOURce]:ROSCillator:EXTernal:SBANdwidth {NARRow|WIDE}``,
  ``OUTPut[:STATe]:PON {OFF|UNCHanged}``, ``[SOURce]:IQ:CREStfactor`` (dB) and
  ``CALibration:ALL[:MEASure]?`` (internal adjustments, answered ``0``,
  passed, at once). Their presets (``NARR``, ``UNCH``, 0 dB) and the crest
  factor's range (0..35 dB) were not checked against the manual: labctl's
  assumption; ``*RST`` leaves ``PON`` as it is (a device setting).

Not emulated: ``MIN``/``MAX``/``DEF`` keywords, settings conflicts between
pulse width, delay and period, the sweep/list modes and the RF level
``OFFSet``. The ranges other than frequency are those of the QCoDeS
validators (phase: ±360°); they were not checked against the manual.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping

from sim_instruments.emulators.scpi import (
    DATA_OUT_OF_RANGE,
    HEADER_SUFFIX_OUT_OF_RANGE,
    INVALID_SUFFIX,
    PARAMETER_NOT_ALLOWED,
    SETTINGS_CONFLICT,
    Call,
    Handler,
    ScpiEmulator,
    ScpiError,
    parse_bool,
    parse_choice,
    parse_number,
)
from sim_instruments.world_state import MicrowaveState

log = logging.getLogger(__name__)


FREQUENCY_UNITS: Mapping[str, float] = {"HZ": 1.0, "KHZ": 1e3, "MHZ": 1e6, "GHZ": 1e9}
TIME_UNITS: Mapping[str, float] = {"S": 1.0, "MS": 1e-3, "US": 1e-6, "NS": 1e-9}
DBM: Mapping[str, float] = {"DBM": 1.0}
DB: Mapping[str, float] = {"DB": 1.0}
DEG: Mapping[str, float] = {"DEG": 1.0}
PCT: Mapping[str, float] = {"PCT": 1.0}

MIN_FREQUENCY_HZ = 1e6
#: SGS-B112 frequency option (the SGS-B106 option ends at 6 GHz).
MAX_FREQUENCY_HZ = 12.75e9
POWER_RANGE_DBM = (-120.0, 25.0)
PHASE_RANGE_DEG = (-360.0, 360.0)

_INT_EXT = {"INTernal": "INT", "EXTernal": "EXT"}
_REF_FREQ = {"10MHZ": "10MHZ", "100MHZ": "100MHZ", "1000MHZ": "1000MHZ"}
_POLARITY = {"NORMal": "NORM", "INVerted": "INV"}

#: Numeric settings kept in ``state.other``:
#: key -> (header, low, high, units, preset). ``SOURce`` subsystem.
NUMBERS: Mapping[str, tuple[str, float, float, Mapping[str, float], float]] = {
    "I_offset": ("IQ:IMPairment:LEAKage:I", -10.0, 10.0, PCT, 0.0),
    "Q_offset": ("IQ:IMPairment:LEAKage:Q", -10.0, 10.0, PCT, 0.0),
    "IQ_gain_imbalance": ("IQ:IMPairment:IQRatio[:MAGNitude]", -1.0, 1.0, DB, 0.0),
    "IQ_angle": ("IQ:IMPairment:QUADrature[:ANGLe]", -8.0, 8.0, DEG, 0.0),
    "IQ_crest_factor": ("IQ:CREStfactor", 0.0, 35.0, DB, 0.0),
    "pulsemod_delay": ("PULModulation:DELay", 0.0, 100.0, TIME_UNITS, 0.0),
    "pulsemod_double_delay": ("PULModulation:DOUBle:DELay", 40e-9, 100.0, TIME_UNITS, 1e-6),
    "pulsemod_double_width": ("PULModulation:DOUBle:WIDTh", 20e-9, 100.0, TIME_UNITS, 1e-6),
    "pulsemod_period": ("PULModulation:PERiod", 100e-9, 100.0, TIME_UNITS, 10e-6),
    "pulsemod_width": ("PULModulation:WIDTh", 20e-9, 100.0, TIME_UNITS, 1e-6),
}

#: On/off settings kept in ``state.other``: key -> (header, preset). ``SOURce`` subsystem.
SWITCHES: Mapping[str, tuple[str, bool]] = {
    "pulsemod_state": ("PULModulation:STATe", False),
    "IQ_impairments": ("IQ:IMPairment[:STATe]", False),
    "IQ_wideband": ("IQ:WBSTate", False),
}

#: Enumerated settings kept in ``state.other``:
#: key -> (header, in SOURce subsystem, choices, preset).
CHOICES: Mapping[str, tuple[str, bool, Mapping[str, str], str]] = {
    "pulsemod_source": ("PULModulation:SOURce", True, _INT_EXT, "INT"),
    "ref_osc_source": ("ROSCillator:SOURce", True, _INT_EXT, "INT"),
    "LO_source": ("LOSCillator:SOURce", True, _INT_EXT, "INT"),
    "ref_LO_out": ("CONNector:REFLo:OUTPut", False,
                   {"REF": "REF", "LO": "LO", "OFF": "OFF"}, "OFF"),
    "ref_osc_output_freq": ("ROSCillator:OUTPut:FREQuency[:MODE]", True, _REF_FREQ, "10MHZ"),
    "ref_osc_external_freq": ("ROSCillator:EXTernal:FREQuency", True, _REF_FREQ, "10MHZ"),
    "trigger_connector_mode": ("CONNector:TRIGger:OMODe", False,
                               {"SVALid": "SVAL", "SNVALid": "SNVAL", "PVOut": "PVO",
                                "PETrigger": "PET", "PEMSource": "PEMS"}, "SVAL"),
    "pulsemod_mode": ("PULModulation:MODE", True, {"SINGle": "SING", "DOUBle": "DOUB"}, "SING"),
    "pulsemod_polarity": ("PULModulation:POLarity", True, _POLARITY, "NORM"),
    "pulsemod_trig_ext_gate_polarity": ("PULModulation:TRIGger:EXTernal:GATE:POLarity", True,
                                        _POLARITY, "NORM"),
    "pulsemod_trig_ext_impedance": ("PULModulation:TRIGger:EXTernal:IMPedance", True,
                                    {"G50": "G50", "G10K": "G10K"}, "G50"),
    "pulsemod_trig_ext_slope": ("PULModulation:TRIGger:EXTernal:SLOPe", True,
                                {"NEGative": "NEG", "POSitive": "POS"}, "POS"),
    "pulsemod_trig_mode": ("PULModulation:TRIGger:MODE", True,
                           {"AUTO": "AUTO", "EXTernal": "EXT", "EGATe": "EGAT"}, "AUTO"),
    "operation_mode": ("OPMode", True, {"NORMal": "NORM", "BBBYpass": "BBBY"}, "NORM"),
    "ref_osc_external_bandwidth": ("ROSCillator:EXTernal:SBANdwidth", True,
                                   {"NARRow": "NARR", "WIDE": "WIDE"}, "NARR"),
    "power_on_output": ("OUTPut[:STATe]:PON", False, {"OFF": "OFF", "UNCHanged": "UNCH"},
                        "UNCH"),
    "alc": ("POWer:ALC[:STATe]", True, {"ON": "1", "OFF": "0", "1": "1", "0": "0",
                                        "AUTO": "AUTO"}, "AUTO"),
}

#: Settings ``*RST`` leaves as they are (the power-on policy is a device setting).
NOT_RESET = ("power_on_output",)

_QUANTITY = re.compile(r"\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-z]*)\s*")


def format_number(value: float) -> str:
    """A number as the unit answers it: no unit, no trailing zeros (``1E-06``)."""
    return f"{value:.15G}"


def parse_quantity(text: str, low: float, high: float, units: Mapping[str, float]) -> float:
    """A number with an optional unit (``2.877GHz``), in base units, range-checked."""
    match = _QUANTITY.fullmatch(text)
    if match is None or not match.group(2):
        return parse_number(text, low, high)
    scale = units.get(match.group(2).upper())
    if scale is None:
        raise ScpiError(INVALID_SUFFIX, f"{match.group(2)!r} not in {', '.join(units)}")
    value = float(match.group(1)) * scale
    if not low <= value <= high:
        raise ScpiError(DATA_OUT_OF_RANGE, f"{value:g} not in [{low:g}, {high:g}]")
    return value


def preset_settings() -> dict[str, str]:
    """The ``state.other`` settings after ``*RST``."""
    settings = {key: format_number(spec[4]) for key, spec in NUMBERS.items()}
    settings.update({key: "1" if spec[1] else "0" for key, spec in SWITCHES.items()})
    settings.update({key: spec[3] for key, spec in CHOICES.items()})
    settings["power_limit"] = format_number(POWER_RANGE_DBM[1])
    return settings


class RohdeSchwarzSGS100AEmulator(ScpiEmulator):
    """One SGS100A; its settings are ``state``'s."""

    identity = "Rohde&Schwarz,SGS100A,1416.0505k02/112233,4.2.76.0-4.30.046.295"

    def __init__(self, state: MicrowaveState, max_frequency_hz: float = MAX_FREQUENCY_HZ) -> None:
        super().__init__()
        if not max_frequency_hz > MIN_FREQUENCY_HZ:
            raise ValueError(f"max_frequency_hz must exceed 1 MHz, got {max_frequency_hz!r}")
        self.state = state
        self.max_frequency_hz = max_frequency_hz
        #: ``*OPT?``: the frequency option the range implies (SGS-B106: 6 GHz, B112: 12.75)
        self.options = "SGS-B106" if max_frequency_hz <= 6e9 else "SGS-B112"
        for key, value in preset_settings().items():
            state.other.setdefault(key, value)

        self._source("FREQuency[:CW]", self._set_frequency,
                     lambda: format_number(self.state.frequency_hz))
        self._source("POWer[:LEVel][:IMMediate][:AMPLitude]", self._set_power,
                     lambda: format_number(self.state.power_dbm))
        self._source("POWer:LIMit[:AMPLitude]", self._set_power_limit,
                     lambda: self.state.other["power_limit"])
        self._source("PHASe", self._set_phase, lambda: format_number(self.state.phase_deg))
        self.register("SYSTem:ERRor:ALL?", lambda call: self._all_errors())
        self.register("SYSTem:ERRor:COUNt?", lambda call: str(len(self.errors)))
        # internal adjustments: instantaneous here, answered 0 (passed) when done
        self.register("CALibration<n>:ALL[:MEASure]?", self._query(lambda: "0"))
        self._source("IQ:STATe", self._set_iq, lambda: "1" if self.state.iq_modulation else "0")
        self.register("OUTPut<n>[:STATe]", self._path(self._set_output))
        self.register("OUTPut<n>[:STATe]?",
                      self._query(lambda: "1" if self.state.output else "0"))
        for key, (header, low, high, units, _) in NUMBERS.items():
            self._source(header, self._number_setter(key, low, high, units), self._getter(key))
        for key, (header, _) in SWITCHES.items():
            self._source(header, self._switch_setter(key), self._getter(key))
        for key, (header, in_source, choices, _) in CHOICES.items():
            setter, getter = self._choice_setter(key, choices), self._getter(key)
            if in_source:
                self._source(header, setter, getter)
            else:
                self.register(header, self._path(setter))
                self.register(f"{header}?", self._query(getter))

    # --- command plumbing ---------------------------------------------------------

    def _source(self, header: str, setter: Callable[[Call], None],
                getter: Callable[[], str]) -> None:
        """Register a ``[SOURce]`` subsystem setting, with and without its ``SOURce`` node."""
        for spelling in (f"SOURce<n>:{header}", header):
            self.register(spelling, self._path(setter))
            self.register(f"{spelling}?", self._query(getter))

    @staticmethod
    def _check_path(call: Call) -> None:
        if any(suffix != 1 for suffix in call.suffixes):
            raise ScpiError(HEADER_SUFFIX_OUT_OF_RANGE,
                            f"{call.header}: the SGS100A has one signal path")

    def _path(self, setter: Callable[[Call], None]) -> Handler:
        def handler(call: Call) -> None:
            self._check_path(call)
            setter(call)
        return handler

    def _query(self, getter: Callable[[], str]) -> Handler:
        def handler(call: Call) -> str:
            self._check_path(call)
            if call.argument not in (None, ""):
                raise ScpiError(PARAMETER_NOT_ALLOWED, call.header)
            return getter()
        return handler

    def _getter(self, key: str) -> Callable[[], str]:
        return lambda: self.state.other[key]

    # --- handlers -----------------------------------------------------------------

    def _set_frequency(self, call: Call) -> None:
        self.state.frequency_hz = parse_quantity(call.text(), MIN_FREQUENCY_HZ,
                                                 self.max_frequency_hz, FREQUENCY_UNITS)

    def _set_power(self, call: Call) -> None:
        level = parse_quantity(call.text(), *POWER_RANGE_DBM, DBM)
        limit = float(self.state.other["power_limit"])
        if level > limit:
            raise ScpiError(SETTINGS_CONFLICT, f"{level:g} dBm is above the level limit "
                                               f"{limit:g} dBm (SOUR:POW:LIM)")
        self.state.power_dbm = level

    def _set_power_limit(self, call: Call) -> None:
        limit = parse_quantity(call.text(), *POWER_RANGE_DBM, DBM)
        self.state.other["power_limit"] = format_number(limit)
        if self.state.power_dbm > limit:
            log.info("SGS100A level %.2f dBm lowered to the new limit %.2f dBm",
                     self.state.power_dbm, limit)
            self.state.power_dbm = limit

    def _all_errors(self) -> str:
        """``SYSTem:ERRor:ALL?``: every queued entry, oldest first; ``0,"No error"`` if none."""
        entries = list(self.errors) or [self.pop_error()]
        self.errors.clear()
        return ",".join(entries)

    def _set_phase(self, call: Call) -> None:
        self.state.phase_deg = parse_quantity(call.text(), *PHASE_RANGE_DEG, DEG)

    def _set_iq(self, call: Call) -> None:
        self.state.iq_modulation = parse_bool(call.text())

    def _set_output(self, call: Call) -> None:
        on = parse_bool(call.text())
        if on != self.state.output:
            log.info("SGS100A RF output %s (%.6g Hz, %.2f dBm)", "on" if on else "off",
                     self.state.frequency_hz, self.state.power_dbm)
        self.state.output = on

    def _number_setter(self, key: str, low: float, high: float,
                       units: Mapping[str, float]) -> Callable[[Call], None]:
        def setter(call: Call) -> None:
            self.state.other[key] = format_number(parse_quantity(call.text(), low, high, units))
        return setter

    def _switch_setter(self, key: str) -> Callable[[Call], None]:
        def setter(call: Call) -> None:
            self.state.other[key] = "1" if parse_bool(call.text()) else "0"
        return setter

    def _choice_setter(self, key: str, choices: Mapping[str, str]) -> Callable[[Call], None]:
        def setter(call: Call) -> None:
            self.state.other[key] = parse_choice(call.text(), dict(choices))
        return setter

    def reset(self) -> None:
        """``*RST``: the preset — 1 GHz, -30 dBm, phase 0, RF and modulations off."""
        preset = MicrowaveState()
        self.state.frequency_hz = preset.frequency_hz
        self.state.power_dbm = preset.power_dbm
        self.state.phase_deg = preset.phase_deg
        self.state.output = False
        self.state.iq_modulation = False
        kept = {key: self.state.other[key] for key in NOT_RESET if key in self.state.other}
        self.state.other.update(preset_settings())
        self.state.other.update(kept)
