"""Pulse programs: segments of marker pulses and microwave rotations, rendered for an AWG.

A `Segment` is one stretch of time (one AWG waveform set, one sequence
element): `Marker` pulses on named outputs (``excitation``,
``detection_window``, ``readout``) and `Rotation` pulses of the spin drive
(square I/Q envelope of given amplitude and phase). `render` turns a
segment into per-channel samples through the station's `AwgWiring` (a
rotation keeps its area on the sample grid: it gets the samples nearest its
start and end, one more if needed, and its amplitude is scaled so that
amplitude × time is what was asked, so the realised angle is the requested
one and not rounded to whole samples; `rotation_samples`, `rendered_angle`); a
`Program` is segments plus the sequence table that plays them, and
`render_program` turns it into the AWG-neutral `RenderedProgram` a pulse
sequencer (`labctl.instruments.sequencer`) loads.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeGuard

import numpy as np
from numpy.typing import NDArray

from labctl.pulses.wiring import AwgWiring

JumpTarget = int | Literal["next"]


@dataclass(frozen=True)
class Marker:
    """A marker output high from ``start`` for ``duration`` (s)."""

    output: str
    start: float
    duration: float

    def __post_init__(self) -> None:
        if not (self.start >= 0 and self.duration > 0
                and math.isfinite(self.start + self.duration)):
            raise ValueError(f"marker {self.output}: start must be >= 0 and duration > 0, "
                             f"got start {self.start!r}, duration {self.duration!r}")


@dataclass(frozen=True)
class Rotation:
    """A square microwave pulse: I = a·cos(phase), Q = a·sin(phase) (a: fraction of full scale).

    The rotation axis in the spin's rotating frame is (cos phase, sin phase, 0);
    the angle is 2π·f_Rabi·a·duration for the calibrated full-scale Rabi frequency.
    """

    start: float
    duration: float
    amplitude: float = 1.0
    phase: float = 0.0

    def __post_init__(self) -> None:
        if not (self.start >= 0 and self.duration > 0
                and math.isfinite(self.start + self.duration)):
            raise ValueError(f"rotation: start must be >= 0 and duration > 0, got start "
                             f"{self.start!r}, duration {self.duration!r}")
        if not -1.0 <= self.amplitude <= 1.0:
            raise ValueError(f"rotation amplitude must be within [-1, 1], got {self.amplitude!r}")

    @staticmethod
    def for_angle(start: float, angle: float, rabi_hz: float, phase: float = 0.0,
                  amplitude: float = 1.0) -> Rotation:
        """The pulse rotating by ``angle`` (rad) at full-scale Rabi frequency ``rabi_hz``."""
        if rabi_hz <= 0:
            raise ValueError(f"rabi_hz must be positive, got {rabi_hz!r}")
        duration = abs(angle) / (2 * math.pi * rabi_hz * abs(amplitude))
        sign = 1.0 if angle >= 0 else -1.0
        return Rotation(start, duration, sign * amplitude, phase)


@dataclass(frozen=True)
class Segment:
    """One AWG waveform set: ``duration`` s of marker pulses and rotations."""

    name: str
    duration: float
    markers: tuple[Marker, ...] = ()
    rotations: tuple[Rotation, ...] = ()

    def __post_init__(self) -> None:
        if not self.duration > 0:
            raise ValueError(f"segment {self.name}: duration must be positive")
        pulses: tuple[Marker | Rotation, ...] = (*self.markers, *self.rotations)
        for pulse in pulses:
            if pulse.start + pulse.duration > self.duration + 1e-15:
                raise ValueError(f"segment {self.name}: a pulse ends after the segment "
                                 f"({pulse.start + pulse.duration:g} s > {self.duration:g} s)")


@dataclass(frozen=True)
class SequenceElement:
    """One line of an AWG sequence table (AWG-neutral; drivers translate it).

    ``waveforms[i]`` plays on channel ``i + 1`` (``None``: unassigned; trailing
    ``None`` are dropped); ``event_jump`` is where an event sends the
    sequencer (1-based index, ``"next"``, or ``None`` to ignore events);
    ``goto`` the unconditional 1-based successor (``None``: the next line).
    """

    waveforms: tuple[str | None, ...]
    loop_count: int = 1
    infinite: bool = False
    wait_for_trigger: bool = False
    event_jump: JumpTarget | None = None
    goto: int | None = None

    def __post_init__(self) -> None:
        names = tuple(self.waveforms)
        while names and names[-1] is None:
            names = names[:-1]
        if not names:
            raise ValueError("a sequence element needs at least one waveform")
        object.__setattr__(self, "waveforms", names)
        if not _is_int(self.loop_count) or self.loop_count < 1:
            raise ValueError(f"loop_count must be an integer >= 1, got {self.loop_count!r}")
        object.__setattr__(self, "loop_count", int(self.loop_count))
        if _is_int(self.event_jump) and self.event_jump >= 1:
            object.__setattr__(self, "event_jump", int(self.event_jump))
        elif not (self.event_jump is None or self.event_jump == "next"):
            raise ValueError(f"event_jump must be None, 'next' or an index >= 1, "
                             f"got {self.event_jump!r}")
        if _is_int(self.goto) and self.goto >= 1:
            object.__setattr__(self, "goto", int(self.goto))
        elif self.goto is not None:
            raise ValueError(f"goto must be None or an index >= 1, got {self.goto!r}")


def _is_int(value: object) -> TypeGuard[int | np.integer[Any]]:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


@dataclass(frozen=True)
class ChannelSamples:
    """What one AWG channel plays during a segment."""

    analog: NDArray[np.float64]
    marker1: NDArray[np.bool_]
    marker2: NDArray[np.bool_]


def render(segment: Segment, sample_rate: float, wiring: AwgWiring,
           min_points: int = 250, channels: int = 4) -> dict[int, ChannelSamples]:
    """Samples for channels 1..``channels`` (vectorised; pulses snap to the sample grid)."""
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate!r}")
    used = (wiring.mw_i, wiring.mw_q, wiring.excitation.channel,
            wiring.detection_window.channel, wiring.readout.channel)
    if max(used) > channels:
        raise ValueError(f"the wiring uses channel {max(used)}, the AWG has {channels}")
    n = max(round(segment.duration * sample_rate), min_points)
    analog = np.zeros((channels, n))
    markers = np.zeros((channels, 2, n), dtype=bool)

    def span(start: float, duration: float) -> slice:
        first = round(start * sample_rate)
        return slice(first, max(first + 1, round((start + duration) * sample_rate)))

    for marker in segment.markers:
        output = wiring.marker(marker.output)
        markers[output.channel - 1, output.marker - 1, span(marker.start, marker.duration)] = True
    for rotation in segment.rotations:
        window, amplitude = rotation_samples(rotation, sample_rate)
        analog[wiring.mw_i - 1, window] += amplitude * math.cos(rotation.phase)
        analog[wiring.mw_q - 1, window] += amplitude * math.sin(rotation.phase)
    if np.abs(analog).max(initial=0.0) > 1.0 + 1e-12:
        raise ValueError(f"segment {segment.name}: overlapping rotations exceed full scale")
    np.clip(analog, -1.0, 1.0, out=analog)
    return {ch + 1: ChannelSamples(analog[ch], markers[ch, 0], markers[ch, 1])
            for ch in range(channels)}


def rotation_samples(rotation: Rotation, sample_rate: float) -> tuple[slice, float]:
    """The samples a rotation occupies and the amplitude it plays them at.

    The samples nearest its start and end (at least one, as for markers), at
    the amplitude that keeps amplitude × time; when that would exceed full
    scale, one more sample (the whole number covering its duration) instead.
    """
    first = round(rotation.start * sample_rate)
    exact = rotation.duration * sample_rate
    count = max(1, round((rotation.start + rotation.duration) * sample_rate) - first)
    if abs(rotation.amplitude) * exact / count > 1.0:
        count = max(1, math.ceil(exact - 1e-9))
    return slice(first, first + count), rotation.amplitude * exact / count


def rendered_angle(samples_i: NDArray[np.float64], samples_q: NDArray[np.float64],
                   sample_rate: float, rabi_hz: float) -> float:
    """Rotation angle (rad) of rendered I/Q samples at full-scale Rabi frequency ``rabi_hz``:
    2π f_Rabi Σ|I + iQ| / sample rate (a resonant drive of constant phase)."""
    if sample_rate <= 0 or rabi_hz <= 0:
        raise ValueError(f"sample_rate and rabi_hz must be positive, got {sample_rate!r}, "
                         f"{rabi_hz!r}")
    envelope = np.hypot(np.asarray(samples_i, dtype=float), np.asarray(samples_q, dtype=float))
    return float(2 * math.pi * rabi_hz * envelope.sum() / sample_rate)


@dataclass(frozen=True)
class Program:
    """Segments and the sequence table that plays them (by segment name)."""

    segments: tuple[Segment, ...]
    sequence: tuple[tuple[str, int | None, JumpTarget | None, int | None], ...] = field(
        default_factory=tuple)
    #: Dynamic-jump table (event pattern, element index 1-based): when set, an
    #: event jumps to the element its pattern selects (e.g. a random-number
    #: generator choosing a measurement basis per trial) instead of the
    #: playing element's own event-jump target.
    dynamic_jumps: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        patterns = [pattern for pattern, _ in self.dynamic_jumps]
        if len(set(patterns)) != len(patterns):
            raise ValueError(f"dynamic_jumps names a pattern twice: {patterns}")
        for pattern, target in self.dynamic_jumps:
            if not (_is_int(target) and 1 <= target <= len(self.sequence)):
                raise ValueError(f"dynamic jump for pattern {pattern} targets element "
                                 f"{target!r}, the sequence has {len(self.sequence)}")

    def elements(self, channels: int = 4) -> list[SequenceElement]:
        """The sequence table: (segment, loops or None for forever, event jump, goto)."""
        names = {s.name for s in self.segments}
        elements = []
        for segment, loops, jump, goto in self.sequence:
            if segment not in names:
                raise ValueError(f"sequence plays unknown segment {segment!r}")
            elements.append(SequenceElement(
                waveforms=tuple(waveform_name(segment, ch) for ch in range(1, channels + 1)),
                loop_count=loops or 1, infinite=loops is None, event_jump=jump, goto=goto))
        return elements


def waveform_name(segment: str, channel: int) -> str:
    """The name a segment's waveform for ``channel`` is uploaded under."""
    return f"{segment}_ch{channel}"


