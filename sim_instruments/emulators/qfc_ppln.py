"""Emulator of the PPLN quantum frequency converter (labctl's ITC4000-style dialect).

Answers ``drivers/qfc_ppln.py``: channel 1 is the pump laser
(``OUTP1:STAT``, ``SOUR:POW`` in W, ``MEAS:POW2?``), channel 2 the PPLN oven
(``OUTP2:STAT`` = heater, ``SOUR2:TEMP:SPO``, ``MEAS:TEMP?``), and
``UNIT:TEMP C|K|F`` selects the unit of every temperature sent or answered.
Settings live in the world's `ConverterState`; time comes from the virtual
clock.

Behaviour that is emulated:

- the oven follows its setpoint with the first-order lag of `ConverterState`
  while the heater is on and relaxes to ambient when it is off; a change of
  setpoint or heater continues the lag from the temperature reached;
- the monitored pump power is the setpoint while emission is on, else 0;
- the error queue answers ``+0,"No error"`` when empty, as the ITC4000 does;
- a value outside the range (pump 0..3 W, oven 25..200 °C, checked after the
  unit conversion) queues ``-222`` and changes nothing; a channel suffix
  other than 1/2 queues ``-114``, a command on the wrong channel (``SOUR2:POW``,
  ``SOUR1:TEMP``) ``-113``; a refused query sends no reply;
- ``*RST`` switches both outputs off (ITC4000 behaviour), zeroes the pump
  setpoint and sets the unit back to °C; the oven setpoint is kept.

The temperature unit is a display setting of the controller, not physics: it
is kept by the emulator (``temperature_unit``), the state holds °C. Not
emulated: ``SOUR:FUNC:MODE`` (the module is always in constant-power mode),
measurement noise, the laser-diode current and TEC current commands.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sim_instruments.emulators.scpi import (
    DATA_OUT_OF_RANGE,
    HEADER_SUFFIX_OUT_OF_RANGE,
    PARAMETER_NOT_ALLOWED,
    UNDEFINED_HEADER,
    Call,
    ScpiEmulator,
    ScpiError,
    parse_bool,
    parse_choice,
    parse_number,
)
from sim_instruments.world_state import ConverterState, VirtualClock

log = logging.getLogger(__name__)


PUMP_CHANNEL = 1
OVEN_CHANNEL = 2
PUMP_POWER_RANGE_W = (0.0, 3.0)
OVEN_RANGE_C = (25.0, 200.0)

#: Accepted spellings of ``UNIT:TEMP`` -> the unit as answered.
TEMPERATURE_UNITS = {"C": "C", "CEL": "C", "K": "K", "F": "F", "FAR": "F"}


def from_celsius(value_c: float, unit: str) -> float:
    if unit == "K":
        return value_c + 273.15
    if unit == "F":
        return value_c * 9.0 / 5.0 + 32.0
    return value_c


def to_celsius(value: float, unit: str) -> float:
    if unit == "K":
        return value - 273.15
    if unit == "F":
        return (value - 32.0) * 5.0 / 9.0
    return value


def format_number(value: float) -> str:
    """A measurement as the ITC4000 answers it (``6.500000E+01``)."""
    return f"{value:.6E}"


class PPLNConverterEmulator(ScpiEmulator):
    """One converter module; its settings are ``state``'s, its time ``clock``'s."""

    identity = "LABCTL,QFC-637-1588,Q00000001,1.0.0/1.0.0/1.0.0"

    def __init__(self, state: ConverterState, clock: VirtualClock) -> None:
        super().__init__()
        self.state = state
        self.clock = clock
        self.temperature_unit = "C"
        self.register("OUTPut<n>[:STATe]", self._set_output)
        self.register("OUTPut<n>[:STATe]?", self._query(self._get_output))
        self.register("SOURce<n>:POWer[:LEVel][:IMMediate][:AMPLitude]", self._set_pump_power)
        self.register("SOURce<n>:POWer[:LEVel][:IMMediate][:AMPLitude]?",
                      self._query(self._get_pump_power))
        self.register("SOURce<n>:TEMPerature[:SPOint]", self._set_setpoint)
        self.register("SOURce<n>:TEMPerature[:SPOint]?", self._query(self._get_setpoint))
        self.register("MEASure[:SCALar]:TEMPerature?", self._query(self._measure_temperature))
        self.register("MEASure[:SCALar]:POWer<n>?", self._query(self._measure_power))
        self.register("UNIT:TEMPerature", self._set_unit)
        self.register("UNIT:TEMPerature?", self._query(lambda call: self.temperature_unit))

    def pop_error(self) -> str:
        """The ITC4000 signs the code of the empty-queue reply: ``+0,"No error"``."""
        return self.errors.popleft() if self.errors else '+0,"No error"'

    # --- command plumbing ---------------------------------------------------------

    @staticmethod
    def _channel(call: Call, expected: int | None = None) -> int:
        """The channel a command addresses; ``expected``: the only one that has it."""
        if call.suffix not in (PUMP_CHANNEL, OVEN_CHANNEL):
            raise ScpiError(HEADER_SUFFIX_OUT_OF_RANGE, f"channel {call.suffix} not in 1..2")
        if expected is not None and call.suffix != expected:
            raise ScpiError(UNDEFINED_HEADER, f"{call.header}: no such command on channel "
                                              f"{call.suffix}")
        return call.suffix

    @staticmethod
    def _query(getter: Callable[[Call], str]) -> Callable[[Call], str]:
        def handler(call: Call) -> str:
            if call.argument not in (None, ""):
                raise ScpiError(PARAMETER_NOT_ALLOWED, call.header)
            return getter(call)
        return handler

    # --- handlers -----------------------------------------------------------------

    def _set_output(self, call: Call) -> None:
        channel = self._channel(call)
        on = parse_bool(call.text())
        if channel == PUMP_CHANNEL:
            if on != self.state.pump_emission:
                log.info("QFC pump emission %s (%.4f W)", "on" if on else "off",
                         self.state.pump_power_w)
            self.state.pump_emission = on
            return
        now = self.clock.now()
        self.state.settle(now)
        if on != self.state.oven_heater:
            log.info("QFC oven heater %s at t=%.3f s (%.3f °C)", "on" if on else "off", now,
                     self.state.temperature_c(now))
        self.state.oven_heater = on

    def _get_output(self, call: Call) -> str:
        if self._channel(call) == PUMP_CHANNEL:
            return "1" if self.state.pump_emission else "0"
        return "1" if self.state.oven_heater else "0"

    def _set_pump_power(self, call: Call) -> None:
        self._channel(call, PUMP_CHANNEL)
        self.state.pump_power_w = parse_number(call.text(), *PUMP_POWER_RANGE_W)

    def _get_pump_power(self, call: Call) -> str:
        self._channel(call, PUMP_CHANNEL)
        return format_number(self.state.pump_power_w)

    def _set_setpoint(self, call: Call) -> None:
        self._channel(call, OVEN_CHANNEL)
        value = parse_number(call.text())
        celsius = to_celsius(value, self.temperature_unit)
        low, high = OVEN_RANGE_C
        if not low <= celsius <= high:
            raise ScpiError(DATA_OUT_OF_RANGE, f"{value:g} {self.temperature_unit} is "
                                               f"{celsius:.2f} C, not in [{low:g}, {high:g}] C")
        self.state.settle(self.clock.now())
        self.state.oven_setpoint_c = celsius

    def _get_setpoint(self, call: Call) -> str:
        self._channel(call, OVEN_CHANNEL)
        return format_number(from_celsius(self.state.oven_setpoint_c, self.temperature_unit))

    def _measure_temperature(self, call: Call) -> str:
        celsius = self.state.temperature_c(self.clock.now())
        return format_number(from_celsius(celsius, self.temperature_unit))

    def _measure_power(self, call: Call) -> str:
        if call.suffix != 2:
            raise ScpiError(UNDEFINED_HEADER, f"{call.header}: the pump monitor is POWer2")
        return format_number(self.state.actual_pump_power())

    def _set_unit(self, call: Call) -> None:
        self.temperature_unit = parse_choice(call.text(), TEMPERATURE_UNITS)

    def reset(self) -> None:
        """``*RST``: both outputs off, pump setpoint 0 W, unit °C; oven setpoint kept."""
        self.state.settle(self.clock.now())
        self.state.pump_emission = False
        self.state.oven_heater = False
        self.state.pump_power_w = 0.0
        self.temperature_unit = "C"
