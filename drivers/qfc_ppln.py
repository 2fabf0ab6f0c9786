"""Quantum frequency converter (QFC): a PPLN waveguide in its oven, and the pump amplifier.

Converts the NV centre's 637 nm photons to the telecom L band (1588 nm) by
difference-frequency generation in a temperature-tuned PPLN waveguide with a
strong ~1064 nm pump (Dréau et al., PR Applied 9, 064031 (2018); Tchebotareva
et al., PRL 123, 063601 (2019)). There is no single "QFC instrument": a
converter is built from units, and this composite driver drives each over its
own transport with its own documented protocol:

- ``pump``: the fibre amplifier of the pump, an NKT Photonics Koheras BoostiK
  (Interbus register protocol, serial 115200 8N1) — `drivers._nkt_boostik`;
- ``oven``: the PPLN oven's heater controller, a Thorlabs TC200 (ASCII command
  set, serial 115200 8N1) — `drivers._thorlabs_tc200`.

Each unit has its own address in the station file's ``init``::

    init: {pump: {address: /dev/ttyUSB0}, oven: {address: /dev/ttyUSB1}}

(a serial port, or a pyserial URL such as ``socket://host:port``; ``timeout``
in s is optional). The converter's parameters (``pump_power``,
``pump_power_actual``, ``pump_emission``, ``oven_setpoint_c``,
``oven_temperature_c``, ``oven_heater``, ``oven_stable``) are the composite's
own, so a station's ``safety_limits: {pump_power: [min, max]}`` narrows the
only parameter that sets the pump power; the hardware range of each is the
unit's (class data of the unit driver, from `wire_formats`). ``oven_stable``
is computed here (heater on and ``|T - T_set| <= oven_stability_tolerance_c``).
A simulator passes an ``address`` too; the units' own addresses are what count.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, ClassVar

from qcodes import validators as vals
from qcodes.instrument import Instrument
from qcodes.parameters import Parameter

from drivers._nkt_boostik import BoostikPump
from drivers._thorlabs_tc200 import TC200Oven
from labctl.errors import DriverError
from labctl.instruments.adapter import Adapter

log = logging.getLogger(__name__)


class PPLNConverter(Adapter["PPLNFrequencyConverter"]):
    """The PPLN converter as a `labctl.instruments.FrequencyConverter`."""

    def set_pump_power_w(self, power_w: float) -> None:
        self.instrument.pump_power(power_w)

    def pump_power_w(self) -> float:
        return float(self.instrument.pump_power_actual())

    def set_pump_emission(self, on: bool) -> None:
        self.instrument.pump_emission(on)

    def set_oven_setpoint_c(self, celsius: float) -> None:
        self.instrument.oven_setpoint_c(celsius)

    def oven_setpoint_c(self) -> float:
        return float(self.instrument.oven_setpoint_c())

    def oven_temperature_c(self) -> float:
        return float(self.instrument.oven_temperature_c())

    def set_oven_heater(self, on: bool) -> None:
        self.instrument.oven_heater(on)

    def safe_state(self) -> None:
        self.instrument.safe_state()


class PPLNFrequencyConverter(Instrument):
    """PPLN difference-frequency converter: a BoostiK pump and a TC200 oven."""

    #: Provides `labctl.instruments.FrequencyConverter` (`labctl.instruments.roles`).
    capability_adapter: ClassVar[type] = PPLNConverter
    #: The model field of the unit's identity this driver drives (the pump amplifier
    #: and the oven controller);
    #: `labctl station check --contact` names a unit that answers otherwise.
    expected_model: ClassVar[str] = r"BoostiK.*TC200"
    #: The oven counts as stabilised within this distance of its setpoint, °C.
    oven_stability_tolerance_c: ClassVar[float] = 0.15

    def __init__(self, name: str, pump: Mapping[str, Any] | None = None,
                 oven: Mapping[str, Any] | None = None, address: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.address = address
        try:
            self.pump: BoostikPump = BoostikPump.from_config(self, "pump", pump)
            self.add_submodule("pump", self.pump)
            self.oven: TC200Oven = TC200Oven.from_config(self, "oven", oven)
            self.add_submodule("oven", self.oven)
        except BaseException:
            self._close_units()
            super().close()
            raise
        self.pump_power: Parameter = self.add_parameter(
            "pump_power", label="Pump power setpoint", unit="W",
            get_cmd=self.pump.power_setpoint_w, set_cmd=self.pump.set_power_w,
            vals=vals.Numbers(*self.pump.power_range_w))
        self.pump_power_actual: Parameter = self.add_parameter(
            "pump_power_actual", label="Measured pump power", unit="W",
            get_cmd=self.pump.output_power_w, set_cmd=False)
        self.pump_emission: Parameter = self.add_parameter(
            "pump_emission", label="Pump emission", get_cmd=self.pump.emission,
            set_cmd=self.pump.set_emission, vals=vals.Bool())
        self.oven_setpoint_c: Parameter = self.add_parameter(
            "oven_setpoint_c", label="PPLN oven setpoint", unit="°C",
            get_cmd=self.oven.setpoint_c, set_cmd=self.oven.set_setpoint_c,
            vals=vals.Numbers(*self.oven.setpoint_range_c))
        self.oven_temperature_c: Parameter = self.add_parameter(
            "oven_temperature_c", label="PPLN oven temperature", unit="°C",
            get_cmd=self.oven.temperature_c, set_cmd=False)
        self.oven_heater: Parameter = self.add_parameter(
            "oven_heater", label="PPLN oven heater", get_cmd=self.oven.heater,
            set_cmd=self.oven.set_heater, vals=vals.Bool())
        self.oven_stable: Parameter = self.add_parameter(
            "oven_stable", label="PPLN oven stabilised", get_cmd=self._oven_is_stable,
            set_cmd=False, docstring="True when the heater is on and the oven is within "
                                     "oven_stability_tolerance_c of its setpoint.")

    def _oven_is_stable(self) -> bool:
        if not self.oven.heater():
            return False
        error_c = self.oven.temperature_c() - self.oven.setpoint_c()
        return abs(error_c) <= self.oven_stability_tolerance_c

    def get_idn(self) -> dict[str, str | None]:
        """Vendor and model of both units; the pump's serial number, the oven's firmware."""
        module_type = self.pump.module_type()
        oven = self.oven.identity().split()
        return {"vendor": "NKT Photonics + Thorlabs",
                "model": f"BoostiK (type {module_type:02X}h) + {oven[1] if len(oven) > 1 else '?'}",
                "serial": self.pump.serial_number() or None,
                "firmware": oven[-1] if oven else None}

    def safe_state(self) -> None:
        """Stop pump emission and read it back; leave the oven (setpoint and heater) as is.

        The multi-watt pump is the hazard. If the pump's line is broken a fresh
        connection is made for this. The PPLN oven is deliberately not touched:
        a fast temperature change of PPLN builds up pyroelectric charge and
        thermal stress that can damage the crystal, and re-stabilising the
        phase matching takes long. Cool it down slowly, by hand, if it must be.
        """
        log.info("%s: safe state, pump emission off (oven left as is)", self.name)
        try:
            self.pump.set_emission(False)
            emitting = self.pump.emission()
        except DriverError as error:
            log.warning("%s: %s; retrying on a fresh connection", self.name, error)
            self.pump.line.reopen()
            self.pump.set_emission(False)
            emitting = self.pump.emission()
        if emitting:
            raise DriverError(self.name, "safe_state", "the pump still reports emission on")

    def reconnect(self) -> None:
        """Fresh connections to both units (after a lost line)."""
        self.pump.line.reopen()
        self.oven.line.reopen()

    def _close_units(self) -> None:
        for unit in ("pump", "oven"):
            part = self.__dict__.get(unit)
            if part is not None:
                part.close()

    def close(self) -> None:
        self._close_units()
        super().close()
