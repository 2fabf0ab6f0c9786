"""Emulator of the Santec TSL-570 tunable CW laser (type A, 1480-1640 nm, up to +13 dBm).

A plain SCPI unit with a ``:SYSTem:ERRor?`` queue (standard codes: -113 for
an unknown header, -222 for a value out of range ...), framed as the real
unit is on its LAN port (TCP 5000): commands and replies end with a carriage
return (`read_terminator`, `reply_terminator`; a line feed also ends a
command). Its quirk is the power unit: ``:POWer:UNIT 0|1`` (0 = dBm, 1 = mW,
dBm after power-up here) decides how ``:POWer[:LEVel]``, ``:POWer[:LEVel]?``
and ``:POWer:ACTual?`` read and write the power. The power setting range is
-15 dBm (0.0316 mW) to 20 mW (+13.01 dBm) in either unit. Wavelengths are
written and read in nm, frequencies (``:WAVelength:FREQuency``) in THz.

Status, as Santec's programming guide has it (via santec's own Python
driver and QuTech's QMI ``santec/tsl_570.py``): ``:SYSTem:ALERt?`` answers
``No alerts.`` or the active alerts' codes, comma separated (``No05.`` =
wavelength error, ``No07.`` = interlock detection, see `ALERTS`);
``:SYSTem:LOCK?`` reads 1 while the external interlock is open;
``:POWer:SHUTter`` is ``:POWer:STATe`` reversed; ``:SYSTem:COMMunicate:...``
report the LAN port, the GPIB delimiter (0 = CR) and the command set
(0 = Legacy). labctl's own: the alert reply lists codes only (no text), one
reply per query, for as long as the condition lasts; the world's lost lock
(`LaserState.locked`) shows as alert ``No05.``; an open interlock
(`interlock_open`, set by a test, not by the world) is alert ``No07.``, stops
emission and refuses ``:POWer:STATe 1`` with -200.

Settings live in the `LaserState` (power in W); the display units and the
coherence-control and fine-tuning settings, which have no physical meaning
here, are kept on the emulator. ``:POWer:ACTual?`` reads the setpoint while
the diode emits and 0 mW (`MONITOR_FLOOR_DBM` in dBm) when it is off.
``*RST`` clears the error queue and keeps the settings. Not emulated:
sweeps, triggers, logging data, the effect of coherence control or fine
tuning on the light.
"""

from __future__ import annotations

import logging
import math

from sim_instruments.emulators.scpi import (
    DATA_OUT_OF_RANGE,
    EXECUTION_ERROR,
    ILLEGAL_PARAMETER_VALUE,
    Call,
    ScpiEmulator,
    ScpiError,
    parse_bool,
    parse_number,
)
from sim_instruments.world_state import LaserState

log = logging.getLogger(__name__)

#: Tuning range of the type-A model, nm.
WAVELENGTH_RANGE_NM = (1480.0, 1640.0)
#: Power setting range, mW (-15 dBm to 20 mW = +13.01 dBm).
POWER_RANGE_MW = (10.0 ** -1.5, 20.0)
#: Speed of light, m/s (wavelength <-> frequency).
SPEED_OF_LIGHT = 299_792_458.0
#: Fine-tuning range (arbitrary units of the unit's own scale).
FINE_TUNING_RANGE = (-100.0, 100.0)
#: The LAN port the unit listens on, and its GPIB delimiter code (0 = CR).
LAN_PORT = 5000
GPIB_DELIMITER_CR = "0"
#: Alert codes of ``:SYSTem:ALERt?`` this emulator raises.
WAVELENGTH_ALERT = "No05."
INTERLOCK_ALERT = "No07."
NO_ALERTS = "No alerts."
#: What the power monitor reads in dBm with the diode off.
MONITOR_FLOOR_DBM = -40.0
#: Slack on the power range for the rounding of the unit conversion (mW or dB).
_POWER_SLACK = 1e-9


def dbm_to_mw(dbm: float) -> float:
    return float(10.0 ** (dbm / 10.0))


def mw_to_dbm(milliwatts: float) -> float:
    return 10.0 * math.log10(milliwatts) if milliwatts > 0 else MONITOR_FLOOR_DBM


