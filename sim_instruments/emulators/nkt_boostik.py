"""Emulator of the converter's pump amplifier: an NKT BoostiK OEM amplifier on Interbus.

Answers Interbus frames (`wire_formats.nkt_interbus`) addressed to the
amplifier's module address; the pump's settings live in the world's
`ConverterState` (``pump_power_w`` is the power setpoint, ``pump_emission``
the state register's "on"). Emulated registers: 22h power setpoint (0.1 dBm),
15h output power (mW; the setpoint while emitting, else 0), 30h state (0 off,
1 constant current, 2 constant power), 21h/19h pump current setpoint/reading
(kept, not physics), 66h status (bit 0 emission), 67h error code (0), 61h
module type (70h), 64h firmware, 65h serial number, 10h/12h/17h temperatures
and supply voltage (constants). A READ is answered by a DATAGRAM, a WRITE by
an ACK; a write of the wrong size, an out-of-range value, an unknown register
or a write to a read-only one by a NACK; a frame with a bad CRC by a CRC_ERROR
message (the SDK manual's message type 1). Frames for another module address
are not answered (another module on the bus would answer them).
"""

from __future__ import annotations

import logging
import struct

from sim_instruments.world_state import ConverterState
from wire_formats import nkt_interbus as ib
from wire_formats.nkt_interbus import BoostikRegister as Reg

log = logging.getLogger(__name__)

_READ_ONLY_CONSTANTS: dict[int, bytes] = {
    Reg.HEAT_SINK_TEMPERATURE: struct.pack("<h", 312),     # 31.2 °C
    Reg.SUPPLY_VOLTAGE: struct.pack("<H", 12_010),         # 12.01 V
    Reg.AMPLIFIER_TEMPERATURE: struct.pack("<h", 298),
    Reg.MODULE_TYPE: struct.pack("<B", ib.BOOSTIK_MODULE_TYPE),
    Reg.FIRMWARE: struct.pack("<H", 0x0104),
    Reg.SERIAL_NUMBER: b"LABCTL-N83-0001",
    Reg.ERROR_CODE: struct.pack("<B", 0),
}


class BoostikEmulator:
    """One BoostiK amplifier; its pump settings are ``state``'s."""

    def __init__(self, state: ConverterState, module_address: int = ib.BOOSTIK_ADDRESS) -> None:
        self.state = state
        self.module_address = module_address
        self.pump_current_setpoint_ma = 0
        self.constant_current = False

    def next_message(self, buffer: bytearray) -> bytes | None:
        return ib.next_frame(buffer)

    def respond(self, frame: bytes) -> bytes | None:
        try:
            request = ib.decode(frame)
        except ib.FrameError as error:
            log.info("BoostiK: %s", error)
            if len(frame) >= 8 and frame[1] == self.module_address:
                return ib.encode(ib.Message(frame[2], self.module_address,
                                            ib.MessageType.CRC_ERROR, frame[4]))
            return None
        if request.destination != self.module_address:
            return None
        if request.type is ib.MessageType.READ:
            data = self._read(request.register)
            if data is not None:
                return self._reply(request, ib.MessageType.DATAGRAM, data)
        elif request.type is ib.MessageType.WRITE and self._write(request.register,
                                                                   request.data):
            return self._reply(request, ib.MessageType.ACK)
        return self._reply(request, ib.MessageType.NACK)

    def _reply(self, request: ib.Message, kind: ib.MessageType, data: bytes = b"") -> bytes:
        return ib.encode(ib.Message(request.source, self.module_address, kind,
                                    request.register, data))

    def _state(self) -> ib.BoostikState:
        if not self.state.pump_emission:
            return ib.BoostikState.OFF
        return ib.BoostikState.CURRENT if self.constant_current else ib.BoostikState.POWER

    def _read(self, register: int) -> bytes | None:
        if register in _READ_ONLY_CONSTANTS:
            return _READ_ONLY_CONSTANTS[register]
        if register == Reg.POWER_SETPOINT:
            low, high = -32768, 32767
            value = ib.watts_to_setpoint(self.state.pump_power_w)
            return struct.pack("<h", max(low, min(high, value)))
        if register == Reg.OUTPUT_POWER:
            return struct.pack("<H", round(self.state.actual_pump_power() * 1e3))
        if register == Reg.STATE:
            return struct.pack("<B", self._state())
        if register == Reg.STATUS:
            status = ib.BoostikStatus.EMISSION if self.state.pump_emission else 0
            return struct.pack("<H", int(status))
        if register == Reg.PUMP_CURRENT_SETPOINT:
            return struct.pack("<H", self.pump_current_setpoint_ma)
        if register == Reg.PUMP_CURRENT:
            return struct.pack("<H", self.pump_current_setpoint_ma if self.state.pump_emission
                               else 0)
        return None

    def _write(self, register: int, data: bytes) -> bool:
        if register == Reg.POWER_SETPOINT and len(data) == 2:
            watts = ib.setpoint_to_watts(struct.unpack("<h", data)[0])
            low, high = ib.BOOSTIK_POWER_RANGE_W
            if not low * 0.99 <= watts <= high * 1.01:   # within a setpoint step
                return False
            self.state.pump_power_w = watts
            return True
        if register == Reg.STATE and len(data) == 1:
            try:
                state = ib.BoostikState(data[0])
            except ValueError:
                return False
            if (state is not ib.BoostikState.OFF) != self.state.pump_emission:
                log.info("BoostiK emission %s (%.4f W)",
                         "off" if state is ib.BoostikState.OFF else "on",
                         self.state.pump_power_w)
            self.state.pump_emission = state is not ib.BoostikState.OFF
            self.constant_current = state is ib.BoostikState.CURRENT
            return True
        if register == Reg.PUMP_CURRENT_SETPOINT and len(data) == 2:
            self.pump_current_setpoint_ma = struct.unpack("<H", data)[0]
            return True
        return False
