"""Two-qubit states: Pauli operators, Bell states, fidelities and correlators.

Basis order |00>, |01>, |10>, |11> with qubit A first. For an emitter qubit,
|0> is the *bright* spin state (it scatters photons) and |1> the *dark* one.
Pauli correlators and fidelities follow shared/reference/physics.md section 3:
F_Psi± = (1 ± XX ± YY - ZZ)/4, F_Phi± = (1 ± XX ∓ YY + ZZ)/4.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import NDArray

from labctl.physics import checks

ComplexMatrix = NDArray[np.complex128]

IDENTITY = np.eye(2, dtype=np.complex128)
PAULI_X = np.array([[0, 1], [1, 0]], dtype=np.complex128)
PAULI_Y = np.array([[0, -1j], [1j, 0]], dtype=np.complex128)
PAULI_Z = np.array([[1, 0], [0, -1]], dtype=np.complex128)
PAULIS = {"X": PAULI_X, "Y": PAULI_Y, "Z": PAULI_Z}

BellName = Literal["Psi+", "Psi-", "Phi+", "Phi-"]

_SQRT_HALF = 1.0 / np.sqrt(2.0)
_BELL_VECTORS: dict[str, NDArray[np.complex128]] = {
    "Phi+": np.array([1, 0, 0, 1], dtype=np.complex128) * _SQRT_HALF,
    "Phi-": np.array([1, 0, 0, -1], dtype=np.complex128) * _SQRT_HALF,
    "Psi+": np.array([0, 1, 1, 0], dtype=np.complex128) * _SQRT_HALF,
    "Psi-": np.array([0, 1, -1, 0], dtype=np.complex128) * _SQRT_HALF,
}


def bell_state(name: BellName) -> ComplexMatrix:
    """The density matrix of a Bell state."""
    vector = _BELL_VECTORS[name]
    return np.outer(vector, vector.conj())


def werner_state(visibility: float, name: BellName = "Psi-") -> ComplexMatrix:
    """v |Bell><Bell| + (1 - v) I/4."""
    v = checks.probability("visibility", visibility)
    return v * bell_state(name) + (1.0 - v) * np.eye(4, dtype=np.complex128) / 4.0


def basis_state(index: int) -> ComplexMatrix:
    """|index><index| in the two-qubit computational basis (0 = |00>, ..., 3 = |11>)."""
    rho = np.zeros((4, 4), dtype=np.complex128)
    rho[index, index] = 1.0
    return rho


def expectation(rho: ComplexMatrix, operator: ComplexMatrix) -> float:
    """Tr(rho O) for a Hermitian O."""
    return float(np.real(np.trace(rho @ operator)))


def correlator(rho: ComplexMatrix, pauli_a: str, pauli_b: str) -> float:
    """<sigma_a ⊗ sigma_b>, e.g. ``correlator(rho, "X", "X")``."""
    operator: ComplexMatrix = np.kron(PAULIS[pauli_a], PAULIS[pauli_b]).astype(np.complex128)
    return expectation(rho, operator)


def correlators(rho: ComplexMatrix) -> dict[str, float]:
    """The Pauli correlators XX, YY, ZZ of a two-qubit state."""
    return {f"{p}{p}": correlator(rho, p, p) for p in "XYZ"}


def correlation_matrix(rho: ComplexMatrix) -> NDArray[np.float64]:
    """T_ij = <sigma_i ⊗ sigma_j> for i, j in (X, Y, Z)."""
    return np.array([[correlator(rho, a, b) for b in "XYZ"] for a in "XYZ"])


def fidelity_to_bell(rho: ComplexMatrix, name: BellName) -> float:
    """<Bell| rho |Bell>."""
    vector = _BELL_VECTORS[name]
    return float(np.real(vector.conj() @ rho @ vector))


def fidelity_from_correlators(xx: float, yy: float, zz: float, name: BellName) -> float:
    """The Bell-state fidelity from Pauli correlators (physics.md section 3)."""
    signs = {"Psi+": (1, 1, -1), "Psi-": (-1, -1, -1),
             "Phi+": (1, -1, 1), "Phi-": (-1, 1, 1)}[name]
    return (1.0 + signs[0] * xx + signs[1] * yy + signs[2] * zz) / 4.0


def is_density_matrix(rho: ComplexMatrix, tolerance: float = 1e-9) -> bool:
    """Hermitian, unit trace and positive semi-definite."""
    if rho.shape != (4, 4) or not np.allclose(rho, rho.conj().T, atol=tolerance):
        return False
    if abs(np.trace(rho).real - 1.0) > tolerance:
        return False
    return bool(np.linalg.eigvalsh(rho).min() >= -tolerance)


def rotation_x(angle: float) -> ComplexMatrix:
    """exp(−i θ X / 2): a rotation by ``angle`` about x (a microwave pulse of that area)."""
    half = angle / 2.0
    return np.array([[np.cos(half), -1j * np.sin(half)],
                     [-1j * np.sin(half), np.cos(half)]], dtype=np.complex128)


#: _DIFFERS_A[i, j] (_DIFFERS_B): do basis states i and j differ in qubit A's (B's) value?
_DIFFERS_A = np.not_equal.outer(np.arange(4) // 2, np.arange(4) // 2)
_DIFFERS_B = np.not_equal.outer(np.arange(4) % 2, np.arange(4) % 2)


def dephase(rho: ComplexMatrix, coherence_a: float, coherence_b: float) -> ComplexMatrix:
    """Pure dephasing of each qubit: coherences between states that differ in qubit A's
    (B's) value scaled by ``coherence_a`` (``coherence_b``); populations unchanged.

    Averaging a quasi-static Gaussian detuning over a free precession τ gives
    coherence exp(−(τ/T2*)²) (the Ramsey envelope, shared/reference/physics.md
    section 4); the channel equals Z applied with probability (1 − c)/2.
    """
    checks.probability("coherence_a", coherence_a)
    checks.probability("coherence_b", coherence_b)
    scale = np.where(_DIFFERS_A, coherence_a, 1.0) * np.where(_DIFFERS_B, coherence_b, 1.0)
    return (rho * scale).astype(np.complex128)


def apply_local_z_on_b(rho: ComplexMatrix) -> ComplexMatrix:
    """Z on qubit B: maps Psi- to Psi+ (used to bring both heralds to one frame)."""
    operator = np.kron(IDENTITY, PAULI_Z)
    return operator @ rho @ operator.conj().T