@dataclass(frozen=True)
class RenderedProgram:
    """A program as samples: what a pulse sequencer loads (AWG-neutral).

    ``waveforms``: name -> samples of one channel during one segment;
    ``elements``: the sequence table naming them per channel;
    ``dynamic_jumps``: event pattern -> element (1-based), empty for plain event jumps.
    """

    waveforms: Mapping[str, ChannelSamples]
    elements: tuple[SequenceElement, ...]
    dynamic_jumps: Mapping[int, int] = field(default_factory=dict)

    @property
    def channels(self) -> tuple[int, ...]:
        """The channels some element plays a waveform on."""
        return tuple(sorted({index for element in self.elements
                             for index, name in enumerate(element.waveforms, start=1)
                             if name is not None}))


def render_program(program: Program, sample_rate: float, wiring: AwgWiring,
                   min_points: int = 250, channels: int = 4) -> RenderedProgram:
    """Every segment rendered per channel, with the sequence table and dynamic jumps."""
    waveforms: dict[str, ChannelSamples] = {}
    for segment in program.segments:
        for channel, samples in render(segment, sample_rate, wiring, min_points,
                                       channels).items():
            waveforms[waveform_name(segment.name, channel)] = samples
    return RenderedProgram(waveforms=waveforms, elements=tuple(program.elements(channels)),
                           dynamic_jumps=dict(program.dynamic_jumps))
