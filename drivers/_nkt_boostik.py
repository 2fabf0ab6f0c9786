"""The converter's pump: an NKT Photonics Koheras BoostiK fibre amplifier over Interbus.

The ~1064 nm pump of a 637 -> 1588 nm converter is a seed laser boosted by a
fibre amplifier. labctl drives the amplifier, an NKT Photonics BoostiK OEM
amplifier (N83, module type 70h at Interbus address 02h), over NKT's Interbus
register protocol on its serial port (115200 baud, 8N1). Framing, CRC and the
register file are in `wire_formats.nkt_interbus`, sourced from NKT's *Software
Development Kit for NKT Photonics Instruments — Instruction Manual* v2.1.3,
chapter 2 (Interbus) and section 6.7 (BoostiK OEM amplifier, register file
``70.txt``).

Registers used (section 6.7): 22h output power setpoint (I16, 0.1 dBm), 15h
output power (U16, mW), 30h state (0 off, 1 constant current, 2 constant
power — emission on is "constant power"), 66h status bits, 67h error code,
61h module type, 65h serial number. A READ is answered by a DATAGRAM, a WRITE
by an ACK; a NACK means the module refused (unknown register, value not
allowed) and becomes a `DriverError`.

Not documented publicly, labctl's assumptions: that the 1 µm (Yb) BoostiK
shares the N83 register file; the power range of `BOOSTIK_POWER_RANGE_W`;
that a module which does not answer may be asked once more (QMI's driver
retries the same way, up to ten times; labctl asks twice, then reports).
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Mapping
from typing import Any, ClassVar

from qcodes.instrument import InstrumentBase, InstrumentModule

from drivers._serial_line import SerialLine, unit_config
from labctl.errors import DriverError
from wire_formats import nkt_interbus as ib
from wire_formats.nkt_interbus import BoostikRegister as Reg

log = logging.getLogger(__name__)


class BoostikPump(InstrumentModule):
    """One BoostiK amplifier on its own serial line (a submodule of the converter)."""

    #: Host address labctl sends from (any of 161..255; two alternate, as QMI's
    #: driver does, so a late reply to a retried request is recognised as stale).
    host_addresses: ClassVar[tuple[int, int]] = (0xA1, 0xA2)
    attempts: ClassVar[int] = 2
    power_range_w: ClassVar[tuple[float, float]] = ib.BOOSTIK_POWER_RANGE_W

    def __init__(self, parent: InstrumentBase, name: str, address: str,
                 module_address: int = ib.BOOSTIK_ADDRESS, timeout: float = 1.0,
                 **kwargs: Any) -> None:
        super().__init__(parent, name, **kwargs)
        if module_address not in ib.MODULE_ADDRESSES:
            raise DriverError(self.full_name, "connect",
                              f"module address {module_address} is not in 1..160")
        self.module_address = module_address
        self._sends = 0
        self.line = SerialLine(self.full_name, address, ib.BAUD_RATE, timeout)

    @classmethod
    def from_config(cls, parent: InstrumentBase, name: str,
                    config: Mapping[str, Any] | None) -> BoostikPump:
        return cls(parent, name, **unit_config(parent, name, config))

    # --- registers ----------------------------------------------------------------

    def _request(self, kind: ib.MessageType, register: int, data: bytes = b"") -> ib.Message:
        what = f"{kind.name} register {register:02X}h"
        last: DriverError | None = None
        for _ in range(self.attempts):
            self._sends += 1
            source = self.host_addresses[self._sends % 2]
            frame = ib.encode(ib.Message(self.module_address, source, kind, register, data))
            try:
                reply = ib.decode(self.line.exchange(frame, bytes([ib.EOT]), what))
            except ib.FrameError as error:
                last = DriverError(self.full_name, what, f"bad reply: {error}")
                continue
            except DriverError as error:
                if "connection lost" in error.reply:
                    raise
                last = error
                continue
            if (reply.source, reply.destination, reply.register) != (
                    self.module_address, source, register):
                last = DriverError(self.full_name, what, f"reply for another request "
                                   f"({reply.source}->{reply.destination}, "
                                   f"register {reply.register:02X}h)")
                continue
            if reply.type is ib.MessageType.NACK:
                raise DriverError(self.full_name, what, "NACK (not understood or not allowed)")
            if reply.type in (ib.MessageType.BUSY, ib.MessageType.CRC_ERROR):
                last = DriverError(self.full_name, what, reply.type.name)
                continue
            return reply
        assert last is not None
        raise last

    def read_register(self, register: int) -> bytes:
        reply = self._request(ib.MessageType.READ, register)
        if reply.type is not ib.MessageType.DATAGRAM:
            raise DriverError(self.full_name, f"READ register {register:02X}h",
                              f"answered {reply.type.name}, not DATAGRAM")
        return reply.data

    def write_register(self, register: int, data: bytes) -> None:
        reply = self._request(ib.MessageType.WRITE, register, data)
        if reply.type is not ib.MessageType.ACK:
            raise DriverError(self.full_name, f"WRITE register {register:02X}h",
                              f"answered {reply.type.name}, not ACK")

    def _read(self, register: int, fmt: str) -> int:
        data = self.read_register(register)
        try:
            value: int = struct.unpack(fmt, data)[0]
        except struct.error:
            raise DriverError(self.full_name, f"READ register {register:02X}h",
                              f"{len(data)} data bytes, expected {struct.calcsize(fmt)}") from None
        return value

    # --- what the converter uses ----------------------------------------------------

    def set_power_w(self, power_w: float) -> None:
        self.write_register(Reg.POWER_SETPOINT, struct.pack("<h", ib.watts_to_setpoint(power_w)))

    def power_setpoint_w(self) -> float:
        return ib.setpoint_to_watts(self._read(Reg.POWER_SETPOINT, "<h"))

    def output_power_w(self) -> float:
        return self._read(Reg.OUTPUT_POWER, "<H") * 1e-3

    def set_emission(self, on: bool) -> None:
        state = ib.BoostikState.POWER if on else ib.BoostikState.OFF
        self.write_register(Reg.STATE, struct.pack("<B", state))

    def emission(self) -> bool:
        return self._read(Reg.STATE, "<B") != ib.BoostikState.OFF

    def status(self) -> ib.BoostikStatus:
        return ib.BoostikStatus(self._read(Reg.STATUS, "<H"))

    def error_code(self) -> int:
        return self._read(Reg.ERROR_CODE, "<B")

    def module_type(self) -> int:
        return self._read(Reg.MODULE_TYPE, "<B")

    def serial_number(self) -> str:
        return self.read_register(Reg.SERIAL_NUMBER).decode("ascii", "replace").strip("\x00 ")

    def close(self) -> None:
        self.line.close()

