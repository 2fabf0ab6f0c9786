"""NKT Photonics Interbus: message framing, CRC and the BoostiK OEM amplifier's registers.

Source: NKT Photonics, *Software Development Kit for NKT Photonics Instruments —
Instruction Manual* (v2.1.3, Oct 2018): chapter 2 "NKT Photonics Interbus"
(framing, CRC, message types) and chapter 6 "Register files" (section 6.7,
BoostiK OEM amplifier N83, module type 70h at module address 02h). The manual
itself was not read here; the facts below are as quoted, consistently, by two
hardware-tested third-party implementations: QuTech's QMI
(``qmi/instruments/nkt_photonics/nkt_photonics_interbus_protocol.py`` and
its Koheras AdjustiK driver's module table) and NKT's own register file
``70.txt`` shipped with the SDK (seen in public repositories).

A message, before framing: destination (module address 1..160), source (a host
address 161..255), message type, register number, 0..240 data bytes, and a
CRC-16/CCITT (polynomial 1021h, initial value 0, no reflection) of those bytes,
high byte first. Data are little-endian. Framing: the bytes 0Dh, 0Ah and 5Eh
inside the message are escaped as 5Eh followed by the byte + 40h, and the
message is sent as 0Dh (start of transmission) + escaped bytes + 0Ah (end of
transmission), so 0Ah ends a frame and appears nowhere else. The serial line
runs at 115200 baud, 8N1.

Used by the pump driver (``drivers/_nkt_boostik.py``) and its emulator
(``sim_instruments/emulators/nkt_boostik.py``): each fact is written here once.
"""

from __future__ import annotations

import enum
import math
from typing import NamedTuple

#: Start and end of transmission, and the escape byte.
SOT, EOT, ESCAPE = 0x0D, 0x0A, 0x5E
#: What an escaped byte has added to it.
ESCAPE_OFFSET = 0x40
#: Module addresses are 1..160; hosts use 161..255.
MODULE_ADDRESSES = range(1, 161)
HOST_ADDRESSES = range(161, 256)
MAX_DATA_BYTES = 240
#: Serial settings of the Interbus port.
BAUD_RATE = 115200


class MessageType(enum.IntEnum):
    """Interbus message types (SDK manual, chapter 2)."""

    NACK = 0
    CRC_ERROR = 1
    BUSY = 2
    ACK = 3
    READ = 4
    WRITE = 5
    SET_BIT = 6
    CLEAR_BIT = 7
    DATAGRAM = 8
    TOGGLE_BIT = 9


class Message(NamedTuple):
    destination: int
    source: int
    type: MessageType
    register: int
    data: bytes = b""


class FrameError(ValueError):
    """Bytes that are not one valid Interbus frame (framing, escape or CRC)."""


def crc16(payload: bytes) -> int:
    """CRC-16/CCITT, polynomial 1021h, initial value 0 (the Interbus CRC)."""
    crc = 0
    for byte in payload:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


_ESCAPED = (SOT, EOT, ESCAPE)


def encode(message: Message) -> bytes:
    """One framed message: SOT, escaped header + data + CRC, EOT."""
    if len(message.data) > MAX_DATA_BYTES:
        raise ValueError(f"{len(message.data)} data bytes; Interbus carries at most "
                         f"{MAX_DATA_BYTES}")
    body = bytes([message.destination, message.source, int(message.type),
                  message.register]) + message.data
    body += crc16(body).to_bytes(2, "big")
    escaped = bytearray()
    for byte in body:
        if byte in _ESCAPED:
            escaped += bytes([ESCAPE, byte + ESCAPE_OFFSET])
        else:
            escaped.append(byte)
    return bytes([SOT]) + bytes(escaped) + bytes([EOT])


