"""The converter's PPLN oven: a Thorlabs TC200 heater controller on its serial port.

Command set and reply format: `wire_formats.thorlabs_tc200` (Thorlabs *TC200
User Guide*, "Computer Interface", as QMI's and InstrumentKit's hardware-tested
drivers use it). Commands used: ``tset=<°C>``/``tset?`` (setpoint), ``tact?``
(oven temperature), ``stat?`` (bit 0: heater output enabled; bit 6: sensor
alarm), ``ens`` (toggle the heater output), ``id?``.

labctl's assumptions where the interface is not documented in what was read:
temperatures are sent and answered in °C whatever the front-panel display unit
(the replies carry a unit word; one that is not Celsius is refused, not
converted), and ``ens`` takes effect before the prompt that ends its reply.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, ClassVar

from qcodes.instrument import InstrumentBase, InstrumentModule

from drivers._serial_line import SerialLine, unit_config
from labctl.errors import DriverError, TransportError
from wire_formats import thorlabs_tc200 as tc

log = logging.getLogger(__name__)

_CELSIUS_WORDS = {"C", "CELSIUS"}


class TC200Oven(InstrumentModule):
    """One TC200 on its own serial line (a submodule of the converter)."""

    setpoint_range_c: ClassVar[tuple[float, float]] = tc.SETPOINT_RANGE_C

    def __init__(self, parent: InstrumentBase, name: str, address: str,
                 timeout: float = 1.0, **kwargs: Any) -> None:
        super().__init__(parent, name, **kwargs)
        self.line = SerialLine(self.full_name, address, tc.BAUD_RATE, timeout)

    @classmethod
    def from_config(cls, parent: InstrumentBase, name: str,
                    config: Mapping[str, Any] | None) -> TC200Oven:
        return cls(parent, name, **unit_config(parent, name, config))

    def command(self, text: str) -> str:
        """Send one command; its reply (echo and prompt removed), or `DriverError`."""
        raw = self.line.exchange(text.encode("ascii") + tc.COMMAND_END, tc.REPLY_END, text)
        try:
            reply = raw.decode("ascii")
        except UnicodeDecodeError:
            raise TransportError(self.full_name, text,   # garbled on the line: retried
                                 f"not ASCII: {raw[:40]!r}") from None
        echo = text + "\r"
        if not reply.startswith(echo):
            raise TransportError(self.full_name, text, f"reply does not echo the command: "
                                                       f"{reply[:40]!r}")
        body = reply[len(echo):-len(tc.REPLY_END)].strip("\r ")
        if tc.CMD_NOT_DEFINED in body:
            raise DriverError(self.full_name, text, tc.CMD_NOT_DEFINED)
        if tc.CMD_ARG_RANGE_ERR in body:
            raise DriverError(self.full_name, text, tc.CMD_ARG_RANGE_ERR)
        return body

    def _celsius(self, query: str) -> float:
        reply = self.command(query)
        parts = reply.split()
        if len(parts) != 2 or parts[1].upper() not in _CELSIUS_WORDS:
            raise DriverError(self.full_name, query, f"expected '<value> C', got {reply!r}")
        try:
            return float(parts[0])
        except ValueError:
            raise DriverError(self.full_name, query, f"not a temperature: {reply!r}") from None

    def status(self) -> tc.Status:
        reply = self.command("stat?")
        try:
            return tc.Status(int(reply, 16) & 0xFF)
        except ValueError:
            raise DriverError(self.full_name, "stat?", f"not a status byte: {reply!r}") from None

    def set_setpoint_c(self, celsius: float) -> None:
        self.command(f"tset={celsius:.1f}")

    def setpoint_c(self) -> float:
        return self._celsius("tset?")

    def temperature_c(self) -> float:
        return self._celsius("tact?")

    def heater(self) -> bool:
        return tc.Status.ENABLED in self.status()

    def set_heater(self, on: bool) -> None:
        """``ens`` toggles: toggle only if the output is not already as wanted."""
        status = self.status()
        if on and tc.Status.ALARM in status:
            raise DriverError(self.full_name, "ens", "sensor alarm: the heater cannot be "
                                                     "enabled")
        if (tc.Status.ENABLED in status) != on:
            self.command("ens")

    def identity(self) -> str:
        return self.command("id?")

    def close(self) -> None:
        self.line.close()
