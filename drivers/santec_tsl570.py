"""Santec TSL-570 tunable CW laser (the excitation/probe laser of a node).

Modeled on the Santec TSL-570 family (type A: 1480-1640 nm, up to +13 dBm).
Commands confirmed from the TSL-570 SCPI command list: ``*IDN?``,
``:WAVelength`` / ``:WAVelength?`` (nm), ``:POWer[:LEVel]`` with
``:POWer:UNIT 0|1`` (0 = dBm, 1 = mW), ``:POWer:ACTual?``,
``:POWer:STATe 0|1`` (laser diode on/off) and ``:SYSTem:ERRor?``.
Every power command names its unit (``:POW:UNIT 1;...``) so the driver never
depends on the front-panel unit and needs no I/O at construction.
"""

from __future__ import annotations

from typing import Any, ClassVar

from qcodes import validators as vals
from qcodes.parameters import Parameter, create_on_off_val_mapping

from drivers._laser import ParameterLaser
from labctl.visa import ScpiInstrument

_MW_PER_W = 1e3


def _wavelength_nm(reply: str) -> float:
    """Parse a wavelength reply; some firmware answers in metres, others in nm."""
    value = float(reply)
    return value * 1e9 if value < 1e-3 else value


class TSL570Laser(ParameterLaser):
    """The TSL-570 as a `labctl.instruments.Laser` (no lock or alarm query: reported clear)."""


class SantecTSL570(ScpiInstrument):
    """Santec TSL-570 tunable laser: wavelength, power and emission on/off."""

    #: Provides `labctl.instruments.Laser` (`labctl.instruments.roles`).
    capability_adapter: ClassVar[type] = TSL570Laser

    error_query = ":SYST:ERR?"
    #: Tuning range of the model (type A), nm.
    wavelength_range_nm: ClassVar[tuple[float, float]] = (1480.0, 1640.0)
    #: Output power range of the model, W (0.01 mW to +13 dBm).
    power_range_w: ClassVar[tuple[float, float]] = (1e-5, 0.02)

    def __init__(self, name: str, address: str, **kwargs: Any) -> None:
        super().__init__(name, address, **kwargs)
        self.wavelength_nm: Parameter = self.add_parameter(
            "wavelength_nm",
            label="Wavelength",
            unit="nm",
            get_cmd=":WAV?",
            set_cmd=":WAV {:.4f}",
            get_parser=_wavelength_nm,
            vals=vals.Numbers(*self.wavelength_range_nm),
        )
        self.power: Parameter = self.add_parameter(
            "power",
            label="Output power setpoint",
            unit="W",
            get_cmd=":POW:UNIT 1;:POW?",
            set_cmd=":POW:UNIT 1;:POW {:.5f}",
            get_parser=lambda reply: float(reply) / _MW_PER_W,
            set_parser=lambda watts: watts * _MW_PER_W,
            vals=vals.Numbers(*self.power_range_w),
        )
        self.power_actual: Parameter = self.add_parameter(
            "power_actual",
            label="Measured output power",
            unit="W",
            get_cmd=":POW:UNIT 1;:POW:ACT?",
            get_parser=lambda reply: float(reply) / _MW_PER_W,
            set_cmd=False,
        )
        self.output: Parameter = self.add_parameter(
            "output",
            label="Laser emission",
            get_cmd=":POW:STAT?",
            set_cmd=":POW:STAT {}",
            val_mapping=create_on_off_val_mapping(on_val="1", off_val="0"),
        )

    def safe_state(self) -> None:
        """Stop emission (laser diode off)."""
        self.output.set(False)
