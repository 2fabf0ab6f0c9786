"""Stage certification from measured parameters (Wehner, Elkouss & Hanson 2018).

Per pair of end nodes and per end node (memory); the preparation error from the
Bell-diagonal reconstruction; the memory criterion as the storage error after
k·C_m·t; per-node readout correction with its calibration error.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from experiments.entanglement import PAIRS, corrected_correlators
from labctl.analysis.estimators import bell_fidelity, corrected_correlator_from_counts
from labctl.physics import bell, states
from labctl.physics.emitter import Readout
from labctl.stages import (
    BB84_THRESHOLD,
    DI_QKD_THRESHOLD,
    LINK_NOTE,
    STORAGE_ERROR_THRESHOLD,
    Estimate,
    Measurements,
    MemoryDecay,
    bell_diagonal_error,
    certify,
    highest_stage,
    preparation_error,
    rounds_supported,
    scope,
    storage_error,
    storage_error_after,
)

#: attempt period of a Barrett–Kok attempt (experiments.entanglement), s
PERIOD = 8e-6


def exact(value: float) -> Estimate:
    return Estimate(value, value, value)


def memory(n_1_over_e: float, runs=(9,)) -> MemoryDecay:
    return MemoryDecay(exact(n_1_over_e), PERIOD, runs)


def link(epsilon_t=0.03, epsilon_m=0.01, fidelity=0.999, n_1_over_e=1e7, pair=0.05,
         nodes=("node_a", "node_b"), **extra):
    memories = extra.pop("memories", {node: memory(n_1_over_e) for node in nodes})
    return Measurements(p=exact(1e-4), epsilon_t=exact(epsilon_t), epsilon_m=exact(epsilon_m),
                        fidelity=None if fidelity is None else exact(fidelity),
                        pair_time=exact(pair), memories=memories,
                        nodes=nodes, runs={"pairs": (3,), "readout": (1, 2)}, **extra)


def verdicts_by_stage(measured, rounds=10, **options):
    return {v.stage: v for v in certify(measured, rounds, **options)}


def test_box_1_bound_and_the_storage_error():
    assert preparation_error(exact(0.99)).value == pytest.approx(0.1)
    interval = preparation_error(Estimate(0.99, 0.98, 1.0))
    assert (interval.low, interval.high) == pytest.approx((0.0, math.sqrt(0.02)))
    # after N_1/e attempts the stored coherence is 1/e: error (1 − 1/e)/2
    assert storage_error(1000, 1000) == pytest.approx((1 - math.exp(-1)) / 2)
    decay = MemoryDecay(Estimate(1e5, 0.8e5, 1.2e5), PERIOD)
    error = storage_error_after(10, 2.0, Estimate(0.05, 0.04, 0.06), decay)
    attempts = 10 * 2.0 * np.array([0.05, 0.04, 0.06]) / PERIOD
    assert (error.value, error.low, error.high) == pytest.approx(
        tuple((1 - np.exp(-attempts / [1e5, 1.2e5, 0.8e5])) / 2))
    k = rounds_supported(exact(0.05), decay, 1.0)
    assert storage_error_after(k.value, 1.0, exact(0.05), MemoryDecay(exact(1e5), PERIOD)).value \
        == pytest.approx(STORAGE_ERROR_THRESHOLD)
    assert k.low < k.value < k.high


def test_a_good_link_attains_the_quantum_memory_stage_with_margins():
    verdicts = verdicts_by_stage(link())
    assert all(v.attained for v in verdicts.values())
    assert verdicts["prepare_and_measure"].margin == pytest.approx(BB84_THRESHOLD - 0.04)
    assert verdicts["entanglement_distribution"].margin == pytest.approx(
        DI_QKD_THRESHOLD - (math.sqrt(0.001) + 0.01))      # no correlators: √(1 − F)
    assert "√(1 − F)" in verdicts["entanglement_distribution"].reason
    stored = storage_error(10 * 0.05 / PERIOD, 1e7)
    assert verdicts["quantum_memory"].margin == pytest.approx(STORAGE_ERROR_THRESHOLD - stored)
    assert verdicts["quantum_memory"].thresholds == {
        "epsilon_store": STORAGE_ERROR_THRESHOLD, "k": 10.0, "C_m": 1.0}
    assert highest_stage(list(verdicts.values())) == "quantum_memory"
    assert verdicts["entanglement_distribution"].runs == (1, 2, 3)
    assert verdicts["quantum_memory"].runs == (3,)


@pytest.mark.parametrize("measured, stage", [
    (link(epsilon_t=0.105), "none"),                            # ε_T + ε_M = 0.115 > 0.11
    (link(fidelity=0.99), "prepare_and_measure"),               # ε_P = 0.1
    (link(n_1_over_e=2e5), "entanglement_distribution"),        # ε_store = 0.14
])
def test_each_threshold_decides_its_stage(measured, stage):
    assert highest_stage(certify(measured)) == stage


def test_the_sim_memory_world_keeps_its_state_too_badly_for_ten_rounds():
    """Issue 15, item 4: the numbers `labctl certify --profile sim-memory` measured.

    N_1/e = 2.48e5 attempts of 8 µs and t = 52.2 ms give a 1/e storage time
    of 1.98 s = 38 t: the old criterion (lower bound of k = T_1/e / t ≥ 10)
    attained the stage. After k·C_m·t = 10 t, however, the memory has seen
    65 000 attempts and keeps an equatorial state with fidelity 0.885 —
    storage error 0.115, twice the threshold.
    """
    decay = MemoryDecay(Estimate.normal(2.478e5, 1.13e4, 0.0), PERIOD)
    measured = link(pair=0.0521717, memories={"node_a": decay, "node_b": decay})
    verdict = verdicts_by_stage(measured)["quantum_memory"]
    assert verdict.attained is False
    error = verdict.parameters["epsilon_store"]
    assert 1 - error.value == pytest.approx(0.885, abs=0.001)
    assert error.value > 2 * STORAGE_ERROR_THRESHOLD
    assert "node_a" in verdict.reason or "node_b" in verdict.reason
    # the same memory holds for fewer rounds: k_supported ≈ 4.6
    assert verdict.parameters["k_supported"].value == pytest.approx(4.6, abs=0.1)
    assert verdicts_by_stage(measured, rounds=3)["quantum_memory"].attained is True
    # C_m multiplies the time to cover
    assert verdicts_by_stage(measured, rounds=3, circuit_rounds=2.0)[
        "quantum_memory"].attained is False


def test_every_end_node_s_memory_is_measured_and_the_worse_one_decides():
    good, bad = memory(1e7), memory(2e5)
    verdict = verdicts_by_stage(link(memories={"node_a": good, "node_b": bad}))[
        "quantum_memory"]
    assert verdict.attained is False and verdict.limiting == "node_b"
    assert verdict.parts["node_a"]["attained"] is True
    assert verdict.parts["node_b"]["attained"] is False
    assert "limited by node node_b" in verdict.reason
    only_a = verdicts_by_stage(link(memories={"node_a": good}))["quantum_memory"]
    assert only_a.attained is None and "the memory of node_b" in only_a.reason


def test_a_network_stage_needs_every_pair_and_names_the_one_that_limits_it():
    pairs = [("node_a", "node_b"), ("node_a", "node_c"), ("node_b", "node_c")]
    good = [link(nodes=pair) for pair in pairs]
    verdicts = verdicts_by_stage(good)
    assert highest_stage(list(verdicts.values())) == "quantum_memory"
    assert scope(good) == "network"
    assert set(verdicts["entanglement_distribution"].parts) == {"node_a/node_b",
                                                                "node_a/node_c",
                                                                "node_b/node_c"}
    # one pair's fidelity too low: entanglement distribution is not attained, by that pair
    weak = [good[0], link(nodes=pairs[1], fidelity=0.99), good[2]]
    verdicts = verdicts_by_stage(weak)
    distribution = verdicts["entanglement_distribution"]
    assert distribution.attained is False and distribution.limiting == "node_a/node_c"
    assert "limited by pair node_a/node_c (of 3)" in distribution.reason
    assert distribution.margin == pytest.approx(DI_QKD_THRESHOLD - 0.11)
    assert verdicts["prepare_and_measure"].attained is True
    assert verdicts["quantum_memory"].attained is False          # needs the stage below
    assert highest_stage(list(verdicts.values())) == "prepare_and_measure"
    # the memory must cover the farthest pair's time
    slow = [good[0], link(nodes=pairs[1], pair=2.0), good[2]]
    memory_verdict = verdicts_by_stage(slow)["quantum_memory"]
    assert memory_verdict.parameters["pair_time_s"].value == 2.0
    assert memory_verdict.attained is False
    # an untested pair makes the stage untestable, not attained
    untested = [good[0], link(nodes=pairs[1], fidelity=None), good[2]]
    verdict = verdicts_by_stage(untested)["entanglement_distribution"]
    assert verdict.attained is None and verdict.limiting == "node_a/node_c"


def test_two_end_nodes_make_a_link_not_a_network():
    assert scope([link()]) == "link"
    assert "≥ 3 end nodes" in LINK_NOTE
    with pytest.raises(ValueError, match="measured twice"):
        certify([link(), link()])


def test_a_stage_needs_every_lower_stage():
    verdicts = verdicts_by_stage(link(epsilon_t=0.2))
    assert verdicts["prepare_and_measure"].attained is False
    assert verdicts["entanglement_distribution"].attained is False
    assert "prepare_and_measure is not attained" in verdicts["entanglement_distribution"].reason
    assert verdicts["quantum_memory"].attained is False


def test_the_confidence_bound_not_the_value_decides():
    measured = link(epsilon_t=0.0)
    wide = Measurements(**{**measured.__dict__, "epsilon_m": Estimate(0.05, 0.0, 0.12)})
    verdicts = verdicts_by_stage(wide)
    assert verdicts["prepare_and_measure"].attained is False
    assert verdicts["prepare_and_measure"].margin == pytest.approx(-0.01)


def test_missing_measurements_make_a_stage_not_testable():
    measured = Measurements(p=exact(1e-4), epsilon_t=exact(0.02), epsilon_m=exact(0.01),
                            untestable={"quantum_memory": "station has no mw_source at node_a"})
    verdicts = verdicts_by_stage(measured)
    assert verdicts["prepare_and_measure"].attained is True
    assert verdicts["entanglement_distribution"].attained is None
    assert "fidelity" in verdicts["entanglement_distribution"].reason
    assert verdicts["quantum_memory"].attained is None
    assert verdicts["quantum_memory"].reason == "station has no mw_source at node_a"
    assert highest_stage(list(verdicts.values())) == "prepare_and_measure"
    as_json = verdicts["quantum_memory"].to_dict()
    assert as_json["attained"] is None and as_json["margin"] is None


def test_estimates_refuse_nonsense_and_clip_to_the_physical_range():
    with pytest.raises(ValueError, match="finite value and error"):
        Estimate.normal(math.nan, 0.1)
    clipped = Estimate.normal(0.999, 0.01, upper=1.0)
    assert clipped.high == 1.0 and clipped.low == pytest.approx(0.999 - 1.96 * 0.01, abs=1e-4)
    with pytest.raises(ValueError, match="rounds"):
        certify(link(), rounds=0)
    with pytest.raises(ValueError, match="C_m"):
        certify(link(), circuit_rounds=0.5)


# --- ε_P from the Bell-diagonal part (item 13) -----------------------------------------------

def trace_distance(rho, sigma) -> float:
    """½‖ρ − σ‖₁ from the eigenvalues (Nielsen & Chuang §9.2.1), independent of labctl."""
    return 0.5 * float(np.abs(np.linalg.eigvalsh(rho - sigma)).sum())


def test_a_bell_diagonal_pair_of_fidelity_097_has_preparation_error_003_not_017():
    weights = {"Psi+": 0.97, "Psi-": 0.01, "Phi+": 0.015, "Phi-": 0.005}
    rho = sum(w * states.bell_state(name) for name, w in weights.items())
    c = states.correlators(rho)
    epsilon = bell_diagonal_error(c["XX"], c["YY"], c["ZZ"], 0.002)
    assert epsilon.value == pytest.approx(trace_distance(rho, states.bell_state("Psi+")))
    assert epsilon.value == pytest.approx(0.03)
    assert preparation_error(exact(0.97)).value == pytest.approx(0.173, abs=1e-3)
    assert (epsilon.low, epsilon.high) == pytest.approx((0.03 - 1.96 * 0.002,
                                                         0.03 + 1.96 * 0.002), abs=1e-4)
    # the stage uses it: ε_P + ε_M = 0.03 + 0.01 passes the DI-QKD threshold (√(1 − F) fails)
    with_correlators = link(fidelity=0.97, epsilon_p=epsilon)
    verdict = verdicts_by_stage(with_correlators)["entanglement_distribution"]
    assert verdict.attained is True and "Bell-diagonal" in verdict.reason
    assert verdicts_by_stage(link(fidelity=0.97))["entanglement_distribution"].attained is False


def test_the_bell_diagonal_distance_bounds_the_untwirled_state_from_below():
    """A single-click pair (coherence loss plus |bright, bright⟩, which adds marginals):
    1 − F ≤ D(twirled) ≤ D(state) ≤ √(1 − F), and negative weights are not hidden."""
    psi = states.bell_state("Psi+")
    alpha = 0.08
    rho = (1 - alpha) * states.dephase(psi, 0.9, 1.0) + alpha * states.basis_state(0)
    c = states.correlators(rho)
    fidelity = states.fidelity_to_bell(rho, "Psi+")
    twirled = bell_diagonal_error(c["XX"], c["YY"], c["ZZ"], 0.0).value
    assert twirled == pytest.approx(1 - fidelity)
    assert twirled <= trace_distance(rho, psi) + 1e-12 <= math.sqrt(1 - fidelity)
    # an estimate with a negative weight (noise) is farther, not clipped to 1 − F
    assert bell_diagonal_error(1.0, 1.0, -1.02, 0.0).value == pytest.approx(0.01)
    with pytest.raises(ValueError, match="target"):
        bell_diagonal_error(0.0, 0.0, 0.0, 0.0, "Psi")


# --- per-node readout correction with its calibration error (item 3) -------------------------

READOUT_A = Readout(0.950, 0.995)        # Humphreys et al. 2018
READOUT_B = Readout(0.870, 0.960)        # a worse node
CALIBRATION_SHOTS = 2_000                 # per state and node
HERALDS = 40_000                          # per basis, half of them Ψ−


def heralded_state():
    """A single-click-like pair: dephased Ψ+ plus |bright, bright⟩ (Z marginals ≠ 0)."""
    psi = states.bell_state("Psi+")
    return 0.92 * states.dephase(psi, 0.92, 1.0) + 0.08 * states.basis_state(0)


def run_counts(rng, rho):
    """Per basis the Ψ+ and Ψ− heralds' pair counts (`PAIRS` order), as the experiment
    records them: Ψ− heralds leave the state Z_B-rotated."""
    minus_state = states.apply_local_z_on_b(rho)
    counts = {}
    for basis in ("Z", "X", "Y"):
        plus_p, minus_p = (bell.outcome_probabilities(r, basis, basis, READOUT_A,
                                                      READOUT_B).ravel()
                           for r in (rho, minus_state))
        counts[basis] = (rng.multinomial(HERALDS // 2, plus_p),
                         rng.multinomial(HERALDS // 2, minus_p))
    return counts


def calibrate(rng, readout):
    """F0, F1 and their errors as `ReadoutFidelity` reports them (binomial)."""
    values, errors = [], []
    for f in (readout.f0, readout.f1):
        estimate = rng.binomial(CALIBRATION_SHOTS, f) / CALIBRATION_SHOTS
        values.append(estimate)
        errors.append(math.sqrt(estimate * (1 - estimate) / CALIBRATION_SHOTS))
    return Readout(*values), (errors[0], errors[1])


def test_each_node_s_readout_gives_an_unbiased_fidelity_whose_error_covers_the_truth():
    """Monte Carlo: 400 runs, each with its own readout calibrations and heralds.

    The mean F must lie within 3 standard errors of the mean (sd/√400) of the
    truth; the fraction of runs with |F − truth| ≤ 1.96 σ_F must be 0.95 within
    3 binomial standard errors √(0.95·0.05/400) = 0.011. The old correction —
    the worse node's F0, F1 applied to both nodes, calibration taken as exact —
    is biased by many standard errors and under-covers.
    """
    rng = np.random.default_rng(20260315)
    rho = heralded_state()
    truth = states.fidelity_to_bell(rho, "Psi+")
    new, old, pulls, pulls_without_calibration = [], [], [], []
    for _ in range(400):
        counts = run_counts(rng, rho)
        a, b = calibrate(rng, READOUT_A), calibrate(rng, READOUT_B)
        per_node = corrected_correlators(counts, a, b)
        fidelity = bell_fidelity(per_node["XX"], per_node["YY"], per_node["ZZ"], "Psi+")
        new.append(fidelity.value)
        pulls.append((fidelity.value - truth) / fidelity.error)
        counting = math.sqrt(sum(per_node[k].counting_error ** 2 for k in per_node)) / 4
        pulls_without_calibration.append((fidelity.value - truth) / counting)
        worst = Readout(min(a[0].f0, b[0].f0), min(a[0].f1, b[0].f1))
        shared = corrected_correlators(counts, worst)
        old.append(bell_fidelity(shared["XX"], shared["YY"], shared["ZZ"], "Psi+").value)
    new_arr, old_arr = np.array(new), np.array(old)
    standard_error = new_arr.std(ddof=1) / math.sqrt(len(new_arr))
    assert abs(new_arr.mean() - truth) < 3 * standard_error, (new_arr.mean(), truth)
    assert abs(old_arr.mean() - truth) > 10 * standard_error, (old_arr.mean(), truth)
    coverage = float(np.mean(np.abs(pulls) <= 1.96))
    assert abs(coverage - 0.95) < 3 * math.sqrt(0.95 * 0.05 / 400), coverage
    assert float(np.mean(np.abs(pulls_without_calibration) <= 1.96)) < 0.90


def test_psi_minus_heralds_are_corrected_with_the_physical_readout():
    """With exact counts (probabilities × N) the correction is exact for both herald
    types. A state with an X marginal on node A (here a |+, 0⟩ admixture) shows why:
    relabelling B's outcomes before correcting (as before) swaps B's F0 and F1 and
    biases the Ψ− half of XX by 2(F1 − F0)/(F0 + F1 − 1)·⟨X_A⟩: ≈ 0.01 in all."""
    plus_zero = np.zeros(4, dtype=complex)
    plus_zero[[0, 2]] = 1 / math.sqrt(2)                 # |+⟩_A |0⟩_B
    rho = 0.9 * heralded_state() + 0.1 * np.outer(plus_zero, plus_zero.conj())
    truth = states.correlators(rho)
    minus_state = states.apply_local_z_on_b(rho)
    counts = {basis: tuple(np.round(1e10 * bell.outcome_probabilities(
        r, basis, basis, READOUT_A, READOUT_B).ravel()) for r in (rho, minus_state))
        for basis in ("Z", "X", "Y")}
    corrected = corrected_correlators(counts, READOUT_A, (READOUT_B, (0.0, 0.0)))
    for basis in ("X", "Y", "Z"):
        assert corrected[basis * 2].value == pytest.approx(truth[basis * 2], abs=1e-7)
    plus, minus = counts["X"]
    relabelled = corrected_correlator_from_counts((plus + minus[[1, 0, 3, 2]]).reshape(2, 2),
                                                  READOUT_A, READOUT_B)
    assert abs(relabelled.value - truth["XX"]) > 0.008
    assert PAIRS == ("00", "01", "10", "11")
