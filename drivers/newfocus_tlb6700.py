"""New Focus (Newport) TLB-6700 Velocity tunable diode laser: the 637 nm NV excitation laser.

Modeled on the TLB-6700 controller with a TLB-6704 head (634-639 nm), the
resonant excitation laser of an NV-centre node. The driver sets the
wavelength, the diode power (constant-power mode) and the piezo, reads back
the actual wavelength, power and diode current, and switches emission.

The Velocity speaks SCPI-like ASCII commands but has no ``SYSTem:ERRor?``
queue: every *set* command is answered with one line, ``OK`` when it was
accepted, and errors are read one at a time from an error buffer with
``ERRSTR?`` (``*STB?`` reads 128 while that buffer holds errors, as
third-party code has it). So this driver's write path reads that
acknowledgement after every write, and when it is not ``OK`` drains
``ERRSTR?`` and raises `DriverError(command, "<reply>; <errors>")`.

Seen in use (see below for what that means):

- ``*IDN?`` -> ``New_Focus 6700 v2.4 03/19/14 SN1012`` (a real unit's reply)
- ``OK`` as the reply to every accepted set command; ``ERRSTR?`` pops one error
- ``SOURce:WAVElength <nm>`` / ``SOURce:WAVElength?``; ``SENSe:WAVElength?`` (actual)
- ``SOURce:POWer:DIODe <mW>`` / ``...?``; ``SENSe:POWer:DIODe?`` (actual, mW)
- ``SENSe:CURRent:DIODe?`` (actual, mA)
- ``SOURce:CPOWer 1|0`` / ``...?`` (constant-power mode)
- ``OUTPut:STATe 1|0`` / ``...?`` (emission); ``OUTPut:TRACk 1|0`` / ``...?``
- ``SOURce:VOLTage:PIEZo <%>`` / ``...?`` (0-100 % of the piezo's range)

"Seen" means: the spelling, argument and reply unit agree across several
independent third-party TLB-6700 drivers, among them QuTech's QMI driver
(``qmi/instruments/newport/tlb670x.py``, written with Newport's permission),
which also documents the ``OK`` acknowledgements, CR LF separated reply
lines and the piezo voltage as a percentage of its range. Newport's manual
itself was not available, so nothing here is quoted from it.

labctl's own, not verified against the unit:

- the format of an ``ERRSTR?`` entry: parsed as ``<code>,<text>`` with code 0
  meaning "no error" (`labctl.visa.parse_error_reply`); an entry that does not
  parse is reported verbatim;
- what the unit answers to a refused set command: anything but ``OK`` counts
  as a refusal; no reply within the VISA timeout counts too;
- the transport: every third-party driver seen reaches the controller
  through Newport's USB library (``newp_usb_send_ascii`` /
  ``newp_usb_get_ascii``), not VISA; this driver talks VISA with CR LF
  terminators (the pyvisa-sim twin, the virtual lab's TCP socket, or a VISA
  bridge to the USB library);
- the number formats sent (``{:.3f}`` nm and mW, ``{:.2f}`` %);
- the limits: 634-639 nm is the TLB-6704 tuning range as given for this
  node; 0-12 mW as the diode power setpoint range is an assumption (the
  head's specification was not found). Station files narrow it further.

``SOURce:POWer:DIODe`` acts while constant-power mode is on; with it off the
controller holds the diode current instead.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from pyvisa import constants
from pyvisa.errors import VisaIOError
from qcodes import validators as vals
from qcodes.parameters import Parameter, create_on_off_val_mapping

from drivers._laser import ParameterLaser
from labctl.instruments.laser import LaserStatus
from labctl.visa import ScpiInstrument

log = logging.getLogger(__name__)

_MW_PER_W = 1e3
_MA_PER_A = 1e3
_ON_OFF = create_on_off_val_mapping(on_val="1", off_val="0")


class TLB6700Laser(ParameterLaser):
    """The TLB-6700 as a `labctl.instruments.Laser`.

    The controller reports no lock flag; with wavelength tracking on it holds
    the measured wavelength at the setpoint, so the laser counts as locked while
    the two agree within `lock_tolerance_nm`.
    """

    #: How far the measured wavelength may stray from the setpoint while locked, nm.
    lock_tolerance_nm = 0.01

    def wavelength_nm(self) -> float:
        return float(self.instrument.wavelength_actual_nm())

    def status(self) -> LaserStatus:
        drift = abs(float(self.instrument.wavelength_actual_nm())
                    - float(self.instrument.wavelength_nm()))
        return LaserStatus(emission=bool(self.instrument.output()),
                           locked=drift <= self.lock_tolerance_nm)

class NewFocusTLB6700(ScpiInstrument):
    """TLB-6700 Velocity laser: wavelength, diode power, piezo, emission on/off."""

    #: Provides `labctl.instruments.Laser` (`labctl.instruments.roles`).
    capability_adapter: ClassVar[type] = TLB6700Laser

    default_terminator = "\r\n"
    error_query = "ERRSTR?"
    #: The line the controller answers an accepted set command with.
    acknowledgement: ClassVar[str] = "OK"
    #: Laser head these limits are for.
    head_model: ClassVar[str] = "TLB-6704"
    #: Tuning range of the head, nm.
    wavelength_range_nm: ClassVar[tuple[float, float]] = (634.0, 639.0)
    #: Diode power setpoint range of the head, W (assumed, see module docstring).
    power_range_w: ClassVar[tuple[float, float]] = (0.0, 0.012)
    #: Piezo voltage range, percent of the piezo's full range.
    piezo_range_percent: ClassVar[tuple[float, float]] = (0.0, 100.0)

    def __init__(self, name: str, address: str, **kwargs: Any) -> None:
        super().__init__(name, address, **kwargs)
        self.wavelength_nm: Parameter = self.add_parameter(
            "wavelength_nm",
            label="Wavelength setpoint",
            unit="nm",
            get_cmd="SOURce:WAVElength?",
            set_cmd="SOURce:WAVElength {:.3f}",
            get_parser=float,
            vals=vals.Numbers(*self.wavelength_range_nm),
        )
        self.wavelength_actual_nm: Parameter = self.add_parameter(
            "wavelength_actual_nm",
            label="Measured wavelength",
            unit="nm",
            get_cmd="SENSe:WAVElength?",
            get_parser=float,
            set_cmd=False,
        )
        self.power: Parameter = self.add_parameter(
            "power",
            label="Diode power setpoint",
            unit="W",
            get_cmd="SOURce:POWer:DIODe?",
            set_cmd="SOURce:POWer:DIODe {:.3f}",
            get_parser=lambda reply: float(reply) / _MW_PER_W,
            set_parser=lambda watts: watts * _MW_PER_W,
            vals=vals.Numbers(*self.power_range_w),
        )
        self.power_actual: Parameter = self.add_parameter(
            "power_actual",
            label="Measured diode power",
            unit="W",
            get_cmd="SENSe:POWer:DIODe?",
            get_parser=lambda reply: float(reply) / _MW_PER_W,
            set_cmd=False,
        )
        self.diode_current: Parameter = self.add_parameter(
            "diode_current",
            label="Measured diode current",
            unit="A",
            get_cmd="SENSe:CURRent:DIODe?",
            get_parser=lambda reply: float(reply) / _MA_PER_A,
            set_cmd=False,
        )
        self.constant_power: Parameter = self.add_parameter(
            "constant_power",
            label="Constant-power mode",
            get_cmd="SOURce:CPOWer?",
            set_cmd="SOURce:CPOWer {}",
            val_mapping=_ON_OFF,
        )
        self.piezo_voltage: Parameter = self.add_parameter(
            "piezo_voltage",
            label="Piezo voltage",
            unit="%",
            get_cmd="SOURce:VOLTage:PIEZo?",
            set_cmd="SOURce:VOLTage:PIEZo {:.2f}",
            get_parser=float,
            vals=vals.Numbers(*self.piezo_range_percent),
            docstring="Piezo voltage as a percentage of the piezo's range.",
        )
        self.wavelength_tracking: Parameter = self.add_parameter(
            "wavelength_tracking",
            label="Wavelength tracking",
            get_cmd="OUTPut:TRACk?",
            set_cmd="OUTPut:TRACk {}",
            val_mapping=_ON_OFF,
        )
        self.output: Parameter = self.add_parameter(
            "output",
            label="Laser emission",
            get_cmd="OUTPut:STATe?",
            set_cmd="OUTPut:STATe {}",
            val_mapping=_ON_OFF,
        )

    def get_idn(self) -> dict[str, str | None]:
        """Parse the space-separated ``New_Focus 6700 v2.4 03/19/14 SN1012`` reply."""
        reply = self.ask("*IDN?").strip()
        parts = reply.split()
        if len(parts) < 3 or not parts[-1].upper().startswith("SN"):
            log.warning("%s: unexpected *IDN? reply %r", self.name, reply)
            return {"vendor": None, "model": reply or None, "serial": None, "firmware": None}
        return {
            "vendor": parts[0].replace("_", " "),
            "model": f"TLB-{parts[1]}",
            "serial": parts[-1],
            "firmware": " ".join(parts[2:-1]) or None,
        }

    def check_error_queue(self, command: str) -> None:
        """Read the reply to ``command``; unless it is ``OK`` raise `DriverError`.

        The reply and the drained ``ERRSTR?`` entries make the error's reply text.
        """
        handle = self.visa_handle
        try:
            reply = handle.read().strip()
        except VisaIOError as error:
            if error.error_code != constants.StatusCode.error_timeout:
                raise
            reply = "no reply (timeout)"
        if reply == self.acknowledgement:
            return
        self._refuse(command, [reply, *self.drain_error_queue()])

    def safe_state(self) -> None:
        """Stop emission (laser diode off)."""
        log.info("%s: safe state, emission off", self.name)
        self.output.set(False)
