"""Rohde & Schwarz SGS100A microwave source (spin control of the NV centre).

labctl reuses the driver QCoDeS ships,
`qcodes.instrument_drivers.rohde_schwarz.RohdeSchwarzSGS100A`, and only adds
what every labctl driver has: the SCPI error queue (``SYST:ERR?``, answered
``0,"No error"`` by the SGS100A) is read after every write and a refusal
raises `DriverError(command, reply)`, and `safe_state()` switches the RF
output off (microwave power into a cryostat stripline heats the sample).

All parameters are QCoDeS's, plus ``options`` (``*OPT?``) and
``power_limit``: ``frequency`` (Hz, 1 MHz up to the frequency option read
at connect — 6 GHz for SGS-B106, 12.75 GHz for SGS-B112 — instead of
QCoDeS's fixed 20 GHz; the NV ground-state transitions near 2.88 GHz are
well inside), ``power`` (dBm),
``phase`` (deg), ``status`` (RF output on/off), IQ and pulse-modulation
settings, reference-oscillator routing and ``operation_mode``.

Two notes on the QCoDeS driver:

- its ``__init__`` does no I/O beyond connecting: it opens the resource and
  ends with ``connect_message()``, i.e. one ``*IDN?`` query (which prints the
  QCoDeS connect line);
- it declares ``run_self_tests`` (``*TST?``) as a write, so the self-test
  result would stay in the output buffer; with the error-queue check after
  every write it would be read as the error-queue reply and leave the real
  reply to desynchronise the next query. This subclass redeclares it as a
  query that returns the self-test code (0 = passed).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from qcodes import validators as vals
from qcodes.instrument_drivers.rohde_schwarz import (
    RohdeSchwarzSGS100A as QcodesRohdeSchwarzSGS100A,
)
from qcodes.parameters import Parameter

from labctl.errors import DriverError, LabctlError
from labctl.instruments.adapter import Adapter
from labctl.visa import ScpiErrorQueueMixin, parse_error_reply

log = logging.getLogger(__name__)


class SGS100AMicrowave(Adapter[QcodesRohdeSchwarzSGS100A]):
    """An SGS100A as a `labctl.instruments.MicrowaveSource`: QCoDeS's driver or labctl's.

    With QCoDeS's own driver (which reads no error queue) every setting is
    followed by ``SYST:ERR?`` and a refusal raises `DriverError`; labctl's
    subclass checks after every write already. The safe state is RF off, read
    back.
    """

    #: The model QCoDeS's driver drives (`labctl.contact`).
    expected_model: ClassVar[str] = r"SGS100A"

    def _checked(self, command: str) -> None:
        if isinstance(self.instrument, ScpiErrorQueueMixin):
            return
        reply = self.instrument.ask("SYST:ERR?")
        if parse_error_reply(reply) != 0:
            raise DriverError(self.instrument.name, command, reply)

    def set_frequency_hz(self, frequency_hz: float) -> None:
        self.instrument.frequency(frequency_hz)
        self._checked("frequency")

    def frequency_hz(self) -> float:
        return float(self.instrument.frequency())

    def set_power_dbm(self, power_dbm: float) -> None:
        self.instrument.power(power_dbm)
        self._checked("power")

    def power_dbm(self) -> float:
        return float(self.instrument.power())

    def set_iq_modulation(self, on: bool) -> None:
        self.instrument.IQ_state(on)
        self._checked("IQ_state")

    def set_output(self, on: bool) -> None:
        self.instrument.status(on)
        self._checked("status")

    def output(self) -> bool:
        return bool(self.instrument.status())

    def safe_state(self) -> None:
        """RF output off, verified by reading it back."""
        self.instrument.status(False)
        if self.instrument.status():
            raise LabctlError(f"{self.instrument.name}: RF output still on after switching "
                              "it off")


#: Frequency options (``*OPT?``) -> top of the frequency range, Hz (SGS100A data sheet).
FREQUENCY_OPTIONS: dict[str, float] = {"SGS-B106": 6e9, "SGS-B112": 12.75e9}
MIN_FREQUENCY_HZ = 1e6
#: The RF level range of the QCoDeS driver's ``power`` validator, dBm.
POWER_RANGE_DBM = (-120.0, 25.0)


def max_frequency_hz(options: str) -> float:
    """The top frequency of the ``*OPT?`` reply's frequency option (``SGS-B106V`` counts)."""
    found = [top for name, top in FREQUENCY_OPTIONS.items()
             for option in options.split(",") if option.strip().upper().startswith(name)]
    if not found:
        raise ValueError(f"*OPT? reply {options.strip()!r} names no frequency option "
                         f"({', '.join(FREQUENCY_OPTIONS)})")
    return max(found)


class RohdeSchwarzSGS100A(ScpiErrorQueueMixin, QcodesRohdeSchwarzSGS100A):
    """QCoDeS's SGS100A driver with labctl's error-queue check and safe state.

    At connect it reads ``*OPT?`` (``options``) and narrows ``frequency`` to
    the installed frequency option (SGS-B106: 6 GHz, SGS-B112: 12.75 GHz);
    a station's ``safety_limits`` narrow it further. ``power_limit`` is the
    unit's level limit ``SOUR:POW:LIM`` (R&S SGS100A user manual,
    remote-control chapter, SOURce:POWer subsystem).
    """

    error_query = "SYST:ERR?"
    #: Provides `labctl.instruments.MicrowaveSource` (`labctl.instruments.roles`).
    capability_adapter: ClassVar[type] = SGS100AMicrowave
    #: The model field of the unit's identity this driver drives (an SGS100A);
    #: `labctl station check --contact` names a unit that answers otherwise.
    expected_model: ClassVar[str] = r"SGS100A"

    def __init__(self, name: str, address: str, **kwargs: Any) -> None:
        super().__init__(name, address, **kwargs)
        # QCoDeS sends *TST? as a write; make it a query (see module docstring).
        del self.functions["run_self_tests"]
        self.add_function("run_self_tests", call_cmd="*TST?", return_parser=int)
        self.options: Parameter = self.add_parameter(
            "options", label="Installed options (*OPT?)", get_cmd="*OPT?", set_cmd=False,
            get_parser=str.strip)
        self.power_limit: Parameter = self.add_parameter(
            "power_limit", label="RF level limit", unit="dBm", get_cmd="SOUR:POW:LIM?",
            set_cmd="SOUR:POW:LIM {:.2f}", get_parser=float,
            vals=vals.Numbers(*POWER_RANGE_DBM))
        try:
            top = max_frequency_hz(self.options.get())
        except ValueError as error:
            raise DriverError(self.name, "*OPT?", str(error)) from None
        self.frequency.vals = vals.Numbers(MIN_FREQUENCY_HZ, top)

    def safe_state(self) -> None:
        """Switch the RF output off; frequency, power and modulation are left as set."""
        log.info("%s: safe state, RF output off", self.name)
        self.status.set(False)
