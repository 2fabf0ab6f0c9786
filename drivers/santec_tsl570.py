"""Santec TSL-570 tunable CW laser (the phase-reference laser of the heralding station).

Modeled on the Santec TSL-570 family (type A: 1480-1640 nm, -15 dBm to
+13 dBm). Where the facts come from:

- Santec's own Python driver for the TSL series (santec-corporation, the
  ``TSL`` class written from the TSL-570 programming guide, "Legacy" command
  set) and QuTech's QMI driver ``qmi/instruments/santec/tsl_570.py`` (PyPI
  ``qmi``) agree on: ``*IDN?`` (``SANTEC,TSL-570,<serial>,<firmware>``),
  ``:WAVelength`` / ``:WAVelength?`` (nm), ``:POWer[:LEVel]`` with
  ``:POWer:UNIT 0|1`` (0 = dBm, 1 = mW), ``:POWer:ACTual?``,
  ``:POWer:STATe 0|1`` (laser output on/off), ``:SYSTem:ERRor?``
  (``0,"No error"`` when empty) and ``:SYSTem:ALERt?`` (``No alerts.``, or
  alert codes ``NoXX.``: No05 wavelength error, No07 interlock detection ...,
  `ALERTS`); the power setting range -15 dBm to +13 dBm (20 mW).
- Santec's driver alone: ``:SYSTem:LOCK?`` (1 = external interlock open),
  the LAN port (``:SYSTem:COMMunicate:ETHernet:PORT?``) and the GPIB
  delimiter codes (0 = CR).
- QMI: commands and replies end with a carriage return (its SCPI protocol
  is set up with CR both ways); every third-party LAN driver seen connects
  to TCP port 5000 (`lan_port`), the unit's factory setting.

labctl's own, not verified against a unit: the compound ``:POW:UNIT 1;...``
messages (so the power commands never depend on the front-panel unit and
the driver needs no I/O at construction); the format of an alert reply with
several alerts (codes joined by commas); that alert No05 means the laser
cannot hold its wavelength (`TSL570Laser.status` reports it unlocked).
The station's address is ``TCPIP0::<host>::5000::SOCKET``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from qcodes import validators as vals
from qcodes.parameters import Parameter, create_on_off_val_mapping

from drivers._laser import ParameterLaser
from labctl.errors import DriverError
from labctl.instruments.laser import LaserStatus
from labctl.visa import ScpiInstrument

_MW_PER_W = 1e3
#: What ``:SYSTem:ALERt?`` answers while no alert is active.
NO_ALERTS = "No alerts."
#: ``:SYSTem:ALERt?`` codes (Santec's TSL programming guide, via santec's driver).
ALERTS: dict[str, str] = {
    "No00": "power supply error 1", "No02": "power supply error 2",
    "No03": "power supply error 3", "No04": "power setting error",
    "No05": "wavelength error", "No06": "attenuator error", "No07": "interlock detection",
    "No20": "temperature control error 1", "No21": "temperature control error 2",
    "No22": "temperature control error 3", "No23": "temperature control error 4",
    "No24": "sensor error 1", "No25": "shutter error", "No26": "sensor error 2",
    "No27": "connection error", "No30": "exhaust fan error",
}
#: The alert that means the wavelength is not held.
WAVELENGTH_ALERT = "No05"


def parse_alerts(reply: str) -> list[str]:
    """The alerts of a ``:SYSTem:ALERt?`` reply as ``"No07 interlock detection"`` lines."""
    reply = reply.strip()
    if reply == NO_ALERTS:
        return []
    codes = [code.strip().rstrip(".") for code in reply.split(",") if code.strip()]
    return [f"{code} {ALERTS.get(code, 'unknown alert')}" for code in codes]


def _wavelength_nm(reply: str) -> float:
    """Parse a wavelength reply; some firmware answers in metres, others in nm."""
    value = float(reply)
    return value * 1e9 if value < 1e-3 else value


class TSL570Laser(ParameterLaser):
    """The TSL-570 as a `labctl.instruments.Laser`: alerts and the interlock make its status.

    The unit has no wavelength-lock flag: it counts as locked unless alert No05
    (wavelength error) is active. ``alarm`` joins the active alerts and an open
    interlock.
    """

    def status(self) -> LaserStatus:
        alerts = self.instrument.alerts()
        problems = list(alerts)
        if self.instrument.interlock_open() and not any(a.startswith("No07") for a in alerts):
            problems.append("external interlock open")
        return LaserStatus(emission=bool(self.instrument.output()),
                           locked=not any(a.startswith(WAVELENGTH_ALERT) for a in alerts),
                           alarm="; ".join(problems) or None)


class SantecTSL570(ScpiInstrument):
    """Santec TSL-570 tunable laser: wavelength, power and emission on/off."""

    #: Provides `labctl.instruments.Laser` (`labctl.instruments.roles`).
    capability_adapter: ClassVar[type] = TSL570Laser
    #: The model field of the unit's identity this driver drives (a TSL-570);
    #: `labctl station check --contact` names a unit that answers otherwise.
    expected_model: ClassVar[str] = r"TSL-570"

    default_terminator = "\r"
    error_query = ":SYST:ERR?"
    #: The TCP port the unit listens on (LAN).
    lan_port: ClassVar[int] = 5000
    #: Tuning range of the model (type A), nm.
    wavelength_range_nm: ClassVar[tuple[float, float]] = (1480.0, 1640.0)
    #: Output power setting range of the model, W (-15 dBm to 20 mW).
    power_range_w: ClassVar[tuple[float, float]] = (10.0 ** -1.5 / _MW_PER_W, 0.02)

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

        self.interlock_open: Parameter = self.add_parameter(
            "interlock_open",
            label="External interlock open",
            get_cmd=":SYST:LOCK?",
            set_cmd=False,
            val_mapping=create_on_off_val_mapping(on_val="1", off_val="0"),
        )

    def alerts(self) -> list[str]:
        """The active alerts (``:SYSTem:ALERt?``), e.g. ``["No07 interlock detection"]``."""
        return parse_alerts(self.ask(":SYST:ALER?"))

    def safe_state(self) -> None:
        """Stop emission (laser output off) and check that it reads back off."""
        self.output.set(False)
        if self.output.get():
            raise DriverError(self.name, ":POW:STAT 0", "emission still on after switching off")