class SantecTSL570Emulator(ScpiEmulator):
    """A TSL-570 (type A) driving ``state``."""

    identity = "SANTEC,TSL-570,25010001,0001.0000"
    #: The unit ends commands and replies with a carriage return.
    read_terminator = b"\r"
    reply_terminator = b"\r"

    def __init__(self, state: LaserState) -> None:
        super().__init__()
        self.state = state
        #: Display unit of the power commands: True for mW, False for dBm.
        self.power_unit_mw = False
        #: Display unit of the wavelength: True for THz, False for nm.
        self.wavelength_unit_thz = False
        self.coherence_control = False
        self.fine_tuning = 0.0
        #: The external interlock is open (emission impossible).
        self.interlock_open = False
        self.register(":WAVelength:UNIT", self._set_wavelength_unit)
        self.register(":WAVelength:UNIT?", lambda call: _flag(self.wavelength_unit_thz))
        self.register(":WAVelength:FREQuency", self._set_frequency)
        self.register(":WAVelength:FREQuency?",
                      lambda call: f"{_thz(self.state.wavelength_nm):.5f}")
        self.register(":WAVelength:FREQuency:MINimum?",
                      lambda call: f"{_thz(WAVELENGTH_RANGE_NM[1]):.5f}")
        self.register(":WAVelength:FREQuency:MAXimum?",
                      lambda call: f"{_thz(WAVELENGTH_RANGE_NM[0]):.5f}")
        self.register(":WAVelength:FINe", self._set_fine_tuning)
        self.register(":WAVelength:FINe?", lambda call: f"{self.fine_tuning:.2f}")
        self.register(":WAVelength:FINe:DISable", self._disable_fine_tuning)
        self.register(":COHCtrl", self._set_coherence_control)
        self.register(":COHCtrl?", lambda call: _flag(self.coherence_control))
        self.register(":POWer:SHUTter", self._set_shutter)
        self.register(":POWer:SHUTter?", lambda call: _flag(not self.state.emission))
        self.register(":SYSTem:LOCK?", lambda call: _flag(self.interlock_open))
        self.register(":SYSTem:COMMunicate:ETHernet:PORT?", lambda call: str(LAN_PORT))
        self.register(":SYSTem:COMMunicate:GPIB:DELimiter?", lambda call: GPIB_DELIMITER_CR)
        self.register(":SYSTem:COMMunicate:CODe?", lambda call: "0")
        self.register(":WAVelength", self._set_wavelength)
        self.register(":WAVelength?", lambda call: f"{self.state.wavelength_nm:.4f}")
        self.register(":WAVelength:MINimum?", lambda call: f"{WAVELENGTH_RANGE_NM[0]:.4f}")
        self.register(":WAVelength:MAXimum?", lambda call: f"{WAVELENGTH_RANGE_NM[1]:.4f}")
        self.register(":POWer:UNIT", self._set_power_unit)
        self.register(":POWer:UNIT?", lambda call: "1" if self.power_unit_mw else "0")
        self.register(":POWer[:LEVel]", self._set_power)
        self.register(":POWer[:LEVel]?", lambda call: self._format_power(self.state.power_w))
        self.register(":POWer:ACTual[:LEVel]?",
                      lambda call: self._format_power(self.state.actual_power()))
        self.register(":POWer:STATe", self._set_emission)
        self.register(":POWer:STATe?", lambda call: "1" if self.state.emission else "0")
        self.register(":SYSTem:ALERt?", lambda call: ",".join(self.alerts()) or NO_ALERTS)

    def reset(self) -> None:
        """``*RST`` aborts pending operations and clears the error queue; settings stay."""
        self.errors.clear()

    def alerts(self) -> list[str]:
        """The codes of the alerts active now (see the module docstring)."""
        active = []
        if not self.state.locked:
            active.append(WAVELENGTH_ALERT)
        if self.interlock_open:
            active.append(INTERLOCK_ALERT)
        return active

    def open_interlock(self, is_open: bool = True) -> None:
        """Open (or close) the external interlock; opening it stops emission."""
        self.interlock_open = is_open
        if is_open:
            self.state.emission = False

    def _format_power(self, watts: float) -> str:
        milliwatts = watts * 1e3
        if self.power_unit_mw:
            return f"{milliwatts:.5f}"
        return f"{mw_to_dbm(milliwatts):.3f}"

    def _set_wavelength(self, call: Call) -> None:
        self.state.wavelength_nm = parse_number(call.text(), *WAVELENGTH_RANGE_NM)

    def _set_power_unit(self, call: Call) -> None:
        self.power_unit_mw = _unit_flag(call, "power unit")

    def _set_power(self, call: Call) -> None:
        value = parse_number(call.text())
        low, high = POWER_RANGE_MW
        if not self.power_unit_mw:
            low, high = mw_to_dbm(low), mw_to_dbm(high)
        if not low - _POWER_SLACK <= value <= high + _POWER_SLACK:
            unit = "mW" if self.power_unit_mw else "dBm"
            raise ScpiError(DATA_OUT_OF_RANGE, f"power {value:g} {unit} not in [{low:g}, {high:g}]")
        self.state.power_w = (value if self.power_unit_mw else dbm_to_mw(value)) / 1e3

    def _set_emission(self, call: Call) -> None:
        self._emit(parse_bool(call.text()))

    def _set_shutter(self, call: Call) -> None:
        self._emit(not parse_bool(call.text()))

    def _emit(self, on: bool) -> None:
        if on and self.interlock_open:
            raise ScpiError(EXECUTION_ERROR, "interlock open")
        self.state.emission = on
        log.debug("TSL-570 emulator: emission %s", "on" if on else "off")

    def _set_wavelength_unit(self, call: Call) -> None:
        self.wavelength_unit_thz = _unit_flag(call, "wavelength unit")

    def _set_frequency(self, call: Call) -> None:
        low, high = _thz(WAVELENGTH_RANGE_NM[1]), _thz(WAVELENGTH_RANGE_NM[0])
        self.state.wavelength_nm = _thz(parse_number(call.text(), low - 1e-5, high + 1e-5))

    def _set_fine_tuning(self, call: Call) -> None:
        self.fine_tuning = parse_number(call.text(), *FINE_TUNING_RANGE)

    def _disable_fine_tuning(self, call: Call) -> None:
        self.fine_tuning = 0.0

    def _set_coherence_control(self, call: Call) -> None:
        self.coherence_control = parse_bool(call.text())


def _flag(value: bool) -> str:
    return "1" if value else "0"


def _unit_flag(call: Call, what: str) -> bool:
    word = call.text()
    if word not in ("0", "1"):
        raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"{what} {word!r}, expected 0 or 1")
    return word == "1"


def _thz(value: float) -> float:
    """A wavelength in nm as a frequency in THz, or a frequency in THz as a wavelength in nm."""
    return SPEED_OF_LIGHT / value / 1e3
