"""Readout shots without heralding: the spin through one pass of a node's AWG program.

For Rabi, Ramsey, echo/dynamical-decoupling and memory experiments the AWG
plays a sequence that ends in a readout pulse, over and over. Each pass
starts from the bright state (optical pumping at the end of the previous
readout). Along the pass the spin feels:

- the microwave pulses (`spin.drive_unitary`, with the carrier's detuning);
- free precession at the detuning plus a quasi-static random detuning with
  rms σ = 1/(√2·π·T2*) (a Gaussian spin bath, Childress et al., Science 314,
  281 (2006); de Lange et al., Science 330, 60 (2010)), averaged over the
  ensemble by `detuning_ensemble` — this gives the Ramsey envelope
  exp[−(t/T2*)²] at every delay and is refocused by π pulses (echo);
- dynamical dephasing that π pulses do not refocus: the coherence decays as
  exp[−(t/T_N)^n] over the free time, with T_N = T·N_π^(2/3) for N_π π
  pulses (Abobeih et al., Nat. Commun. 9, 2552 (2018); de Lange et al.,
  Science 330, 60 (2010)), seen as a loss of contrast of the final pulse;
- entangling attempts while a state is stored (excitation pulses during the
  pass): each dephases with probability p_d, the coherence shrinking by
  (1 − 2p_d) per attempt (Reiserer et al., PRX 6, 021040 (2016)); free time
  inside attempt elements is spent in a decoupled memory and adds no other
  decay.

`bright_probability` returns P(bright) at the first readout pulse of the pass.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from labctl.physics.memory import Memory
from sim_instruments.sequence_decoder import DecodedElement, DecodedSequence, Drive
from sim_instruments.spin import ensemble_drive_unitaries

log = logging.getLogger(__name__)

#: The ensemble grid spans ±this many standard deviations of the detuning (the Gaussian
#: weight beyond is below 1e-15).
_HALF_WIDTH = 8.5
#: Aliasing margin of the grid, in the Fourier variable of the standardised detuning: the
#: first alias of a component of frequency a lies 2π/h − a ≥ this far out, where the
#: Gaussian's transform is exp(−margin²/2) < 1e-21.
_MARGIN = 10.0
#: Most grid nodes: ~85 ms of unrefocused exposure at T2* = 5 µs.
_MAX_NODES = 1 << 16


def detuning_ensemble(sigma_hz: float, exposure: float
                      ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Offsets from the carrier detuning (Hz) and weights averaging a Gaussian detuning of rms
    ``sigma_hz`` over evolutions that feel it for ``exposure`` seconds in all.

    A spin feeling a static detuning δ for a total time T evolves by unitaries
    whose entries are entire functions of δ of exponential type πT, so
    P(bright) is of type 2πT: in x = δ/σ, band-limited to a = 2πσT. The
    trapezoid rule on a uniform grid of step h integrates such a function
    against the Gaussian with error of order exp(−(2π/h − a)²/2) (Poisson
    summation; Trefethen & Weideman, SIAM Rev. 56, 385 (2014), section 5), so
    h = 2π/(a + margin) cannot alias at any delay — unlike a fixed
    Gauss–Hermite rule, whose 41 nodes resolve fringes only to a ≈ 13 (a
    fake Ramsey revival near 9 T2*). The grid grows with T, capped at
    `_MAX_NODES` (beyond it a warning: the fastest components may alias).
    """
    a = 2.0 * math.pi * sigma_hz * exposure
    nodes = math.ceil(2.0 * _HALF_WIDTH * (a + _MARGIN) / (2.0 * math.pi)) | 1
    if nodes > _MAX_NODES:
        log.warning("detuning ensemble capped at %d nodes for %.3g s of exposure: "
                    "components faster than the grid may alias", _MAX_NODES, exposure)
        nodes = _MAX_NODES + 1
    x = np.linspace(-_HALF_WIDTH, _HALF_WIDTH, nodes)
    weights = np.exp(-0.5 * x * x)
    return sigma_hz * x, weights / weights.sum()


@dataclass(frozen=True)
class ShotPlan:
    """One pass of a node's program as a readout shot."""

    bright_probability: float
    pass_duration: float      # s from one pass's start to the next
    readout_start: float      # s from the pass's start
    readout_length: float


def _precession(duration: float, detunings: NDArray[np.float64]) -> NDArray[np.complex128]:
    phase = np.pi * detunings * duration
    out = np.zeros((len(detunings), 2, 2), dtype=np.complex128)
    out[:, 0, 0] = np.exp(-1j * phase)
    out[:, 1, 1] = np.exp(1j * phase)
    return out


def _is_pi(drive: Drive, rabi_hz: float) -> bool:
    area = 2 * np.pi * rabi_hz * float(np.sum(np.hypot(drive.i, drive.q))) * drive.dt
    return abs(area - np.pi) < 0.25 * np.pi


