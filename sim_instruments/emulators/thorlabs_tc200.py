"""Emulator of the converter's PPLN-oven controller: a Thorlabs TC200 on its serial port.

Speaks `wire_formats.thorlabs_tc200`: each command ends in a carriage return
and is echoed, followed by the reply, a carriage return and the ``"> "``
prompt (``stat?``: hex status byte and ``" > "``). The oven's setpoint and
heater live in the world's `ConverterState`, which makes the oven follow its
setpoint with a first-order lag while the heater is on; time is the virtual
clock's. Emulated: ``tset=``/``tset?``, ``tact?``, ``ens`` (toggles the heater),
``stat?`` (enabled, display unit °C), ``tmax=``/``tmax?`` (a setpoint above
``tmax`` is refused), ``pmax=``/``pmax?``, ``id?``. Out-of-range values answer
``CMD_ARG_RANGE_ERR`` and change nothing; any other command ``CMD_NOT_DEFINED``.
Also, as QuTech QMI's hardware-tested ``Thorlabs_TC200`` driver uses them:
``pgain=`` (1..250), ``igain=``/``dgain=`` (0..250) and ``pid?`` (``"P I D"``),
kept, not physics; ``tune`` (offset tuning, only with the output enabled, else
``CMD_ARG_RANGE_ERR``; on a tuned unit it detunes) and ``tune?`` (``0``
untuned, else the offset). The offset's unit and the reply of a refused
``tune`` are not documented publicly: labctl answers a tuned offset of ``1``
and assumes the range error.
Not emulated: sensor selection, cycle mode, ``config?``.
"""

from __future__ import annotations

import logging

from sim_instruments.world_state import ConverterState, VirtualClock
from wire_formats import thorlabs_tc200 as tc

log = logging.getLogger(__name__)

IDENTITY = "THORLABS TC200 VERSION 2.0"
#: PID gain commands and their ranges, in the order ``pid?`` answers them (as QMI has them).
GAIN_RANGES = {"pgain": (1, 250), "igain": (0, 250), "dgain": (0, 250)}


class TC200Emulator:
    """One TC200; the oven's settings are ``state``'s, its time ``clock``'s."""

    def __init__(self, state: ConverterState, clock: VirtualClock) -> None:
        self.state = state
        self.clock = clock
        self.tmax_c = tc.SETPOINT_RANGE_C[1]
        self.pmax_w = 10.0
        self.gains = {"pgain": 100, "igain": 0, "dgain": 0}
        self.tuned_offset = 0

    def next_message(self, buffer: bytearray) -> bytes | None:
        end = buffer.find(tc.COMMAND_END)
        if end < 0:
            return None
        message = bytes(buffer[:end])
        del buffer[:end + 1]
        return message.lstrip(b"\n")

    def respond(self, message: bytes) -> bytes | None:
        text = message.decode("ascii", "replace").strip()
        echo = text.encode("ascii", "replace") + b"\r"
        if text == "stat?":
            return echo + f"{self._status():x}".encode() + b" " + tc.PROMPT
        reply = self._answer(text)
        return echo + (reply.encode() + b"\r" if reply else b"") + tc.PROMPT

    def _status(self) -> int:
        return (int(tc.Status.ENABLED) if self.state.oven_heater else 0) | tc.UNIT_CELSIUS

    def _answer(self, text: str) -> str:
        name, _, argument = text.partition("=")
        query = {"tset?": lambda: f"{self.state.oven_setpoint_c:.1f} Celsius",
                 "tact?": lambda: f"{self.state.temperature_c(self.clock.now()):.1f} C",
                 "tmax?": lambda: f"{self.tmax_c:.1f}",
                 "pmax?": lambda: f"{self.pmax_w:.1f}",
                 "id?": lambda: IDENTITY,
                 "pid?": lambda: " ".join(str(self.gains[g]) for g in GAIN_RANGES),
                 "tune?": lambda: str(self.tuned_offset)}
        if not argument and name in query:
            return query[name]()
        if text == "ens":
            now = self.clock.now()
            self.state.settle(now)
            self.state.oven_heater = not self.state.oven_heater
            log.info("TC200 heater %s at t=%.3f s", "on" if self.state.oven_heater else "off",
                     now)
            return ""
        if text == "tune":
            if not self.state.oven_heater:
                return tc.CMD_ARG_RANGE_ERR
            self.tuned_offset = 0 if self.tuned_offset else 1
            return ""
        if argument and name in GAIN_RANGES:
            try:
                gain = int(argument)
            except ValueError:
                return tc.CMD_ARG_RANGE_ERR
            low_gain, high_gain = GAIN_RANGES[name]
            if not low_gain <= gain <= high_gain:
                return tc.CMD_ARG_RANGE_ERR
            self.gains[name] = gain
            return ""
        setters = {"tset": (tc.SETPOINT_RANGE_C, self._set_setpoint),
                   "tmax": (tc.TMAX_RANGE_C, self._set_tmax),
                   "pmax": (tc.PMAX_RANGE_W, self._set_pmax)}
        if argument and name in setters:
            (low, high), setter = setters[name]
            try:
                value = float(argument)
            except ValueError:
                return tc.CMD_ARG_RANGE_ERR
            if not low <= value <= high or (name == "tset" and value > self.tmax_c):
                return tc.CMD_ARG_RANGE_ERR
            setter(value)
            return ""
        return tc.CMD_NOT_DEFINED

    def _set_setpoint(self, celsius: float) -> None:
        self.state.settle(self.clock.now())
        self.state.oven_setpoint_c = round(celsius / tc.SETPOINT_STEP_C) * tc.SETPOINT_STEP_C

    def _set_tmax(self, celsius: float) -> None:
        self.tmax_c = celsius

    def _set_pmax(self, watts: float) -> None:
        self.pmax_w = watts
