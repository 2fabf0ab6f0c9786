"""Rohde & Schwarz SGS100A microwave source (spin control of the NV centre).

labctl reuses the driver QCoDeS ships,
`qcodes.instrument_drivers.rohde_schwarz.RohdeSchwarzSGS100A`, and only adds
what every labctl driver has: the SCPI error queue (``SYST:ERR?``, answered
``0,"No error"`` by the SGS100A) is read after every write and a refusal
raises `DriverError(command, reply)`, and `safe_state()` switches the RF
output off (microwave power into a cryostat stripline heats the sample).

All parameters are QCoDeS's: ``frequency`` (Hz, 1 MHz..20 GHz; the NV
ground-state transitions near 2.88 GHz are well inside), ``power`` (dBm),
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
from typing import Any

from qcodes.instrument_drivers.rohde_schwarz import (
    RohdeSchwarzSGS100A as QcodesRohdeSchwarzSGS100A,
)

from labctl.visa import ScpiErrorQueueMixin

log = logging.getLogger(__name__)


class RohdeSchwarzSGS100A(ScpiErrorQueueMixin, QcodesRohdeSchwarzSGS100A):
    """QCoDeS's SGS100A driver with labctl's error-queue check and safe state."""

    error_query = "SYST:ERR?"

    def __init__(self, name: str, address: str, **kwargs: Any) -> None:
        super().__init__(name, address, **kwargs)
        # QCoDeS sends *TST? as a write; make it a query (see module docstring).
        del self.functions["run_self_tests"]
        self.add_function("run_self_tests", call_cmd="*TST?", return_parser=int)

    def safe_state(self) -> None:
        """Switch the RF output off; frequency, power and modulation are left as set."""
        log.info("%s: safe state, RF output off", self.name)
        self.status.set(False)
