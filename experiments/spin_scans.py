"""Readout-shot scans of one node's spin: Rabi, Ramsey, dynamical decoupling, memory robustness.

Each scan point is one block: the node's AWG plays a program that ends in a
readout pulse, over and over, for ``seconds_per_point``; every pass is a shot,
and a shot reads "bright" when at least one readout photon arrives in its
readout window. The block values are the scanned ``x``, the number of shots
and of bright shots; the analysis fits the bright fraction with the lmfit
model of `labctl.analysis.models`, weighted by its binomial errors (known σ:
unscaled fit errors). The fits leave the raw readout's dephased level free
— (F0 + 1 − F1)/2, not 1/2 — so readout errors bias no fitted time or N_1/e.

Programs (`labctl.pulses`), π/2 and π pulses from the calibrated Rabi
frequency (``rabi_hz``):

- rabi: one pulse of length x;
- ramsey: π/2 — free time x — π/2 (the microwave detuned by ``detuning_hz``);
- dynamical_decoupling: π/2 — [τ/2 — π — τ/2] × N — π/2 with total free time
  x, the waits played as looped idle elements;
- memory_robustness: π/2 — x entangling attempts (excitation pulses) — π/2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import numpy as np

from experiments.bringup import (
    HERALDING,
    NODES,
    RABI_FULL_SCALE_HZ,
    SYNC,
    acquire,
    record_raw_streams,
)
from experiments.scanning import LinearScan
from labctl.analysis.fitting import binomial_weights, fit
from labctl.analysis.models import DecouplingModel, MemoryAttemptsModel, RabiModel, RamseyModel
from labctl.data.archive import RunData
from labctl.engine.experiment import Block, Experiment, RunContext
from labctl.pulses.program import Marker, Program, Rotation, Segment
from labctl.station import LabStation

#: Spin transition of the node's emitter, Hz (calibrated by ODMR in a lab).
SPIN_FREQUENCY_HZ = 2.878e9
#: Shortest element these programs use, s: 250 samples at 1.2 GS/s, which hardware
#: sequencers play without switching to a software sequencer.
MIN_ELEMENT = 250 / 1.2e9
#: Most loops of one element these programs use (a 16-bit loop counter); longer waits
#: take several elements.
MAX_LOOPS = 65536
READOUT = Marker("readout", 200e-9, 2e-6)
READOUT_SEGMENT_LENGTH = 2.5e-6


@dataclass(frozen=True)
class ScanConfig(LinearScan):
    """A scan of ``steps`` points from ``start`` to ``stop`` (units of the scanned x)."""

    start: float
    stop: float
    steps: int = 21
    seconds_per_point: float = 0.5
    node: str = "node_a"
    rabi_hz: float = RABI_FULL_SCALE_HZ
    detuning_hz: float = 0.0
    pulses: int = 1
    #: with shots_per_point > 0, each point lasts that many passes of its program
    #: (at most 600 s) instead of seconds_per_point — for scans whose passes differ
    #: in length by orders of magnitude, like memory_robustness
    shots_per_point: int = 0

    def __post_init__(self) -> None:
        if self.steps < 3:
            raise ValueError(f"steps must be at least 3, got {self.steps}")
        if not (math.isfinite(self.start) and math.isfinite(self.stop)) or \
                self.start < 0 or self.stop <= self.start:
            raise ValueError(f"need 0 <= start < stop, got start {self.start}, stop {self.stop}")
        if not 0 < self.seconds_per_point <= 600:
            raise ValueError(f"seconds_per_point must be within (0, 600], got "
                             f"{self.seconds_per_point}")
        if self.rabi_hz <= 0:
            raise ValueError(f"rabi_hz must be positive, got {self.rabi_hz}")
        if self.pulses < 1:
            raise ValueError(f"pulses must be at least 1, got {self.pulses}")
        if self.shots_per_point < 0:
            raise ValueError(f"shots_per_point must not be negative, got {self.shots_per_point}")

    def seconds_for(self, program: Program) -> float:
        """How long one point records: seconds_per_point, or shots_per_point passes."""
        if self.shots_per_point <= 0:
            return self.seconds_per_point
        lengths = {segment.name: segment.duration for segment in program.segments}
        one_pass = sum(lengths[name] * (loops or 1) for name, loops, _, _ in program.sequence)
        return min(600.0, self.shots_per_point * one_pass)



@dataclass(frozen=True)
class RabiConfig(ScanConfig):
    """Pulse lengths 0 – 250 ns (two and a half periods at 10 MHz)."""

    start: float = 0.0
    stop: float = 250e-9


@dataclass(frozen=True)
class RamseyConfig(ScanConfig):
    """Free times 0.2 – 12 µs with the microwave 0.5 MHz off resonance."""

    start: float = 0.2e-6
    stop: float = 12e-6
    steps: int = 31
    detuning_hz: float = 0.5e6


@dataclass(frozen=True)
class DecouplingConfig(ScanConfig):
    """Total free times 0.1 – 4 ms, one π pulse (Hahn echo)."""

    start: float = 0.1e-3
    stop: float = 4e-3
    steps: int = 11
    seconds_per_point: float = 2.0


@dataclass(frozen=True)
class MemoryConfig(ScanConfig):
    """1 – 4000 entangling attempts while the memory stores a superposition."""

    start: float = 1.0
    stop: float = 4000.0
    steps: int = 9
    seconds_per_point: float = 6.0


def _half_pi(config: ScanConfig, start: float = 50e-9) -> Rotation:
    return Rotation.for_angle(start, math.pi / 2, config.rabi_hz)


def _pi(config: ScanConfig, start: float = 50e-9) -> Rotation:
    return Rotation.for_angle(start, math.pi, config.rabi_hz)


def _wait(name: str, duration: float) -> tuple[Segment, int]:
    """An idle element and its loop count covering ``duration`` (at least one element)."""
    loops = max(1, round(duration / MIN_ELEMENT))
    return Segment(name, MIN_ELEMENT), loops


@dataclass(frozen=True)
class ScanResult:
    """A fitted scan: the fit's values with uncertainties, converged or why not."""

    experiment: str
    fit: dict[str, float | bool | str | None]
    points: int
    shots: int


