"""Measuring two-qubit states in arbitrary bases with readout errors; CHSH.

Outcomes are indexed 0 (eigenvalue +1 of n·sigma, reported as spin "0") and
1 (eigenvalue -1). A node measures along n by rotating n onto Z and reading
out with its assignment matrix (F0, F1). CHSH S = E00 + E01 + E10 - E11;
its maximum over settings for a state is 2 sqrt(t1 + t2) with t1, t2 the two
largest eigenvalues of T^T T (Horodecki, Horodecki & Horodecki, Phys. Lett.
A 200, 340 (1995)). For uniform settings the CHSH game is won with
probability omega = 1/2 + S/8, i.e. S = 4(2 omega - 1) (physics.md section 3).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from labctl.physics import checks
from labctl.physics.emitter import Readout
from labctl.physics.states import PAULI_X, PAULI_Y, PAULI_Z, ComplexMatrix, correlation_matrix

Direction = NDArray[np.float64]

_AXES = {"X": (1.0, 0.0, 0.0), "Y": (0.0, 1.0, 0.0), "Z": (0.0, 0.0, 1.0),
         "-X": (-1.0, 0.0, 0.0), "-Y": (0.0, -1.0, 0.0), "-Z": (0.0, 0.0, -1.0)}
_PERFECT = Readout(1.0, 1.0)


def direction(basis: str | Sequence[float] | Direction) -> Direction:
    """A unit Bloch vector from a basis label ("X", "-Y", ...) or a 3-vector."""
    if isinstance(basis, str):
        if basis not in _AXES:
            raise ValueError(f"basis must be one of {', '.join(_AXES)} or a 3-vector, "
                             f"got {basis!r}")
        return np.array(_AXES[basis])
    vector = np.asarray(basis, dtype=float)
    if vector.shape != (3,) or not np.all(np.isfinite(vector)):
        raise ValueError(f"basis vector must be 3 finite numbers, got {basis!r}")
    norm = float(np.linalg.norm(vector))
    if norm == 0.0:
        raise ValueError("basis vector must not be zero")
    return vector / norm


def equatorial(angle: float) -> Direction:
    """The Bloch vector cos(angle) X + sin(angle) Y (radians)."""
    angle = checks.finite("angle", angle)
    return np.array([np.cos(angle), np.sin(angle), 0.0])


def _projector(n: Direction, outcome: int) -> ComplexMatrix:
    operator = n[0] * PAULI_X + n[1] * PAULI_Y + n[2] * PAULI_Z
    sign = 1.0 if outcome == 0 else -1.0
    return (np.eye(2) + sign * operator) / 2.0


def outcome_probabilities(rho: ComplexMatrix, basis_a: str | Sequence[float] | Direction,
                          basis_b: str | Sequence[float] | Direction, readout_a: Readout = _PERFECT,
                          readout_b: Readout = _PERFECT) -> NDArray[np.float64]:
    """P[a, b] of reported outcomes a, b in {0, 1}, readout errors included."""
    n_a, n_b = direction(basis_a), direction(basis_b)
    ideal = np.array([[np.real(np.trace(rho @ np.kron(_projector(n_a, a), _projector(n_b, b))))
                       for b in (0, 1)] for a in (0, 1)])
    ideal = np.clip(ideal, 0.0, None)
    m_a = np.array(readout_a.assignment_matrix)
    m_b = np.array(readout_b.assignment_matrix)
    probabilities = m_a @ ideal @ m_b.T
    return probabilities / probabilities.sum()


def correlator_from_probabilities(probabilities: NDArray[np.float64]) -> float:
    """E = P(same) - P(different)."""
    return float(probabilities[0, 0] + probabilities[1, 1]
                 - probabilities[0, 1] - probabilities[1, 0])


def chsh_value(rho: ComplexMatrix, settings_a: tuple[Direction, Direction],
               settings_b: tuple[Direction, Direction], readout_a: Readout = _PERFECT,
               readout_b: Readout = _PERFECT) -> float:
    """S = E00 + E01 + E10 - E11 for the given measurement directions."""
    total = 0.0
    for x in (0, 1):
        for y in (0, 1):
            e = correlator_from_probabilities(outcome_probabilities(
                rho, settings_a[x], settings_b[y], readout_a, readout_b))
            total += -e if x == 1 and y == 1 else e
    return total


def max_chsh(rho: ComplexMatrix) -> float:
    """The largest S any settings reach on ``rho`` with perfect readout (Horodecki)."""
    t = correlation_matrix(rho)
    eigenvalues = np.sort(np.linalg.eigvalsh(t.T @ t))[::-1]
    return float(2.0 * np.sqrt(max(eigenvalues[0] + eigenvalues[1], 0.0)))


def optimal_settings(rho: ComplexMatrix) -> tuple[tuple[Direction, Direction],
                                                   tuple[Direction, Direction]]:
    """Directions (a0, a1), (b0, b1) reaching `max_chsh` with perfect readout."""
    t = correlation_matrix(rho)
    u, singular, vt = np.linalg.svd(t)
    # S = a0·T(b0+b1) + a1·T(b0-b1); choose b0 ± b1 along the top two right singular vectors
    v1, v2 = vt[0], vt[1]
    theta = np.arctan2(singular[1], singular[0])
    b0 = np.cos(theta) * v1 + np.sin(theta) * v2
    b1 = np.cos(theta) * v1 - np.sin(theta) * v2
    a0 = t @ (b0 + b1)
    a1 = t @ (b0 - b1)
    a0 = a0 / np.linalg.norm(a0) if np.linalg.norm(a0) > 0 else u[:, 0]
    a1 = a1 / np.linalg.norm(a1) if np.linalg.norm(a1) > 0 else u[:, 1]
    return (a0, a1), (b0, b1)


def best_chsh_with_readout(rho: ComplexMatrix, readout_a: Readout,
                           readout_b: Readout) -> float:
    """S at the state's optimal settings, measured with the given readout errors."""
    settings_a, settings_b = optimal_settings(rho)
    return chsh_value(rho, settings_a, settings_b, readout_a, readout_b)


