"""Quantum Opus SNSPD bias/readout unit (the detector bias of a heralding station).

Modeled on the Quantum Opus SNSPD electronics: one "amp-sim" bias/amplifier
module per nanowire, hosted in an SRS SIM900 mainframe, presented here as one
instrument with ``channel_count`` channels.

Facts taken from the amp-sim module's documented command set (as described in
the public QMI ``AmpSimModule`` driver; the Quantum Opus manual itself was not
available): bias current 0-25 uA set through a 16-bit DAC (2.5 V over
100 kOhm, about 0.38 nA per step), zero bias at power-up; a *reset event*
lowers the bias to zero, holds it there for the reset duration (0-255 steps
of 10 ms) and returns it to the previous setpoint; an *auto-reset* function
starts a reset event by itself when the nanowire voltage shows a latch.

The command strings are NOT the module's own. The real module speaks terse
codes (``+B<dac>;`` bias, ``+D<n>;`` reset duration, ``+E<0|1>;`` auto-reset,
``+F;`` reset event) forwarded through the SIM900, and has no count-rate or
latch-status query. This driver speaks labctl's own SCPI rendering of the
same functions, which the pyvisa-sim twin and the virtual lab answer:

- ``SOUR<n>:CURR <A>`` / ``SOUR<n>:CURR?``            bias current, amperes
- ``OUTP<n>:STAT 0|1`` / ``OUTP<n>:STAT?``            bias enable
- ``SENS<n>:COUN:RATE?``                              count rate, Hz
- ``STAT<n>:LATC?``                                   1 while latched
- ``SOUR<n>:LATC:RES``                                start a reset event
- ``SOUR<n>:LATC:RES:DUR <s>`` / ``...:DUR?``         reset hold time, s
- ``SOUR<n>:LATC:AUTO 0|1`` / ``SOUR<n>:LATC:AUTO?``  auto-reset
- ``*OPC?`` (reset event finished), ``SYST:ERR?``, ``*IDN?``
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from pyvisa.errors import Error as VisaError
from qcodes import validators as vals
from qcodes.instrument import ChannelList, InstrumentChannel
from qcodes.parameters import Parameter, create_on_off_val_mapping

from labctl.errors import LabctlError
from labctl.instruments.adapter import Adapter
from labctl.visa import ScpiInstrument

log = logging.getLogger(__name__)

_ON_OFF = create_on_off_val_mapping(on_val="1", off_val="0")


class QuantumOpusAmpSimChannel(InstrumentChannel["QuantumOpusAmpSim"]):
    """One nanowire: bias current and enable, count rate, latch status and reset."""

    #: Methods `labctl node serve` lets an orchestrator call (`labctl.remote.allowlist`).
    remote_methods: ClassVar[tuple[str, ...]] = ("reset_latch",)

    def __init__(self, parent: QuantumOpusAmpSim, name: str, channel: int,
                 **kwargs: Any) -> None:
        super().__init__(parent, name, **kwargs)
        self.channel = channel
        n = channel
        self.bias_current: Parameter = self.add_parameter(
            "bias_current",
            label=f"Bias current ch{n}",
            unit="A",
            get_cmd=f"SOUR{n}:CURR?",
            set_cmd=f"SOUR{n}:CURR {{:.5e}}",
            get_parser=float,
            vals=vals.Numbers(*parent.bias_current_range_a),
        )
        self.output: Parameter = self.add_parameter(
            "output",
            label=f"Bias enable ch{n}",
            get_cmd=f"OUTP{n}:STAT?",
            set_cmd=f"OUTP{n}:STAT {{}}",
            val_mapping=_ON_OFF,
        )
        self.count_rate: Parameter = self.add_parameter(
            "count_rate",
            label=f"Count rate ch{n}",
            unit="Hz",
            get_cmd=f"SENS{n}:COUN:RATE?",
            get_parser=float,
            set_cmd=False,
            vals=vals.Numbers(min_value=0.0),
        )
        self.latched: Parameter = self.add_parameter(
            "latched",
            label=f"Latched ch{n}",
            get_cmd=f"STAT{n}:LATC?",
            set_cmd=False,
            val_mapping=_ON_OFF,
        )
        self.auto_reset: Parameter = self.add_parameter(
            "auto_reset",
            label=f"Latch auto-reset ch{n}",
            get_cmd=f"SOUR{n}:LATC:AUTO?",
            set_cmd=f"SOUR{n}:LATC:AUTO {{}}",
            val_mapping=_ON_OFF,
        )
        self.reset_duration: Parameter = self.add_parameter(
            "reset_duration",
            label=f"Latch reset hold time ch{n}",
            unit="s",
            get_cmd=f"SOUR{n}:LATC:RES:DUR?",
            set_cmd=f"SOUR{n}:LATC:RES:DUR {{:.2f}}",
            get_parser=float,
            vals=vals.Numbers(*parent.reset_duration_range_s),
            docstring="Time the bias is held at zero during a reset event "
                      "(the instrument works in 10 ms steps).",
        )

    def reset_latch(self) -> bool:
        """Run a reset event (bias to zero, hold, back to the setpoint); wait for it.

        Returns True if the channel is no longer latched afterwards. A channel
        still latched after a reset (a warm or over-biased nanowire) is
        reported with a warning; what to do about it is the caller's decision.
        """
        self.write(f"SOUR{self.channel}:LATC:RES")
        self.ask("*OPC?")  # the reset event is overlapped: wait until it ends
        still_latched = bool(self.latched.get())
        if still_latched:
            log.warning("%s is still latched after a reset event", self.full_name)
        return not still_latched

    def safe_state(self) -> None:
        """Bias current to zero, then bias disabled.

        The zero is written directly, not through ``bias_current.set``, so a
        station safety limit with a lower bound above zero cannot block it.
        The parameters are read back afterwards to refresh their caches.
        """
        self.write(f"SOUR{self.channel}:CURR {0.0:.5e}")
        self.write(f"OUTP{self.channel}:STAT 0")
        self.bias_current.get()
        self.output.get()


class AmpSimDetectors(Adapter["QuantumOpusAmpSim"]):
    """The AmpSim bias modules as `labctl.instruments.SinglePhotonDetectors` (channels 1-4)."""

    def _channel(self, channel: int) -> Any:
        count = int(self.instrument.channel_count)
        if isinstance(channel, bool) or not isinstance(channel, int) or \
                not 1 <= channel <= count:
            raise ValueError(f"{self.instrument.name}: no detector channel {channel!r} "
                             f"(1..{count})")
        return getattr(self.instrument, f"ch{channel}")

    def detector_channels(self) -> tuple[int, ...]:
        return tuple(range(1, int(self.instrument.channel_count) + 1))

    def set_bias_a(self, channel: int, bias_a: float) -> None:
        self._channel(channel).bias_current(bias_a)

    def bias_a(self, channel: int) -> float:
        return float(self._channel(channel).bias_current())

    def set_bias_enabled(self, channel: int, on: bool) -> None:
        self._channel(channel).output(on)

    def count_rate_hz(self, channel: int) -> float:
        return float(self._channel(channel).count_rate())

    def is_latched(self, channel: int) -> bool:
        return bool(self._channel(channel).latched())

    def reset_latch(self, channel: int) -> None:
        self._channel(channel).reset_latch()

    def safe_state(self) -> None:
        self.instrument.safe_state()

class QuantumOpusAmpSim(ScpiInstrument):
    """Quantum Opus SNSPD bias unit: ``channel_count`` amp-sim channels ``ch1..chN``."""

    #: Provides `labctl.instruments.SinglePhotonDetectors` (`labctl.instruments.roles`).
    capability_adapter: ClassVar[type] = AmpSimDetectors

    #: Number of nanowire channels (one amp-sim module each; the SIM900 has 8 slots).
    channel_count: ClassVar[int] = 4
    #: Bias current range of one amp-sim module, A (16-bit DAC, 2.5 V / 100 kOhm).
    bias_current_range_a: ClassVar[tuple[float, float]] = (0.0, 25e-6)
    #: Bias current step of the DAC, A.
    bias_current_step_a: ClassVar[float] = 25e-6 / 65535
    #: Reset-event hold time range, s (0-255 steps of 10 ms).
    reset_duration_range_s: ClassVar[tuple[float, float]] = (0.0, 2.55)

    def __init__(self, name: str, address: str, **kwargs: Any) -> None:
        super().__init__(name, address, **kwargs)
        channels = ChannelList(self, "channels", QuantumOpusAmpSimChannel)
        for n in range(1, self.channel_count + 1):
            channel = QuantumOpusAmpSimChannel(self, f"ch{n}", n)
            channels.append(channel)
            self.add_submodule(f"ch{n}", channel)
        channels.lock()
        self.channels: ChannelList[QuantumOpusAmpSimChannel] = self.add_submodule(
            "channels", channels)

    def safe_state(self) -> None:
        """Every channel to zero bias and disabled.

        Every channel is tried even if an earlier one fails; the first
        failure is raised after all have been tried.
        """
        failures: list[LabctlError | VisaError] = []
        for channel in self.channels:
            try:
                channel.safe_state()
            except (LabctlError, VisaError) as error:
                log.error("%s: safe state failed: %s", channel.full_name, error)
                failures.append(error)
        if failures:
            raise failures[0]