ScanConfigT = TypeVar("ScanConfigT", bound=ScanConfig)


class ReadoutScan(Experiment[ScanConfigT]):
    """Shared machinery: program per point, readout shots, bright fraction, fit."""

    value_names: ClassVar[tuple[str, ...]] = ("x", "shots", "bright")
    #: x-axis label of the plot.
    x_label: ClassVar[str] = "x"

    def program(self, x: float) -> Program:
        raise NotImplementedError

    @classmethod
    def model(cls) -> Any:
        """The lmfit model of the bright fraction against x."""
        raise NotImplementedError

    @classmethod
    def fit_x(cls, x: np.ndarray, config: dict[str, Any]) -> np.ndarray:
        """The scan variable the model is fitted against (default: x itself)."""
        return x

    @classmethod
    def analyze(cls, data: RunData) -> ScanResult:
        x, fraction, shots = _fraction(data)
        x = cls.fit_x(x, data.info.config)
        result = fit(cls.model(), x, fraction, weights=binomial_weights(fraction, shots))
        return ScanResult(cls.name, result.to_dict(), len(x), int(shots.sum()))

    @classmethod
    def plot(cls, data: RunData, result: ScanResult, path: Any) -> bool:
        from labctl.report.run_plots import scan_plot

        x, fraction, shots = _fraction(data)
        x = cls.fit_x(x, data.info.config)
        error = np.sqrt(np.maximum(fraction * (1 - fraction), 1e-4) / shots)
        fit_x = fit_y = None
        if result.fit.get("converged"):
            fit_x = np.linspace(x.min(), x.max(), 400)
            values = {k: v for k, v in result.fit.items() if not k.endswith("_err")
                      and isinstance(v, float)}
            model = cls.model()
            fit_y = model.eval(**{model.independent_vars[0]: fit_x},
                               **{k: values[k] for k in model.param_names if k in values})
        scan_plot(path, x, fraction, error, cls.x_label, "bright fraction",
                  f"run {data.info.run_id} {cls.name}: {result.fit.get('message')}",
                  fit_x, fit_y)
        return True

    def prepare(self, context: RunContext) -> None:
        config = self.config
        station = context.station
        mw = station.microwave(config.node)
        mw.set_frequency_hz(SPIN_FREQUENCY_HZ - config.detuning_hz)
        mw.set_power_dbm(10)
        mw.set_iq_modulation(True)
        mw.set_output(True)
        record_raw_streams(station)
        for node in NODES:   # only the scanned node plays
            station.sequencer(node).stop()

    def acquire(self, context: RunContext, index: int) -> Block:
        config = self.config
        station = context.station
        x = config.point(index)
        program = self.program(x)
        station.sequencer(config.node).play(program)
        channels, timestamps = acquire(station, config.seconds_for(program))
        shots, bright = count_bright_shots(station, config.node, channels, timestamps)
        return Block(values={"x": x, "shots": shots, "bright": bright},
                     progress={"shots": shots})


