"""Emulator of the Santec TSL-570 tunable CW laser (type A, 1480-1640 nm, up to +13 dBm).

A plain SCPI unit with a ``:SYSTem:ERRor?`` queue (standard codes: -113 for
an unknown header, -222 for a value out of range ...). Its quirk is the
power unit: ``:POWer:UNIT 0|1`` (0 = dBm, 1 = mW, dBm after power-up here)
decides how ``:POWer[:LEVel]``, ``:POWer[:LEVel]?`` and ``:POWer:ACTual?``
read and write the power. The power setting range is 0.01 mW (-20 dBm) to
20 mW (+13.01 dBm) in either unit. Wavelengths are written and read in nm.

Settings live in the `LaserState` (power in W); only the display unit,
which has no physical meaning, is kept here. ``:POWer:ACTual?`` reads the
setpoint while the diode emits and 0 mW (`MONITOR_FLOOR_DBM` in dBm) when it
is off. ``*RST`` clears the error queue and keeps the settings. Not emulated:
sweeps, triggers, coherence control, fine tuning, the THz unit, alerts other
than "No alerts.".
"""

from __future__ import annotations

import logging
import math

from sim_instruments.emulators.scpi import (
    DATA_OUT_OF_RANGE,
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
#: Power setting range, mW (0.01 mW = -20 dBm to 20 mW = +13.01 dBm).
POWER_RANGE_MW = (0.01, 20.0)
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

    def __init__(self, state: LaserState) -> None:
        super().__init__()
        self.state = state
        #: Display unit of the power commands: True for mW, False for dBm.
        self.power_unit_mw = False
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
        self.register(":SYSTem:ALERt?", lambda call: "No alerts.")

    def reset(self) -> None:
        """``*RST`` aborts pending operations and clears the error queue; settings stay."""
        self.errors.clear()

    def _format_power(self, watts: float) -> str:
        milliwatts = watts * 1e3
        if self.power_unit_mw:
            return f"{milliwatts:.5f}"
        return f"{mw_to_dbm(milliwatts):.3f}"

    def _set_wavelength(self, call: Call) -> None:
        self.state.wavelength_nm = parse_number(call.text(), *WAVELENGTH_RANGE_NM)

    def _set_power_unit(self, call: Call) -> None:
        word = call.text()
        if word not in ("0", "1"):
            raise ScpiError(ILLEGAL_PARAMETER_VALUE, f"power unit {word!r}, expected 0 or 1")
        self.power_unit_mw = word == "1"

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
        self.state.emission = parse_bool(call.text())
        log.debug("TSL-570 emulator: emission %s", "on" if self.state.emission else "off")
