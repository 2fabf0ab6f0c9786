"""Two-qubit states and Bell statistics against textbook limits (physics.md section 3)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from labctl.physics import bell, states
from labctl.physics.emitter import Readout


@pytest.mark.parametrize("v", [0.0, 0.3, 0.5, 0.75, 1.0])
@pytest.mark.parametrize("name", ["Psi+", "Psi-", "Phi+", "Phi-"])
def test_werner_state_reaches_s_equal_2_sqrt2_v(v, name):
    rho = states.werner_state(v, name)
    assert bell.max_chsh(rho) == pytest.approx(2 * math.sqrt(2) * v, abs=1e-12)
    settings_a, settings_b = bell.optimal_settings(rho)
    if v > 0:
        assert bell.chsh_value(rho, settings_a, settings_b) == pytest.approx(
            2 * math.sqrt(2) * v, abs=1e-9)


@pytest.mark.parametrize("v", [0.0, 0.5, 1.0])
def test_werner_fidelity_is_one_plus_3v_over_4(v):
    assert states.fidelity_to_bell(states.werner_state(v, "Psi-"), "Psi-") == pytest.approx(
        (1 + 3 * v) / 4)


@pytest.mark.parametrize("name", ["Psi+", "Psi-", "Phi+", "Phi-"])
def test_fidelity_from_correlators_matches_density_matrix_for_each_bell_target(name):
    rng = np.random.default_rng(7)
    for _ in range(20):
        a = rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4))
        rho = a @ a.conj().T
        rho /= np.trace(rho)
        c = states.correlators(rho)  # |Bell><Bell| = (II ± XX ± YY ± ZZ)/4 for any state
        assert states.fidelity_from_correlators(c["XX"], c["YY"], c["ZZ"], name) == \
            pytest.approx(states.fidelity_to_bell(rho, name), abs=1e-12)


def test_textbook_chsh_settings_on_psi_plus():
    rho = states.bell_state("Psi+")
    s = bell.chsh_value(rho, (bell.equatorial(0), bell.equatorial(math.pi / 2)),
                        (bell.equatorial(math.pi / 4), bell.equatorial(-math.pi / 4)))
    assert s == pytest.approx(2 * math.sqrt(2))


def test_symmetric_readout_error_scales_correlators_by_2f_minus_1_squared():
    rho = states.bell_state("Psi+")
    f = 0.9
    readout = Readout(f, f)
    p = bell.outcome_probabilities(rho, "X", "X", readout, readout)
    assert bell.correlator_from_probabilities(p) == pytest.approx((2 * f - 1) ** 2)
    assert p.sum() == pytest.approx(1.0)


def test_nv_readout_lowers_the_best_s():
    rho = states.bell_state("Psi-")
    nv = Readout(0.95, 0.995)
    assert 2.4 < bell.best_chsh_with_readout(rho, nv, nv) < bell.max_chsh(rho)


def test_chsh_game_win_probability_and_s_are_inverse():
    for s in (-2.0, 0.0, 2.0, 2 * math.sqrt(2)):
        omega = bell.chsh_win_probability(s)
        assert bell.chsh_from_win_probability(omega) == pytest.approx(s)
    assert bell.chsh_win_probability(2.0) == pytest.approx(0.75)
    assert bell.chsh_win_probability(2 * math.sqrt(2)) == pytest.approx(
        0.5 + math.sqrt(2) / 4)


def test_outcome_probabilities_of_a_product_state():
    rho = states.basis_state(1)  # |0>|1>: A bright, B dark
    p = bell.outcome_probabilities(rho, "Z", "Z")
    assert p[0, 1] == pytest.approx(1.0)
    p = bell.outcome_probabilities(rho, "X", "Z")
    assert p[0, 1] == pytest.approx(0.5) and p[1, 1] == pytest.approx(0.5)


@pytest.mark.parametrize("basis", ["W", [0, 0, 0], [1, 2], [float("nan"), 0, 1]])
def test_bad_basis_is_refused(basis):
    with pytest.raises(ValueError, match="basis"):
        bell.direction(basis)


def test_states_are_valid_density_matrices():
    for name in ("Psi+", "Psi-", "Phi+", "Phi-"):
        assert states.is_density_matrix(states.bell_state(name))
    assert not states.is_density_matrix(np.diag([1.0, 0.5, -0.5, 0.0]).astype(complex))
