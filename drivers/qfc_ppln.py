"""Quantum frequency converter (QFC): PPLN-waveguide difference-frequency module.

Converts the NV centre's 637 nm photons to the telecom L band (1588 nm) by
difference-frequency generation in a temperature-tuned PPLN waveguide with a
strong pump (energy conservation fixes the pump at ~1064 nm for 637 -> 1588 nm,
as in Dréau et al., PR Applied 9, 064031 (2018); other signal/target pairs
need other pumps). The driver controls the pump laser (power setpoint in W,
emission on/off, monitored power) and the PPLN oven (setpoint and readback in
°C, heater on/off) and reports whether the oven is stabilised.

There is no commercial SCPI QFC with a public command set. labctl's QFC
dialect is modelled on the Thorlabs ITC4000 laser-diode/TEC controller: SCPI
channel 1 is the pump, channel 2 the oven. The virtual lab's emulator answers
the same dialect.

========================================  ==========================================
command (as sent)                          origin
========================================  ==========================================
``*IDN?``                                  IEEE 488.2 (ITC4000 answers
                                           ``THORLABS,<model>,<serial>,<fw>``)
``:SYST:ERR?`` -> ``+0,"No error"``        ITC4000 ``SYSTem:ERRor[:NEXT]?``
``:OUTP1:STAT 0|1``, ``:OUTP1:STAT?``      ITC4000 ``OUTPut[1][:STATe]`` (LD output)
``:OUTP2:STAT 0|1``, ``:OUTP2:STAT?``      ITC4000 ``OUTPut2[:STATe]`` (TEC output)
``:SOUR2:TEMP:SPO <°C>``, ``...SPO?``      ITC4000 ``SOURce2:TEMPerature[:SPOint]``
``:MEAS:TEMP?``                            ITC4000 ``MEASure[:SCALar]:TEMPerature?``
``:UNIT:TEMP C``                           ITC4000 ``UNIT:TEMPerature {C|K|F}``
``:SOUR:POW <W>``, ``:SOUR:POW?``          labctl's own (see below)
``:MEAS:POW2?``                            labctl's own (see below)
========================================  ==========================================

How far this is confirmed: from the Thorlabs *Series 4000 SCPI Programmer's
Reference* itself only excerpts were read (its table of contents, the
``*IDN?`` reply format, ``*RST`` switching the outputs off, the status
registers). The exact spellings ``OUTPut1/2:STATe``,
``SOURce2:TEMPerature:SPOint``, ``MEASure:TEMPerature?``, ``UNIT:TEMPerature``,
``SOURce:FUNCtion:MODE`` and ``SYSTem:ERRor:NEXT?`` are confirmed by several
independent third-party ITC4001/ITC4002 drivers that agree with that manual's
structure, not by the manual's own command pages.

labctl's own, not ITC4000 behaviour:

- ``:SOUR:POW`` is the *optical* pump power in watts, and the module is always
  in constant-power mode. The ITC4000 has an "LD optical power" setpoint
  (section "LD Optical Power", photodiode-calibrated) that applies only in
  its constant-power mode (``SOURce:FUNCtion:MODE POWer``); the ``:SOUR:POW``
  spelling was not verified verbatim. A real ITC drives diode *current*.
- ``:MEAS:POW2?`` (pump power from the monitor photodiode, W) follows the
  ITC4000's ``MEASure:POWer2?`` as seen in third-party code, not verified.
- ``oven_stable`` is computed by this driver (heater on and
  ``|T - T_set| <= oven_stability_tolerance_c``); no instrument command.

Every temperature command names its unit (``:UNIT:TEMP C;...``) so a
front-panel unit of K or °F can never turn 150 °C into something else, and the
driver needs no I/O at construction.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from qcodes import validators as vals
from qcodes.parameters import Parameter, create_on_off_val_mapping

from labctl.instruments.adapter import Adapter
from labctl.visa import ScpiInstrument

log = logging.getLogger(__name__)

_CELSIUS = ":UNIT:TEMP C;"


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

class PPLNFrequencyConverter(ScpiInstrument):
    """PPLN difference-frequency converter: pump power/emission and oven temperature."""

    #: Provides `labctl.instruments.FrequencyConverter` (`labctl.instruments.roles`).
    capability_adapter: ClassVar[type] = PPLNConverter

    error_query = ":SYST:ERR?"
    #: Pump power setpoint range of the model, W.
    pump_power_range_w: ClassVar[tuple[float, float]] = (0.0, 3.0)
    #: Oven setpoint range of the model, °C (PPLN is run warm against
    #: photorefractive damage; 200 °C is a typical PPLN-oven limit).
    oven_temperature_range_c: ClassVar[tuple[float, float]] = (25.0, 200.0)
    #: The oven counts as stabilised within this distance of its setpoint, °C.
    oven_stability_tolerance_c: ClassVar[float] = 0.05

    def __init__(self, name: str, address: str, **kwargs: Any) -> None:
        super().__init__(name, address, **kwargs)
        self.pump_power: Parameter = self.add_parameter(
            "pump_power",
            label="Pump power setpoint",
            unit="W",
            get_cmd=":SOUR:POW?",
            set_cmd=":SOUR:POW {:.4f}",
            get_parser=float,
            vals=vals.Numbers(*self.pump_power_range_w),
        )
        self.pump_power_actual: Parameter = self.add_parameter(
            "pump_power_actual",
            label="Measured pump power",
            unit="W",
            get_cmd=":MEAS:POW2?",
            get_parser=float,
            set_cmd=False,
        )
        self.pump_emission: Parameter = self.add_parameter(
            "pump_emission",
            label="Pump emission",
            get_cmd=":OUTP1:STAT?",
            set_cmd=":OUTP1:STAT {}",
            val_mapping=create_on_off_val_mapping(on_val="1", off_val="0"),
        )
        self.oven_setpoint_c: Parameter = self.add_parameter(
            "oven_setpoint_c",
            label="PPLN oven setpoint",
            unit="°C",
            get_cmd=f"{_CELSIUS}:SOUR2:TEMP:SPO?",
            set_cmd=f"{_CELSIUS}:SOUR2:TEMP:SPO {{:.3f}}",
            get_parser=float,
            vals=vals.Numbers(*self.oven_temperature_range_c),
        )
        self.oven_temperature_c: Parameter = self.add_parameter(
            "oven_temperature_c",
            label="PPLN oven temperature",
            unit="°C",
            get_cmd=f"{_CELSIUS}:MEAS:TEMP?",
            get_parser=float,
            set_cmd=False,
        )
        self.oven_heater: Parameter = self.add_parameter(
            "oven_heater",
            label="PPLN oven heater",
            get_cmd=":OUTP2:STAT?",
            set_cmd=":OUTP2:STAT {}",
            val_mapping=create_on_off_val_mapping(on_val="1", off_val="0"),
        )
        self.oven_stable: Parameter = self.add_parameter(
            "oven_stable",
            label="PPLN oven stabilised",
            get_cmd=self._oven_is_stable,
            set_cmd=False,
            docstring="True when the heater is on and the oven is within "
                      "oven_stability_tolerance_c of its setpoint.",
        )

    def _oven_is_stable(self) -> bool:
        """Whether the heater is on and the oven is within tolerance of its setpoint."""
        if not self.oven_heater.get():
            return False
        error_c = self.oven_temperature_c.get() - self.oven_setpoint_c.get()
        return abs(error_c) <= self.oven_stability_tolerance_c

    def safe_state(self) -> None:
        """Stop pump emission; leave the oven (setpoint and heater) as it is.

        The multi-watt pump is the hazard. The PPLN oven is deliberately not
        touched: a fast temperature change of PPLN builds up pyroelectric
        charge and thermal stress that can damage the crystal, and
        re-stabilising the phase matching takes long, so it stays at
        temperature. Cool it down slowly, by hand, if it must be cooled.
        """
        log.info("%s: safe state, pump emission off (oven left as is)", self.name)
        self.pump_emission.set(False)