def axis_settings(correlations: Sequence[float], preferred: str = "XYZ"
                  ) -> tuple[tuple[Direction, Direction], tuple[Direction, Direction]]:
    """Optimal CHSH directions for a state with diagonal correlations (T_XX, T_YY, T_ZZ).

    A measures along the two axes i, j with the largest |T| (ties go to the
    earlier axis of ``preferred``), B along s_i cos θ e_i ± s_j sin θ e_j with
    s = sign(T) and tan θ = |T_j|/|T_i|, so that S = 2 sqrt(T_i² + T_j²) = `max_chsh`
    for a diagonal T (Horodecki et al. 1995). For |01⟩ ± |10⟩ states with a
    weakened ZZ that is the XY plane.
    """
    t = np.asarray(correlations, dtype=float)
    if t.shape != (3,) or not np.all(np.isfinite(t)) or np.any(np.abs(t) > 1.0 + 1e-9):
        raise ValueError(f"correlations must be three numbers within [-1, 1], got {correlations!r}")
    if sorted(preferred) != ["X", "Y", "Z"]:
        raise ValueError(f"preferred must order the axes X, Y, Z, got {preferred!r}")
    rank = {axis: k for k, axis in enumerate("XYZ")}
    order = sorted((rank[axis] for axis in preferred), key=lambda k: -abs(t[k]))
    i, j = order[0], order[1]
    axes = np.eye(3)
    sign_i, sign_j = (1.0 if t[i] >= 0 else -1.0), (1.0 if t[j] >= 0 else -1.0)
    theta = np.arctan2(abs(t[j]), abs(t[i])) if abs(t[i]) + abs(t[j]) > 0 else np.pi / 4
    b0 = sign_i * np.cos(theta) * axes[i] + sign_j * np.sin(theta) * axes[j]
    b1 = sign_i * np.cos(theta) * axes[i] - sign_j * np.sin(theta) * axes[j]
    return (axes[i].copy(), axes[j].copy()), (b0, b1)


def chsh_win_probability(s: float) -> float:
    """omega = 1/2 + S/8 for uniformly random settings."""
    return 0.5 + checks.within("S", s, -4.0, 4.0) / 8.0


def chsh_from_win_probability(omega: float) -> float:
    """S = 4 (2 omega - 1)."""
    return 4.0 * (2.0 * checks.probability("win probability", omega) - 1.0)
