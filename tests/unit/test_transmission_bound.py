"""ε_T for coherent errors (issue 15, item 13): the six-state error rates under-state a
coherent channel's distance from the identity; `any_channel_transmission_bound` covers it.

For a unitary channel U = exp(−iθ n·σ/2) the diamond distance is known in closed form,
½‖U·U† − id‖◇ = sin(θ/2) (the eigenphases ±θ/2 of U; Watrous 2018, ch. 3), and for a
Pauli channel it is p_x + p_y + p_z. The error rates Q_b are computed exactly from the
channel on the six cardinal states, each measured in its own basis.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from experiments.prepare_measure import any_channel_transmission_bound

PAULI = {"X": np.array([[0, 1], [1, 0]], complex), "Y": np.array([[0, -1j], [1j, 0]]),
         "Z": np.array([[1, 0], [0, -1]], complex)}


def eigenstates(basis: str) -> list[np.ndarray]:
    _, vectors = np.linalg.eigh(PAULI[basis])
    return [vectors[:, i] for i in range(2)]


def error_rates(kraus: list[np.ndarray]) -> dict[str, float]:
    rates = {}
    for basis in PAULI:
        states = eigenstates(basis)
        wrong = 0.0
        for sent, other in ((states[0], states[1]), (states[1], states[0])):
            rho = sum(k @ np.outer(sent, sent.conj()) @ k.conj().T for k in kraus)
            wrong += float(np.real(other.conj() @ rho @ other))
        rates[basis] = wrong / 2
    return rates


def rotation(theta: float, axis: np.ndarray) -> np.ndarray:
    n = axis / np.linalg.norm(axis)
    generator = sum(c * PAULI[b] for c, b in zip(n, "XYZ", strict=True))
    return math.cos(theta / 2) * np.eye(2) - 1j * math.sin(theta / 2) * generator


@pytest.mark.parametrize("seed", range(8))
def test_a_coherent_rotation_is_bracketed_and_the_pauli_value_understates_it(seed):
    rng = np.random.default_rng(seed)
    theta = rng.uniform(0.01, 0.6)
    channel = [rotation(theta, rng.normal(size=3))]
    q = error_rates(channel)
    pauli_error = sum(q.values()) / 2
    truth = math.sin(theta / 2)
    bound, _ = any_channel_transmission_bound(pauli_error, 0.0)
    assert pauli_error == pytest.approx(math.sin(theta / 2) ** 2)   # = 1 − F_pro
    assert pauli_error < truth <= bound + 1e-12
    assert truth < 0.6 * bound        # a bound, not a second estimate


@pytest.mark.parametrize("probabilities", [(0.01, 0.0, 0.0), (0.02, 0.01, 0.03),
                                           (0.0, 0.0, 0.05)])
def test_for_a_pauli_channel_the_six_state_value_is_exact_and_bounded(probabilities):
    px, py, pz = probabilities
    kraus = [math.sqrt(1 - px - py - pz) * np.eye(2), math.sqrt(px) * PAULI["X"],
             math.sqrt(py) * PAULI["Y"], math.sqrt(pz) * PAULI["Z"]]
    q = error_rates(kraus)
    assert sum(q.values()) / 2 == pytest.approx(px + py + pz)
    assert any_channel_transmission_bound(px + py + pz, 0.0)[0] >= px + py + pz


def test_the_bound_propagates_its_error_and_refuses_a_rate_out_of_range():
    value, error = any_channel_transmission_bound(0.04, 0.004)
    assert value == pytest.approx(0.4) and error == pytest.approx(0.004 / 0.2)
    assert any_channel_transmission_bound(0.0, 0.0001)[1] == pytest.approx(0.02)
    with pytest.raises(ValueError, match="within"):
        any_channel_transmission_bound(1.5, 0.0)
