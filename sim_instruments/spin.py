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
#: Most (2, 2) step unitaries `ensemble_drive_unitaries` holds at once (~16 MB).
_MAX_STEPS = 1 << 20
_PAULI = np.array([[[0, 1], [1, 0]], [[0, -1j], [1j, 0]], [[1, 0], [0, -1]]],
                  dtype=np.complex128)


def step_unitaries(i: NDArray[np.float64], q: NDArray[np.float64],
                   dt: float | NDArray[np.float64], rabi_hz: float,
                   detuning_hz: float | NDArray[np.float64]) -> NDArray[np.complex128]:
    """exp(-i H dt) for every sample, shape (N, 2, 2); for K detunings, (K, N, 2, 2).

    ``dt`` is one sample's length, or each step's (N,)."""
    omega = 2 * np.pi * rabi_hz
    detuning = np.asarray(detuning_hz, dtype=float)[..., None]       # (..., 1)
    shape = np.broadcast_shapes(detuning.shape, i.shape)
    field = np.stack([np.broadcast_to(omega * i, shape), np.broadcast_to(omega * q, shape),
                      np.broadcast_to(2 * np.pi * detuning, shape)], axis=-1)
    norm = np.linalg.norm(field, axis=-1)
    angle = norm * dt / 2
    axis = np.divide(field, norm[..., None], out=np.zeros_like(field),
                     where=norm[..., None] > 0)
    generator = np.einsum("...k,kab->...ab", axis, _PAULI)
    return (np.cos(angle)[..., None, None] * IDENTITY
            - 1j * np.sin(angle)[..., None, None] * generator)


def product(steps: NDArray[np.complex128]) -> NDArray[np.complex128]:
    """U_N ··· U_2 U_1 of steps U_1..U_N (axis −3) by pairwise reduction: (N, 2, 2) → (2, 2),
    (K, N, 2, 2) → (K, 2, 2)."""
    current = steps
    if current.shape[-3] == 0:
        return np.broadcast_to(IDENTITY, (*current.shape[:-3], 2, 2)).copy()
    while current.shape[-3] > 1:
        if current.shape[-3] % 2:
            pad = np.broadcast_to(IDENTITY, (*current.shape[:-3], 1, 2, 2))
            current = np.concatenate([current, pad], axis=-3)
        current = current[..., 1::2, :, :] @ current[..., 0::2, :, :]
    return current[..., 0, :, :]


def drive_unitary(drive: Drive, rabi_hz: float, detuning_hz: float) -> Unitary:
    """The rotation one microwave pulse applies."""
    return product(step_unitaries(drive.i, drive.q, drive.dt, rabi_hz, detuning_hz))


def ensemble_drive_unitaries(drive: Drive, rabi_hz: float, detunings: NDArray[np.float64]
                             ) -> NDArray[np.complex128]:
    """The rotation one microwave pulse applies at each of K detunings, shape (K, 2, 2).

    Runs of equal samples are one step of their whole length (H is constant
    over the run, so this is exact: a square pulse is a single step), and
    detunings are taken in chunks so that no more than `_MAX_STEPS` step
    unitaries are held at once.
    """
    i, q, lengths = _runs(drive.i, drive.q, drive.dt)
    chunk = max(1, _MAX_STEPS // max(len(i), 1))
    return np.concatenate([product(step_unitaries(i, q, lengths, rabi_hz,
                                                  detunings[start:start + chunk]))
                           for start in range(0, len(detunings), chunk)], axis=0)


def _runs(i: NDArray[np.float64], q: NDArray[np.float64], dt: float
          ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """(I, Q) of each run of equal consecutive samples, and the run's length in s."""
    if len(i) == 0:
        return i, q, np.zeros(0)
    change = np.flatnonzero((np.diff(i) != 0) | (np.diff(q) != 0)) + 1
    starts = np.concatenate([[0], change])
    counts = np.diff(np.concatenate([starts, [len(i)]]))
    return i[starts], q[starts], counts * dt


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
