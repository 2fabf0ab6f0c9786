"""Spin rotations driven by the microwave source's I/Q-modulated pulses.

In the frame rotating with the microwave carrier the spin Hamiltonian is
H = (Δ/2)σz + (Ω/2)(I(t)σx + Q(t)σy), with Δ = 2π(f_spin − f_mw) and Ω the
Rabi angular frequency at full-scale I/Q, which grows with the source's
power as 10^(P/20) (field amplitude). Each AWG sample is a constant-H step;
the steps are multiplied pairwise (log₂ N numpy products), never in a Python
loop per sample. The emitter's bright state |0⟩ (NV ms = 0) is where
optical pumping leaves the spin.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from sim_instruments.sequence_decoder import Drive

Unitary = NDArray[np.complex128]
IDENTITY: Unitary = np.eye(2, dtype=np.complex128)
_PAULI = np.array([[[0, 1], [1, 0]], [[0, -1j], [1j, 0]], [[1, 0], [0, -1]]],
                  dtype=np.complex128)


def step_unitaries(i: NDArray[np.float64], q: NDArray[np.float64], dt: float,
                   rabi_hz: float, detuning_hz: float) -> NDArray[np.complex128]:
    """exp(-i H dt) for every sample, shape (N, 2, 2)."""
    omega = 2 * np.pi * rabi_hz
    field = np.stack([omega * i, omega * q, np.full_like(i, 2 * np.pi * detuning_hz)], axis=1)
    norm = np.linalg.norm(field, axis=1)
    angle = norm * dt / 2
    axis = np.divide(field, norm[:, None], out=np.zeros_like(field), where=norm[:, None] > 0)
    generator = np.einsum("nk,kab->nab", axis, _PAULI)
    return (np.cos(angle)[:, None, None] * IDENTITY
            - 1j * np.sin(angle)[:, None, None] * generator)


def product(steps: NDArray[np.complex128]) -> Unitary:
    """U_N ··· U_2 U_1 of steps U_1..U_N by pairwise reduction."""
    if len(steps) == 0:
        return IDENTITY.copy()
    current = steps
    while len(current) > 1:
        if len(current) % 2:
            current = np.concatenate([current, IDENTITY[None]], axis=0)
        current = current[1::2] @ current[0::2]
    return current[0]


def drive_unitary(drive: Drive, rabi_hz: float, detuning_hz: float) -> Unitary:
    """The rotation one microwave pulse applies."""
    return product(step_unitaries(drive.i, drive.q, drive.dt, rabi_hz, detuning_hz))


def free_precession(duration: float, detuning_hz: float) -> Unitary:
    """Evolution between pulses in the rotating frame."""
    phase = np.pi * detuning_hz * duration
    return np.diag([np.exp(-1j * phase), np.exp(1j * phase)]).astype(np.complex128)


def bright_population(unitary: Unitary) -> float:
    """P(|0>) after ``unitary`` acts on the bright state |0>."""
    return float(abs(unitary[0, 0]) ** 2)


def measured_direction(unitary: Unitary) -> NDArray[np.float64]:
    """Bloch vector n such that rotating by ``unitary`` then reading out Z measures n·σ."""
    observable = unitary.conj().T @ _PAULI[2] @ unitary
    return np.real(np.einsum("kab,ba->k", _PAULI, observable)) / 2
