"""Reading an AWG's uploaded waveforms the way the hardware they drive would.

Nothing here looks at names or metadata: the decoder sees the sample rate,
the sequence table (or the channel's continuous waveform), each waveform's
markers and analog I/Q samples, and the station's wiring, which says which
AWG output drives what:

- ``excitation`` marker: gates the excitation laser (an AOM) — an optical
  pulse while high;
- ``detection_window`` marker: opens the heralding station's detection
  window (and is the time tagger's sync) while high;
- ``readout`` marker: gates the spin-readout laser;
- ``mw_i`` / ``mw_q`` analog channels: the I/Q envelope of the microwave
  source's vector modulation — spin rotations, with the channel amplitude
  setting the drive strength.

The result, a `DecodedElement` per sequence element, lists when each of
these happens within the element (s from the element's start) and the
rotation's envelope; `sim_instruments.world` turns that into physics.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from labctl.pulses.wiring import AwgWiring, MarkerOutput
from sim_instruments.world_state import AwgState, AwgWaveform


@dataclass(frozen=True)
class Pulse:
    """A marker-high interval, s from the element's start."""

    start: float
    stop: float

    @property
    def duration(self) -> float:
        return self.stop - self.start


@dataclass(frozen=True)
class Drive:
    """A microwave pulse: the I/Q envelope (fraction of full scale) while non-zero."""

    start: float
    i: NDArray[np.float64] = field(compare=False, repr=False)
    q: NDArray[np.float64] = field(compare=False, repr=False)
    dt: float = 0.0

    @property
    def stop(self) -> float:
        return self.start + len(self.i) * self.dt


@dataclass(frozen=True)
class DecodedElement:
    """What one sequence element does, and how often it repeats."""

    duration: float
    loops: int                       # 0 means "forever"
    excitations: tuple[Pulse, ...]
    windows: tuple[Pulse, ...]
    readouts: tuple[Pulse, ...]
    drives: tuple[Drive, ...]
    jump_on_event: str               # "NEXT", "OFF" or a 1-based element index


@dataclass(frozen=True)
class DecodedSequence:
    """A node's AWG program as the hardware would play it (empty when not running)."""

    running: bool
    elements: tuple[DecodedElement, ...]
    sample_rate: float
    #: dynamic-jump mode: event pattern -> element index (1-based); None in event-jump mode
    dynamic_jumps: dict[int, int] | None = None


def marker_pulses(marker: NDArray[np.bool_], sample_rate: float) -> tuple[Pulse, ...]:
    """High intervals of a marker, s (vectorised edge detection)."""
    if marker.size == 0 or not marker.any():
        return ()
    padded = np.concatenate(([False], marker, [False])).astype(np.int8)
    edges = np.diff(padded)
    rises = np.flatnonzero(edges == 1)
    falls = np.flatnonzero(edges == -1)
    return tuple(Pulse(r / sample_rate, f / sample_rate) for r, f in zip(rises, falls,
                                                                         strict=True))


def drive_pulses(i: NDArray[np.float64], q: NDArray[np.float64], sample_rate: float,
                 threshold: float = 1e-3) -> tuple[Drive, ...]:
    """Contiguous stretches where the I/Q envelope is non-zero."""
    active = (np.abs(i) > threshold) | (np.abs(q) > threshold)
    return tuple(Drive(start=p.start, i=i[round(p.start * sample_rate):
                                          round(p.stop * sample_rate)],
                       q=q[round(p.start * sample_rate):round(p.stop * sample_rate)],
                       dt=1.0 / sample_rate)
                 for p in marker_pulses(active, sample_rate))


def _channel_data(awg: AwgState, name: str) -> AwgWaveform | None:
    return awg.waveforms.get(name) if name else None


def _marker(awg: AwgState, names: list[str], wire: MarkerOutput,
            length: int) -> NDArray[np.bool_]:
    data = _channel_data(awg, names[wire.channel - 1])
    channel = awg.channels[wire.channel - 1]
    if data is None or not channel.output:
        return np.zeros(length, dtype=bool)
    return data.marker1 if wire.marker == 1 else data.marker2


def _analog(awg: AwgState, names: list[str], channel_number: int,
            length: int) -> NDArray[np.float64]:
    """Analog output as a fraction of the 4.5 Vpp full scale (offset ignored: AC coupled IQ)."""
    data = _channel_data(awg, names[channel_number - 1])
    channel = awg.channels[channel_number - 1]
    if data is None or not channel.output:
        return np.zeros(length)
    return data.analog * (channel.amplitude_vpp / 4.5)


def decode_element(awg: AwgState, names: list[str], wiring: AwgWiring, loops: int,
                   jump: str) -> DecodedElement | None:
    """One element from the waveform names it plays on each channel."""
    lengths = {len(awg.waveforms[n].analog) for n in names if n and n in awg.waveforms}
    if not lengths:
        return None
    length = max(lengths)
    rate = awg.sample_rate
    i = _analog(awg, names, wiring.mw_i, length)
    q = _analog(awg, names, wiring.mw_q, length)
    return DecodedElement(
        duration=length / rate,
        loops=loops,
        excitations=marker_pulses(_marker(awg, names, wiring.excitation, length), rate),
        windows=marker_pulses(_marker(awg, names, wiring.detection_window, length), rate),
        readouts=marker_pulses(_marker(awg, names, wiring.readout, length), rate),
        drives=drive_pulses(i, q, rate),
        jump_on_event=jump,
    )


def decode(awg: AwgState, wiring: AwgWiring) -> DecodedSequence:
    """The node's running program: its sequence table, or the continuous waveforms."""
    if not awg.running:
        return DecodedSequence(False, (), awg.sample_rate)
    elements: list[DecodedElement] = []
    if awg.run_mode == "sequence" and awg.sequence:
        for element in awg.sequence:
            decoded = decode_element(awg, element.waveforms, wiring,
                                     0 if element.infinite else element.loop_count,
                                     element.jump_target)
            if decoded is not None:
                elements.append(decoded)
    else:
        decoded = decode_element(awg, [c.waveform for c in awg.channels], wiring, 0, "OFF")
        if decoded is not None:
            elements.append(decoded)
    table = dict(awg.jump_table) if awg.jump_mode == "DJUMP" else None
    return DecodedSequence(True, tuple(elements), awg.sample_rate, table)
