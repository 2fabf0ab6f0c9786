"""Thorlabs TC200 heater controller: its serial command set and reply format.

Source: Thorlabs, *TC200 Temperature Controller User Guide*, chapter
"Computer Interface" (command list ``tset``, ``tact?``, ``ens``, ``stat?``,
``tmax``, ``pmax``, ``id?``). The guide itself was not read here; the facts below
are as two hardware-tested third-party drivers agree on them: QuTech's QMI
(``qmi/instruments/thorlabs/tc200.py``) and InstrumentKit
(``instruments/thorlabs/tc200.py``). The TC200 drives the resistive heater of
Thorlabs' PPLN crystal ovens (PV10/PV20/PV40).

- USB virtual COM port (FTDI), 115200 baud, 8N1, no flow control.
- A command is ASCII ending in a carriage return: ``tset=65.0\\r``, ``tact?\\r``.
- The unit echoes the command and its carriage return, then the reply (if
  any) and a carriage return, then the prompt ``"> "``. ``stat?`` is the
  exception: its reply is the status byte in hexadecimal (no leading zero)
  followed by ``" > "`` with no carriage return.
- An unknown command answers ``CMD_NOT_DEFINED``, a value out of range
  ``CMD_ARG_RANGE_ERR``, in place of the reply.
- ``tset?`` answers ``"65.0 Celsius"``, ``tact?`` ``"64.9 C"``; ``tmax?`` and
  ``pmax?`` a bare number; ``id?`` ``"THORLABS TC200 VERSION 2.0"``.
- ``ens`` *toggles* the heater output: a driver reads ``stat?`` first.
- Status byte: bit 0 output enabled, bit 1 cycle mode, bits 2-3 sensor type,
  bits 4-5 display unit (00 K, 01 °C, 10 °F), bit 6 sensor alarm, bit 7 cycle
  paused.
- Setpoint 20.0..200.0 °C (and not above ``tmax``), 0.1 °C resolution; ``tmax``
  20..205 °C; ``pmax`` 0.1..18 W.
"""

from __future__ import annotations

import enum

BAUD_RATE = 115200
COMMAND_END = b"\r"
PROMPT = b"> "
#: What ends every reply, the ``stat?`` one included.
REPLY_END = PROMPT
CMD_NOT_DEFINED = "CMD_NOT_DEFINED"
CMD_ARG_RANGE_ERR = "CMD_ARG_RANGE_ERR"

SETPOINT_RANGE_C = (20.0, 200.0)
TMAX_RANGE_C = (20.0, 205.0)
PMAX_RANGE_W = (0.1, 18.0)
SETPOINT_STEP_C = 0.1


class Status(enum.IntFlag):
    ENABLED = 0x01
    CYCLE_MODE = 0x02
    ALARM = 0x40
    CYCLE_PAUSED = 0x80


#: Display-unit field (bits 4-5 of the status byte): Celsius.
UNIT_CELSIUS = 0x10
UNIT_MASK = 0x30
