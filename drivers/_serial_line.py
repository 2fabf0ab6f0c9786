"""A serial line the converter's units are driven over (pyserial), with one-line errors.

The address is what ``serial.serial_for_url`` opens: a port (``/dev/ttyUSB0``,
``COM4``), or a URL such as ``socket://127.0.0.1:5000`` (a serial line served
over TCP, as the virtual lab and terminal servers do) or ``rfc2217://``. Every
failure — a port that cannot be opened, a lost connection, no reply in time —
becomes a `DriverError` naming the unit, the command and the reason.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Mapping
from typing import Any

import serial
from qcodes.instrument import InstrumentBase

from labctl.errors import DriverError, TransportError

log = logging.getLogger(__name__)


class SerialLine:
    """One unit's serial port: write a command, read a reply up to its terminator."""

    def __init__(self, unit: str, address: str, baud_rate: int, timeout_s: float) -> None:
        self.unit = unit
        self.address = address
        self.baud_rate = baud_rate
        self.timeout_s = timeout_s
        self._port: serial.Serial | None = None
        self.open()

    def open(self) -> None:
        try:
            self._port = serial.serial_for_url(self.address, baudrate=self.baud_rate,
                                               timeout=self.timeout_s,
                                               write_timeout=self.timeout_s)
        except (serial.SerialException, ValueError, OSError) as error:
            raise TransportError(self.unit, f"open {self.address}", str(error)) from None

    def reopen(self) -> None:
        """A fresh connection (the old one closed first)."""
        log.info("%s: reconnecting to %s", self.unit, self.address)
        self.close()
        self.open()

    def close(self) -> None:
        if self._port is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                self._port.close()
            self._port = None

    def exchange(self, command: bytes, terminator: bytes, what: str) -> bytes:
        """Send ``command`` (after dropping stale input); the reply through ``terminator``."""
        port = self._port
        if port is None:
            raise TransportError(self.unit, what, "the serial line is closed")
        try:
            port.reset_input_buffer()
            port.write(command)
            port.flush()
            reply = self._read_until(port, terminator)
        except (serial.SerialException, OSError) as error:
            raise TransportError(self.unit, what, f"connection lost: {error}") from None
        if not reply.endswith(terminator):
            raise TransportError(self.unit, what, f"no reply within {self.timeout_s:g} s"
                              + (f" (partial {reply[:40]!r})" if reply else ""))
        return reply

    def _read_until(self, port: serial.SerialBase, terminator: bytes) -> bytes:
        """Read through ``terminator`` or until the timeout; EOF counts as a lost line."""
        reply = bytearray()
        deadline = time.monotonic() + self.timeout_s
        while not reply.endswith(terminator):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            port.timeout = remaining
            chunk = port.read(1)
            if not chunk:
                continue
            reply += chunk
        return bytes(reply)


def unit_config(parent: InstrumentBase, name: str, config: Any) -> dict[str, Any]:
    """A unit's ``init`` entry (``{address: .., timeout: ..}``), checked."""
    if not isinstance(config, Mapping) or not isinstance(config.get("address"), str):
        raise DriverError(parent.full_name, "connect",
                          f"init '{name}' must be a mapping with an 'address' (a serial "
                          f"port or URL), not {config!r}")
    return dict(config)
