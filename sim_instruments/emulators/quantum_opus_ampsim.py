"""Emulator of the Quantum Opus SNSPD bias unit (amp-sim modules), in labctl's SCPI rendering.

Answers ``drivers/quantum_opus_ampsim.py``: per channel ``SOUR<n>:CURR``
(bias, A), ``OUTP<n>:STAT`` (bias enable), ``SENS<n>:COUN:RATE?`` (count
rate, Hz), ``STAT<n>:LATC?``, ``SOUR<n>:LATC:RES`` (reset event),
``SOUR<n>:LATC:RES:DUR`` and ``SOUR<n>:LATC:AUTO``. Settings live in the
world's `SnspdChannelState` objects; the count rate of a channel comes from
the world physics through the ``count_rate(index0)`` callable.

Quirks of the unit that are emulated:

- the bias is set through a 16-bit DAC over 0-25 uA: a setting is rounded to
  the nearest DAC step (about 0.38 nA) and read back as rounded;
- the reset hold time is set in 10 ms steps (0-2.55 s);
- a nanowire carrying a current at or above its switching current latches
  (no counts); taking the current away (zero bias or bias disabled) lets it
  recover; a latch can also be injected by the world (``latched = True``);
- a reset event clears a latch when the bias it ramps back to is below the
  switching current (a reset of an over-biased wire latches it again); the
  event's duration is not advanced on the clock, which the experiment owns;
- with auto-reset on, a latched channel whose bias is below the switching
  current resets itself before the next query of that channel is answered;
- a channel suffix outside 1..N queues ``-114``; a refused query sends no reply.

The simulator-only ``SIM<n>:...`` commands of the pyvisa-sim twin do not exist here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sim_instruments.emulators.scpi import (
    HEADER_SUFFIX_OUT_OF_RANGE,
    PARAMETER_NOT_ALLOWED,
    Call,
    ScpiEmulator,
    ScpiError,
    parse_bool,
    parse_number,
)
from sim_instruments.world_state import SnspdChannelState, VirtualClock

log = logging.getLogger(__name__)


#: Full-scale bias current of one amp-sim module, A.
BIAS_FULL_SCALE_A = 25e-6
#: Number of DAC steps over the full scale (16-bit DAC).
BIAS_DAC_STEPS = 65535
#: Reset hold time: 0-255 steps of this many seconds.
RESET_STEP_S = 0.01
RESET_MAX_STEPS = 255

#: Power-up / ``*RST`` settings of a channel.
DEFAULT_AUTO_RESET = True
DEFAULT_RESET_DURATION_S = 0.1


class QuantumOpusAmpSimEmulator(ScpiEmulator):
    """One SIM900 frame of amp-sim modules: channel ``n`` is ``channels[n - 1]``."""

    identity = "QUANTUM OPUS,AMP-SIM,LABCTL-EMULATOR,1.0"

    def __init__(self, channels: list[SnspdChannelState],
                 count_rate: Callable[[int], float], clock: VirtualClock,
                 switching_current: float = 22e-6) -> None:
        super().__init__()
        if not channels:
            raise ValueError("an amp-sim frame needs at least one channel")
        if not switching_current > 0:
            raise ValueError(f"switching current must be positive, got {switching_current!r}")
        self.channels = channels
        self.count_rate = count_rate
        self.clock = clock
        self.switching_current = switching_current
        self.register("SOURce<n>:CURRent[:LEVel]", self._set_bias)
        self.register("SOURce<n>:CURRent[:LEVel]?", self._get_bias)
        self.register("OUTPut<n>[:STATe]", self._set_output)
        self.register("OUTPut<n>[:STATe]?", self._get_output)
        self.register("SENSe<n>:COUNt:RATE?", self._get_count_rate)
        self.register("STATus<n>:LATCh?", self._get_latched)
        self.register("SOURce<n>:LATCh:RESet", self._reset_event)
        self.register("SOURce<n>:LATCh:RESet:DURation", self._set_reset_duration)
        self.register("SOURce<n>:LATCh:RESet:DURation?", self._get_reset_duration)
        self.register("SOURce<n>:LATCh:AUTO", self._set_auto_reset)
        self.register("SOURce<n>:LATCh:AUTO?", self._get_auto_reset)

    # --- the nanowire -------------------------------------------------------------

    def over_biased(self, state: SnspdChannelState) -> bool:
        """True when the wire carries a current at or above its switching current."""
        return state.enabled and state.bias_a >= self.switching_current

    def _after_change(self, index: int, state: SnspdChannelState) -> None:
        """Apply what a new bias or enable does to the wire."""
        if self.over_biased(state):
            if not state.latched:
                log.info("SNSPD ch%d latched at t=%.6f s (bias %.3g A >= %.3g A)",
                         index + 1, self.clock.now(), state.bias_a, self.switching_current)
            state.latched = True
        elif state.latched and (not state.enabled or state.bias_a == 0.0):
            log.info("SNSPD ch%d recovered: no bias current", index + 1)
            state.latched = False

    def _auto_reset(self, index: int, state: SnspdChannelState) -> None:
        """The auto-reset function resets a latched wire before it is queried."""
        if state.latched and state.auto_reset and not self.over_biased(state):
            log.info("SNSPD ch%d auto-reset at t=%.6f s", index + 1, self.clock.now())
            state.latched = False

    # --- command plumbing ---------------------------------------------------------

    def _index(self, call: Call) -> int:
        if not 1 <= call.suffix <= len(self.channels):
            raise ScpiError(HEADER_SUFFIX_OUT_OF_RANGE,
                            f"channel {call.suffix} not in 1..{len(self.channels)}")
        return call.suffix - 1

    def _query(self, call: Call) -> tuple[int, SnspdChannelState]:
        """The channel a query addresses, after the auto-reset had its chance."""
        if call.argument not in (None, ""):
            raise ScpiError(PARAMETER_NOT_ALLOWED, call.header)
        index = self._index(call)
        state = self.channels[index]
        self._auto_reset(index, state)
        return index, state

    # --- handlers -----------------------------------------------------------------

    def _set_bias(self, call: Call) -> None:
        index = self._index(call)
        value = parse_number(call.text(), 0.0, BIAS_FULL_SCALE_A)
        code = round(value / BIAS_FULL_SCALE_A * BIAS_DAC_STEPS)
        state = self.channels[index]
        state.bias_a = code * BIAS_FULL_SCALE_A / BIAS_DAC_STEPS
        self._after_change(index, state)

    def _get_bias(self, call: Call) -> str:
        _, state = self._query(call)
        return f"{state.bias_a:.6e}"

    def _set_output(self, call: Call) -> None:
        index = self._index(call)
        state = self.channels[index]
        state.enabled = parse_bool(call.text())
        self._after_change(index, state)

    def _get_output(self, call: Call) -> str:
        _, state = self._query(call)
        return "1" if state.enabled else "0"

    def _get_count_rate(self, call: Call) -> str:
        index, state = self._query(call)
        rate = float(self.count_rate(index)) if state.enabled and not state.latched else 0.0
        return f"{rate:.1f}"

    def _get_latched(self, call: Call) -> str:
        _, state = self._query(call)
        return "1" if state.latched else "0"

    def _reset_event(self, call: Call) -> None:
        if call.argument not in (None, ""):
            raise ScpiError(PARAMETER_NOT_ALLOWED, call.header)
        index = self._index(call)
        state = self.channels[index]
        # Bias to zero (the wire recovers), hold, ramp back: an over-biased wire latches again.
        state.latched = self.over_biased(state)
        log.info("SNSPD ch%d reset event at t=%.6f s: %s", index + 1, self.clock.now(),
                 "still latched" if state.latched else "not latched")

    def _set_reset_duration(self, call: Call) -> None:
        index = self._index(call)
        seconds = parse_number(call.text(), 0.0, RESET_MAX_STEPS * RESET_STEP_S)
        steps = min(round(seconds / RESET_STEP_S), RESET_MAX_STEPS)
        self.channels[index].reset_duration_s = steps * RESET_STEP_S

    def _get_reset_duration(self, call: Call) -> str:
        _, state = self._query(call)
        return f"{state.reset_duration_s:.2f}"

    def _set_auto_reset(self, call: Call) -> None:
        index = self._index(call)
        self.channels[index].auto_reset = parse_bool(call.text())

    def _get_auto_reset(self, call: Call) -> str:
        _, state = self._query(call)
        return "1" if state.auto_reset else "0"

    def reset(self) -> None:
        """``*RST``: the power-up state (zero bias, disabled, factory reset settings)."""
        for state in self.channels:
            state.bias_a = 0.0
            state.enabled = False
            state.latched = False
            state.auto_reset = DEFAULT_AUTO_RESET
            state.reset_duration_s = DEFAULT_RESET_DURATION_S

