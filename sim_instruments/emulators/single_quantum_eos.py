"""Emulator of the Single Quantum Eos SNSPD system's control protocol and counts stream.

Answers what ``drivers/single_quantum_eos.py`` and Single Quantum's own
``WebSQControl`` send on the control port (JSON objects, sent without a
terminator; every reply object is followed by ``\\x17``):

- ``{"request": "labelProps", "value": "None"}``: one reply, every label as
  ``{"label": L, "value": {"value": v, "unit": u, ...}}``, concatenated;
- ``{"request": "BiasVoltage"}``: ``{"label": "BiasVoltage", "value": [mV ...]}``;
- ``{"command": "SetAllBiasCurrents", "value": [uA ...]}``,
  ``SetAllTriggerLevels`` (mV), ``DetectorEnable`` (bool, all detectors),
  ``SetMeasurementPeriod`` (ms): the new value is broadcast to every control
  client as ``{"label": L, "value": v}``; a refused command answers
  ``{"label": "Error", "value": "<reason>"}`` and changes nothing;
- anything else answers an ``Error`` object.

The counts stream (`counts_line`) is one line per measurement period:
``<time ms>,<counts ch1>,...,<counts chN>``.

Emulated physics and its simplifications (labctl's assumptions, the wire
formats of replies are not publicly documented, see the driver):

- a nanowire carrying a current at or above its switching current latches; a
  latched wire counts nothing and shows a resistive bias voltage
  (``LATCHED_OHM``), a superconducting one only the lead resistance
  (``LEAD_OHM``); taking the current away (zero bias or detectors disabled)
  lets it recover; the world can latch a wire (``latched = True``);
- the counts of a period are a Poisson draw (the world's generator) of the
  world's rate times the measurement period, whole clicks as a counter
  gives them; the lines come once per period of wall time (the virtual
  clock does not run with the stream), so a count rate read from them is
  one period's worth of clicks.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from sim_instruments.world_state import SnspdChannelState, VirtualClock

log = logging.getLogger(__name__)

#: Every reply object ends with this byte (ASCII ETB).
TERMINATOR = b"\x17"
#: Bias current bounds of one channel, uA (WebSQControl's IV-scan docstring).
BIAS_BOUNDS_UA = (-90.9, 90.9)
#: Trigger level bounds, mV (labctl's assumption).
TRIGGER_BOUNDS_MV = (-1000.0, 1000.0)
#: Shortest measurement period, ms (WebSQControl: "the minimum value can be 10 ms").
MIN_PERIOD_MS = 10
#: Longest measurement period, ms (labctl's assumption).
MAX_PERIOD_MS = 60_000
#: Power-up measurement period, ms (labctl's assumption).
DEFAULT_PERIOD_MS = 100
#: Resistance the bias voltage shows on a superconducting / a latched wire, ohm.
LEAD_OHM = 50.0
LATCHED_OHM = 20_000.0

SETTERS = {"SetAllBiasCurrents": "BiasCurrent", "SetAllTriggerLevels": "TriggerLevel",
           "DetectorEnable": "DetectorEnable", "SetMeasurementPeriod": "InptMeasurementPeriod"}


class EosRefused(Exception):
    """A command the system refuses (answered with an ``Error`` object)."""


class SingleQuantumEosEmulator:
    """One Eos system: detector ``n`` is ``channels[n - 1]``."""

    def __init__(self, channels: list[SnspdChannelState], count_rate: Callable[[int], float],
                 clock: VirtualClock, rng: np.random.Generator,
                 switching_current: float = 22e-6) -> None:
        if not channels:
            raise ValueError("an Eos needs at least one detector")
        if not switching_current > 0:
            raise ValueError(f"switching current must be positive, got {switching_current!r}")
        self.channels = channels
        self.count_rate = count_rate
        self.clock = clock
        self.rng = rng
        self.switching_current = switching_current
        self.trigger_levels_mv = [20.0] * len(channels)
        self.period_ms = DEFAULT_PERIOD_MS

    # --- the nanowires ------------------------------------------------------------

    def _over_biased(self, state: SnspdChannelState) -> bool:
        return state.enabled and abs(state.bias_a) >= self.switching_current

    def _after_change(self) -> None:
        for n, state in enumerate(self.channels, start=1):
            if self._over_biased(state):
                if not state.latched:
                    log.info("Eos detector %d latched at t=%.6f s (bias %.3g A)", n,
                             self.clock.now(), state.bias_a)
                state.latched = True
            elif state.latched and (not state.enabled or state.bias_a == 0.0):
                log.info("Eos detector %d recovered: no bias current", n)
                state.latched = False

    def bias_voltages_mv(self) -> list[float]:
        """What the bias-voltage readout shows per detector, mV."""
        out = []
        for state in self.channels:
            current = state.bias_a if state.enabled else 0.0
            ohm = LATCHED_OHM if state.latched else LEAD_OHM
            out.append(round(current * ohm * 1e3, 4))
        return out

    # --- labels -------------------------------------------------------------------

    def label_value(self, label: str) -> Any:
        if label == "NumberOfDetectors":
            return len(self.channels)
        if label == "BiasCurrent":
            return [round(s.bias_a * 1e6, 4) for s in self.channels]
        if label == "TriggerLevel":
            return list(self.trigger_levels_mv)
        if label == "DetectorEnable":
            return all(s.enabled for s in self.channels)
        if label == "InptMeasurementPeriod":
            return self.period_ms
        if label == "BiasVoltage":
            return self.bias_voltages_mv()
        raise KeyError(label)

    def label_props(self) -> list[dict[str, Any]]:
        """The reply to a ``labelProps`` request: each label with its value and bounds."""
        props: dict[str, dict[str, Any]] = {
            "NumberOfDetectors": {"unit": ""},
            "BiasCurrent": {"unit": "uA", "min": BIAS_BOUNDS_UA[0], "max": BIAS_BOUNDS_UA[1]},
            "TriggerLevel": {"unit": "mV", "min": TRIGGER_BOUNDS_MV[0],
                             "max": TRIGGER_BOUNDS_MV[1]},
            "DetectorEnable": {"unit": ""},
            "InptMeasurementPeriod": {"unit": "ms", "min": MIN_PERIOD_MS, "max": MAX_PERIOD_MS},
            "BiasVoltage": {"unit": "mV"},
        }
        return [{"label": label, "value": {"value": self.label_value(label), **extra}}
                for label, extra in props.items()]

    # --- messages -----------------------------------------------------------------

    def handle(self, message: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(replies to the sender, broadcasts to every client) for one received object."""
        try:
            if "request" in message:
                return self._request(str(message["request"])), []
            if "command" in message:
                return [], self._command(str(message["command"]), message.get("value"))
            raise EosRefused(f"neither request nor command in {sorted(message)}")
        except EosRefused as error:
            log.info("Eos refused %s: %s", message, error)
            return [{"label": "Error", "value": str(error)}], []

    def _request(self, request: str) -> list[dict[str, Any]]:
        if request == "labelProps":
            return self.label_props()
        if request == "BiasVoltage":
            return [{"label": "BiasVoltage", "value": self.bias_voltages_mv()}]
        raise EosRefused(f"unknown request {request!r}")

    def _numbers(self, value: Any, bounds: tuple[float, float], what: str) -> list[float]:
        if not isinstance(value, list) or len(value) != len(self.channels):
            raise EosRefused(f"{what} needs a list of {len(self.channels)} numbers")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
            raise EosRefused(f"{what}: not all numbers: {value!r}")
        if not all(bounds[0] <= v <= bounds[1] for v in value):
            raise EosRefused(f"{what}: out of {bounds[0]}..{bounds[1]}: {value!r}")
        return [float(v) for v in value]

    def _command(self, command: str, value: Any) -> list[dict[str, Any]]:
        if command not in SETTERS:
            raise EosRefused(f"unknown command {command!r}")
        if command == "SetAllBiasCurrents":
            for state, ua in zip(self.channels,
                                 self._numbers(value, BIAS_BOUNDS_UA, command), strict=True):
                state.bias_a = ua * 1e-6
        elif command == "SetAllTriggerLevels":
            self.trigger_levels_mv = self._numbers(value, TRIGGER_BOUNDS_MV, command)
        elif command == "DetectorEnable":
            if not isinstance(value, bool):
                raise EosRefused(f"DetectorEnable needs true or false, got {value!r}")
            for state in self.channels:
                state.enabled = value
        else:
            if isinstance(value, bool) or not isinstance(value, int | float) or \
                    not MIN_PERIOD_MS <= value <= MAX_PERIOD_MS:
                raise EosRefused(f"measurement period {value!r} not in "
                                 f"{MIN_PERIOD_MS}..{MAX_PERIOD_MS} ms")
            self.period_ms = int(value)
        self._after_change()
        label = SETTERS[command]
        return [{"label": label, "value": self.label_value(label)}]

    # --- the counts stream --------------------------------------------------------

    def counts_line(self) -> bytes:
        """One line of the counts stream: the counts of one measurement period."""
        seconds = self.period_ms / 1000.0
        counts = []
        for index, state in enumerate(self.channels):
            rate = float(self.count_rate(index)) if state.enabled and not state.latched else 0.0
            counts.append(str(int(self.rng.poisson(rate * seconds))))
        return f"{self.clock.now() * 1000.0:.3f},{','.join(counts)}\n".encode()

    def reset(self) -> None:
        """Power-up state: zero bias, detectors disabled."""
        for state in self.channels:
            state.bias_a = 0.0
            state.enabled = False
            state.latched = False


def encode(messages: list[dict[str, Any]]) -> bytes:
    """Objects as the control port sends them, each followed by the terminator."""
    return b"".join(json.dumps(m).encode() + TERMINATOR for m in messages)