@dataclass
class _Walk:
    """The ensemble of unitaries along a pass, with bookkeeping for the decays."""

    unitaries: NDArray[np.complex128]
    weights: NDArray[np.float64]
    free_time: float = 0.0
    pi_pulses: int = 0
    attempts: int = 0


def plan_shots(sequence: DecodedSequence, memory: Memory, rabi_hz: float,
               detuning_hz: float, driven: bool) -> ShotPlan | None:
    """The readout shot of one pass, or None when the program reads nothing out."""
    if not sequence.running or not sequence.elements:
        return None
    readout_at = next((i for i, e in enumerate(sequence.elements) if e.readouts), None)
    if readout_at is None:
        return None
    sigma = 1.0 / (math.sqrt(2.0) * math.pi * memory.t2_star)
    offsets, weights = detuning_ensemble(sigma, _exposure(sequence, readout_at, driven))
    detunings = detuning_hz + offsets
    walk = _Walk(np.repeat(np.eye(2, dtype=np.complex128)[None], len(detunings), axis=0),
                 weights)
    elapsed = 0.0
    for index, element in enumerate(sequence.elements):
        loops = max(element.loops, 1)
        if index < readout_at:
            _advance(walk, element, element.duration, loops, rabi_hz, detunings, driven)
            elapsed += element.duration * loops
        else:
            stop = element.readouts[0].start
            _advance(walk, element, stop, 1, rabi_hz, detunings, driven)
            readout_start = elapsed + stop
            readout_length = element.readouts[0].duration
            break
    pass_duration = sum(e.duration * max(e.loops, 1) for e in sequence.elements)
    probability = _bright(walk, memory)
    return ShotPlan(float(np.clip(probability, 0.0, 1.0)), pass_duration, readout_start,
                    readout_length)


def _played(element: DecodedElement, until: float, driven: bool) -> tuple[int, list[Drive]]:
    """Entangling attempts and microwave pulses within the element's first ``until`` s."""
    attempts = sum(1 for p in element.excitations if p.start < until)
    drives = [d for d in element.drives if d.stop <= until + 1e-12] if driven else []
    return attempts, drives


def _exposure(sequence: DecodedSequence, readout_at: int, driven: bool) -> float:
    """Seconds the spin feels the quasi-static detuning before the pass's first readout:
    precession outside attempt elements and every microwave pulse."""
    total = 0.0
    for index, element in enumerate(sequence.elements[:readout_at + 1]):
        last = index == readout_at
        until = element.readouts[0].start if last else element.duration
        attempts, drives = _played(element, until, driven)
        pulses = sum(d.stop - d.start for d in drives)
        total += (pulses if attempts else until) * (1 if last else max(element.loops, 1))
    return total


def _advance(walk: _Walk, element: DecodedElement, until: float, loops: int, rabi_hz: float,
             detunings: NDArray[np.float64], driven: bool) -> None:
    """Evolve through ``loops`` repetitions of the element's first ``until`` seconds."""
    attempts_here, drives = _played(element, until, driven)
    # while attempts run, the stored state sits in a decoupled memory: no precession
    stored = np.zeros_like(detunings) if attempts_here else detunings
    unitary = np.repeat(np.eye(2, dtype=np.complex128)[None], len(detunings), axis=0)
    cursor, free, pis = 0.0, 0.0, 0
    for drive in drives:
        gap = max(drive.start - cursor, 0.0)
        unitary = _precession(gap, stored) @ unitary
        free += gap
        step = ensemble_drive_unitaries(drive, rabi_hz, detunings)
        unitary = step @ unitary
        pis += int(_is_pi(drive, rabi_hz))
        cursor = drive.stop
    tail = max(until - cursor, 0.0)
    free += tail
    if not drives:   # free precession only: repeated, it is one longer precession
        unitary = _precession(tail * loops, stored)
    else:
        unitary = _precession(tail, stored) @ unitary
        if loops > 1:
            unitary = np.linalg.matrix_power(unitary, loops)
    walk.unitaries = unitary @ walk.unitaries
    if attempts_here == 0:
        walk.free_time += free * loops
    walk.pi_pulses += pis * loops
    walk.attempts += attempts_here * loops


def _bright(walk: _Walk, memory: Memory) -> float:
    """P(bright) of the ensemble, the unrefocused decays shrinking its contrast.

    The experiments this serves end with a pulse that turns the stored
    coherence into population, so a coherence decay by a factor c before that
    pulse moves P(bright) towards 1/2 by the same factor.
    """
    decay = (1.0 - 2.0 * memory.dephasing_per_attempt) ** walk.attempts
    if walk.pi_pulses > 0 and walk.free_time > 0:
        scale = memory.coherence_time * walk.pi_pulses ** (2.0 / 3.0)
        decay *= math.exp(-((walk.free_time / scale) ** memory.decoupling_exponent))
    bright = np.abs(walk.unitaries[:, 0, 0]) ** 2
    ideal = float(np.dot(walk.weights, bright))
    return 0.5 + decay * (ideal - 0.5)
