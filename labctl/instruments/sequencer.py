"""The pulse-sequencer capability (an AWG with markers and a hardware sequencer) and its view.

A `PulseSequencer` loads an AWG-neutral `labctl.pulses.program.RenderedProgram`
— named per-channel waveforms with two markers each, a sequence table with
loops, trigger waits, event jumps and gotos, and optionally a dynamic-jump
table (event pattern -> element) — and runs it. Experiments use
`SequencerView`, which renders `labctl.pulses` programs through the station's
``wiring:`` of that AWG at the unit's sample rate and limits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from labctl.pulses.program import Program, RenderedProgram, SequenceElement, render_program
from labctl.pulses.wiring import AwgWiring


@dataclass(frozen=True)
class SequencerLimits:
    """What a sequencer can play (per model: the driver's class data)."""

    channels: int
    markers_per_channel: int
    sample_rate_range_hz: tuple[float, float]
    amplitude_range_vpp: tuple[float, float]
    min_waveform_points: int
    max_waveform_points: int
    waveform_granularity: int
    max_sequence_length: int
    max_loop_count: int
    max_jump_pattern: int


def check_sequence(elements: Sequence[SequenceElement], limits: SequencerLimits,
                   dynamic_jumps: Mapping[int, int] | None = None) -> None:
    """`ValueError` naming the first thing a sequencer with ``limits`` cannot play.

    Checks the table's length, each element's channels, loop count and jump
    and goto targets, and the dynamic-jump table's patterns and targets.
    """
    count = len(elements)
    if not 1 <= count <= limits.max_sequence_length:
        raise ValueError(f"a sequence has 1 .. {limits.max_sequence_length} elements, "
                         f"got {count}")
    for index, element in enumerate(elements, start=1):
        if not isinstance(element, SequenceElement):
            raise TypeError(f"element {index} is a {type(element).__name__}, "
                            f"not a SequenceElement")
        if len(element.waveforms) > limits.channels:
            raise ValueError(f"element {index} names {len(element.waveforms)} channels, "
                             f"the AWG has {limits.channels}")
        if element.loop_count > limits.max_loop_count:
            raise ValueError(f"element {index}: loop_count {element.loop_count} exceeds "
                             f"{limits.max_loop_count}")
        for what, target in (("event_jump", element.event_jump), ("goto", element.goto)):
            if isinstance(target, int) and target > count:
                raise ValueError(f"element {index}: {what} target {target} is beyond the "
                                 f"last element {count}")
    for pattern, target in (dynamic_jumps or {}).items():
        if isinstance(pattern, bool) or not isinstance(pattern, int) or \
                not 0 <= pattern <= limits.max_jump_pattern:
            raise ValueError(f"dynamic-jump pattern must be within "
                             f"0..{limits.max_jump_pattern}, got {pattern!r}")
        if isinstance(target, bool) or not isinstance(target, int) or not 1 <= target <= count:
            raise ValueError(f"dynamic-jump target for pattern {pattern} must be an element "
                             f"1..{count}, got {target!r}")


@runtime_checkable
class PulseSequencer(Protocol):
    """An AWG that plays sequences of marker-and-analog waveforms."""

    def limits(self) -> SequencerLimits: ...
    def sample_rate_hz(self) -> float: ...
    def set_amplitude_vpp(self, channel: int, amplitude_vpp: float) -> None: ...

    def load_sequence(self, program: RenderedProgram) -> None:
        """Stop; replace every waveform, the sequence table and the dynamic-jump table;
        switch the outputs the program uses on and select sequence mode."""

    def run(self) -> None: ...
    def stop(self) -> None: ...
    def safe_state(self) -> None: ...


class SequencerView:
    """A `PulseSequencer` with the station's wiring: loads `labctl.pulses` programs."""

    def __init__(self, sequencer: PulseSequencer, wiring: AwgWiring) -> None:
        self.device = sequencer
        self.wiring = wiring

    def sample_rate_hz(self) -> float:
        return self.device.sample_rate_hz()

    def load(self, program: Program) -> None:
        """Render ``program`` for this AWG and load it (the AWG is left stopped)."""
        limits = self.device.limits()
        rendered = render_program(program, self.device.sample_rate_hz(), self.wiring,
                                  limits.min_waveform_points, limits.channels)
        for channel in range(1, limits.channels + 1):
            self.device.set_amplitude_vpp(channel, self.wiring.amplitude_vpp)
        self.device.load_sequence(rendered)

    def play(self, program: Program) -> None:
        """Load ``program`` and run it."""
        self.load(program)
        self.device.run()

    def run(self) -> None:
        self.device.run()

    def stop(self) -> None:
        self.device.stop()