def decode(frame: bytes) -> Message:
    """The message of one frame (SOT .. EOT); `FrameError` if it is not valid."""
    if len(frame) < 8 or frame[0] != SOT or frame[-1] != EOT:
        raise FrameError(f"not an Interbus frame (SOT/EOT): {frame[:16]!r}")
    body = bytearray()
    escaped = False
    for byte in frame[1:-1]:
        if escaped:
            body.append(byte - ESCAPE_OFFSET)
            escaped = False
        elif byte == ESCAPE:
            escaped = True
        elif byte in (SOT, EOT):
            raise FrameError("unescaped SOT/EOT inside a frame")
        else:
            body.append(byte)
    if escaped or len(body) < 6:
        raise FrameError("truncated Interbus frame")
    if crc16(bytes(body)) != 0:   # a CRC over the message and its own CRC is 0
        raise FrameError("bad Interbus CRC")
    try:
        kind = MessageType(body[2])
    except ValueError:
        raise FrameError(f"unknown Interbus message type {body[2]}") from None
    return Message(body[0], body[1], kind, body[3], bytes(body[4:-2]))


def next_frame(buffer: bytearray) -> bytes | None:
    """Remove and return the first complete frame (through EOT) from ``buffer``.

    Bytes before a start of transmission are line noise and are dropped.
    """
    end = buffer.find(bytes([EOT]))
    if end < 0:
        return None
    frame = bytes(buffer[:end + 1])
    del buffer[:end + 1]
    start = frame.rfind(bytes([SOT]))
    return frame[start:] if start >= 0 else frame


# --- BoostiK OEM amplifier (N83), module type 70h: SDK manual section 6.7 --------------

class BoostikRegister(enum.IntEnum):
    """Registers of the BoostiK OEM amplifier (register file ``70.txt``)."""

    HEAT_SINK_TEMPERATURE = 0x10   # I16, 0.1 °C
    SUPPLY_VOLTAGE = 0x12          # U16, 1 mV
    OUTPUT_POWER = 0x15            # U16, 1 mW  (reading)
    AMPLIFIER_TEMPERATURE = 0x17   # I16, 0.1 °C
    PUMP_CURRENT = 0x19            # U16, 1 mA  (pump 2)
    PUMP_CURRENT_SETPOINT = 0x21   # U16, 1 mA
    POWER_SETPOINT = 0x22          # I16, 0.1 dBm
    STATE = 0x30                   # U8: 0 off, 1 constant current, 2 constant power
    MODULE_TYPE = 0x61             # U8 (every Interbus module)
    FIRMWARE = 0x64                # firmware version code
    SERIAL_NUMBER = 0x65           # ASCII string
    STATUS = 0x66                  # U16 status bits
    ERROR_CODE = 0x67              # U8, 0 = no error


BOOSTIK_MODULE_TYPE = 0x70
#: The N83's default module address (SDK manual, module table).
BOOSTIK_ADDRESS = 0x02


class BoostikState(enum.IntEnum):
    OFF = 0
    CURRENT = 1
    POWER = 2


class BoostikStatus(enum.IntFlag):
    """Status bits (register 66h) of the BoostiK OEM amplifier."""

    EMISSION = 1 << 0
    INTERLOCK_OFF = 1 << 1
    MODULE_DISABLED = 1 << 4
    SUPPLY_VOLTAGE_LOW = 1 << 5
    HEAT_SINK_TEMPERATURE_RANGE = 1 << 6
    PUMP_TEMPERATURE_HIGH = 1 << 7
    INPUT_POWER_LOW = 1 << 8
    OUTPUT_POWER_LOW = 1 << 9
    ERROR_CODE_PRESENT = 1 << 15


#: Output power range of the pump labctl assumes, W: a 1064 nm BoostiK of 3 W
#: (NKT builds them to several output powers; this is labctl's choice, not a
#: datasheet value). The low end is the 10 dBm labctl takes as the lowest
#: setpoint that still means "amplifying" (not documented).
BOOSTIK_POWER_RANGE_W = (0.01, 3.0)
#: Resolution of the power setpoint register, dBm.
POWER_SETPOINT_STEP_DBM = 0.1


def watts_to_setpoint(power_w: float) -> int:
    """The power-setpoint register value (0.1 dBm steps) nearest to ``power_w``."""
    return round(10.0 * math.log10(power_w * 1e3) / POWER_SETPOINT_STEP_DBM) \
        if power_w > 0 else -32768


def setpoint_to_watts(register: int) -> float:
    """The power in W of a power-setpoint register value."""
    return 1e-3 * 10.0 ** (register * POWER_SETPOINT_STEP_DBM / 10.0)