def count_bright_shots(station: LabStation, node: str, channels: np.ndarray,
                       timestamps: np.ndarray) -> tuple[int, int]:
    """Shots (sync tags) and those with at least one readout photon in their window."""
    tagger = station.tagger(HERALDING)
    readout = f"readout_{node}"
    syncs = timestamps[channels == tagger.channel(SYNC)] + tagger.offset_ps(readout, SYNC)
    photons = np.sort(timestamps[channels == tagger.channel(readout)])
    length = round(READOUT.duration * 1e12)
    first = np.searchsorted(photons, syncs)
    last = np.searchsorted(photons, syncs + length)
    return len(syncs), int(np.count_nonzero(last > first))


def _readout_segment(config: ScanConfig, rotations: tuple[Rotation, ...] = ()) -> Segment:
    shift = max((r.start + r.duration for r in rotations), default=0.0)
    return Segment("readout", READOUT_SEGMENT_LENGTH + shift, rotations=rotations,
                   markers=(Marker("readout", READOUT.start + shift, READOUT.duration),))


def _fraction(data: RunData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    shots = data.values["shots"]
    if shots.size == 0 or np.any(shots <= 0):
        raise ValueError("a scan point has no readout shots: nothing to fit")
    return data.values["x"], data.values["bright"] / shots, shots


class Rabi(ReadoutScan[RabiConfig]):
    name: ClassVar[str] = "rabi"
    description: ClassVar[str] = "microwave pulse length scan: Rabi frequency and π time"
    config_type: ClassVar[type[Any]] = RabiConfig
    x_label: ClassVar[str] = "pulse length (s)"

    @classmethod
    def model(cls) -> Any:
        return RabiModel()

    def program(self, x: float) -> Program:
        rotations = (Rotation(50e-9, x),) if x > 0 else ()
        segment = Segment("rabi", READOUT_SEGMENT_LENGTH + 50e-9 + x, rotations=rotations,
                          markers=(Marker("readout", 50e-9 + x + READOUT.start,
                                          READOUT.duration),))
        return Program(segments=(segment,), sequence=(("rabi", None, None, None),))


class Ramsey(ReadoutScan[RamseyConfig]):
    name: ClassVar[str] = "ramsey"
    description: ClassVar[str] = "π/2 – τ – π/2 free-precession scan: T2* and detuning"
    config_type: ClassVar[type[Any]] = RamseyConfig
    x_label: ClassVar[str] = "free time (s)"

    @classmethod
    def model(cls) -> Any:
        return RamseyModel()

    @classmethod
    def fit_x(cls, x: np.ndarray, config: dict[str, Any]) -> np.ndarray:
        """The effective free time: the gap plus 4τ/π for square π/2 pulses of length τ.

        To first order in the detuning, a square π/2 pulse acts like an
        instantaneous one followed (or preceded) by 2τ/π of free precession,
        so without this the fringe and its T2* envelope are fitted against
        times 4τ/π too short — a visible bias once T2* is a few µs.
        """
        pulse = 1.0 / (4.0 * float(config.get("rabi_hz", RABI_FULL_SCALE_HZ)))
        return x + 4.0 * pulse / math.pi

    def program(self, x: float) -> Program:
        first = _half_pi(self.config)
        second = Rotation(first.start + first.duration + x, first.duration, first.amplitude)
        segment = Segment("ramsey", second.start + second.duration + READOUT.start
                          + READOUT.duration + 100e-9, rotations=(first, second),
                          markers=(Marker("readout", second.start + second.duration
                                          + READOUT.start, READOUT.duration),))
        return Program(segments=(segment,), sequence=(("ramsey", None, None, None),))


class DynamicalDecoupling(ReadoutScan[DecouplingConfig]):
    name: ClassVar[str] = "dynamical_decoupling"
    description: ClassVar[str] = "Hahn echo / CPMG with `pulses` π pulses: coherence time T and n"
    config_type: ClassVar[type[Any]] = DecouplingConfig
    x_label: ClassVar[str] = "total free time (s)"

    @classmethod
    def model(cls) -> Any:
        return DecouplingModel()

    def program(self, x: float) -> Program:
        config = self.config
        half = Segment("half_pi", MIN_ELEMENT, rotations=(_half_pi(config),))
        flip = Segment("pi", MIN_ELEMENT, rotations=(_pi(config),))
        slot = x / config.pulses
        wait_half, loops_half = _wait("wait_half", slot / 2)
        wait_full, loops_full = _wait("wait_full", slot)
        readout = _readout_segment(config, (_half_pi(config),))
        sequence: list[tuple[str, int | None, None, int | None]] = [("half_pi", 1, None, None),
                                                             ("wait_half", loops_half, None, None)]
        for pulse in range(config.pulses):
            sequence.append(("pi", 1, None, None))
            last = pulse == config.pulses - 1
            sequence.append(("wait_half", loops_half, None, None) if last
                            else ("wait_full", loops_full, None, None))
        sequence.append(("readout", 1, None, 1))   # then back to the start: the next shot
        return Program(segments=(half, flip, wait_half, wait_full, readout),
                       sequence=tuple(sequence))


class MemoryRobustness(ReadoutScan[MemoryConfig]):
    name: ClassVar[str] = "memory_robustness"
    description: ClassVar[str] = "stored superposition vs entangling attempts applied: N_1/e"
    config_type: ClassVar[type[Any]] = MemoryConfig
    x_label: ClassVar[str] = "entangling attempts"

    @classmethod
    def model(cls) -> Any:
        return MemoryAttemptsModel()

    def program(self, x: float) -> Program:
        config = self.config
        attempts = max(1, round(x))
        half = Segment("half_pi", MIN_ELEMENT, rotations=(_half_pi(config),))
        attempt = Segment("attempt", 5.5e-6, markers=(Marker("excitation", 1e-6, 2e-9),))
        readout = _readout_segment(config, (_half_pi(config),))
        # an element loops at most MAX_LOOPS times: more attempts take several elements
        full, rest = divmod(attempts, MAX_LOOPS)
        loops = [MAX_LOOPS] * full + ([rest] if rest else [])
        return Program(segments=(half, attempt, readout),
                       sequence=(("half_pi", 1, None, None),
                                 *(("attempt", n, None, None) for n in loops),
                                 ("readout", 1, None, 1)))
