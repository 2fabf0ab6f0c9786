"""Quantum-memory decay laws: Ramsey (T2*), Hahn echo / dynamical decoupling, entangling attempts.

All from shared/reference/physics.md section 4:

- Ramsey: P(t) = 1/2 + (A/2) exp[-(t/T2*)²] cos(2π Δ t + φ)
- echo/DD: P(t) = 1/2 + (A/2) exp[-(t/T)^n], n in [1, 4]
- memory under entangling attempts (Reiserer et al., PRX 6, 021040 (2016);
  Kalb et al. 2018): F(N) = 1/2 + (F0 - 1/2) exp(-N / N_1/e), with
  N_1/e = -1 / ln(1 - 2 p_d) for a dephasing probability p_d per attempt.

NV electron-spin numbers (Abobeih et al., Nat. Commun. 9, 2552 (2018)):
T2* ≈ 5 µs, Hahn echo ≈ 1 ms, dynamical decoupling > 1 s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from labctl.physics import checks


def ramsey(t: ArrayLike, t2_star: float, amplitude: float = 1.0, detuning: float = 0.0,
           phase: float = 0.0) -> NDArray[np.float64]:
    """Ramsey fringe: probability of the initial state after free evolution t (s)."""
    checks.positive("t2_star", t2_star)
    times = np.asarray(t, dtype=float)
    envelope = np.exp(-((times / t2_star) ** 2))
    return 0.5 + 0.5 * amplitude * envelope * np.cos(2 * np.pi * detuning * times + phase)


def decoupled_decay(t: ArrayLike, coherence_time: float, exponent: float,
                    amplitude: float = 1.0) -> NDArray[np.float64]:
    """Hahn echo / dynamical decoupling: 1/2 + (A/2) exp[-(t/T)^n]."""
    checks.positive("coherence_time", coherence_time)
    checks.within("exponent", exponent, 1.0, 4.0)
    times = np.asarray(t, dtype=float)
    return 0.5 + 0.5 * amplitude * np.exp(-((times / coherence_time) ** exponent))


def attempts_to_1_over_e(dephasing_per_attempt: float) -> float:
    """N_1/e = -1 / ln(1 - 2 p_d)."""
    p_d = checks.within("dephasing_per_attempt", dephasing_per_attempt, 0.0, 0.5)
    if p_d == 0.0:
        return math.inf
    if p_d == 0.5:
        return 0.0
    return -1.0 / math.log1p(-2.0 * p_d)


def fidelity_after_attempts(attempts: ArrayLike, initial_fidelity: float,
                            n_1_over_e: float) -> NDArray[np.float64]:
    """F(N) = 1/2 + (F0 - 1/2) exp(-N / N_1/e)."""
    checks.probability("initial_fidelity", initial_fidelity)
    checks.positive("n_1_over_e", n_1_over_e)
    n = np.asarray(attempts, dtype=float)
    return 0.5 + (initial_fidelity - 0.5) * np.exp(-n / n_1_over_e)


@dataclass(frozen=True)
class Memory:
    """Coherence figures of one node's memory qubit."""

    t2_star: float = 5e-6
    coherence_time: float = 1e-3
    decoupling_exponent: float = 2.0
    dephasing_per_attempt: float = 5e-4

    def __post_init__(self) -> None:
        checks.positive("t2_star", self.t2_star)
        checks.positive("coherence_time", self.coherence_time)
        checks.within("decoupling_exponent", self.decoupling_exponent, 1.0, 4.0)
        checks.within("dephasing_per_attempt", self.dephasing_per_attempt, 0.0, 0.5)

    @property
    def n_1_over_e(self) -> float:
        """Entangling attempts before the stored state's coherence falls to 1/e."""
        return attempts_to_1_over_e(self.dephasing_per_attempt)
