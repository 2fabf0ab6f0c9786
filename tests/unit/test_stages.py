"""Stage certification from measured parameters (Wehner, Elkouss & Hanson 2018)."""

from __future__ import annotations

import math

import pytest

from labctl.stages import (
    BB84_THRESHOLD,
    DI_QKD_THRESHOLD,
    Estimate,
    Measurements,
    certify,
    highest_stage,
    preparation_error,
    rounds_supported,
)


def exact(value: float) -> Estimate:
    return Estimate(value, value, value)


def link(epsilon_t=0.03, epsilon_m=0.01, fidelity=0.999, storage=4.0, pair=0.05, **extra):
    return Measurements(p=exact(1e-4), epsilon_t=exact(epsilon_t), epsilon_m=exact(epsilon_m),
                        fidelity=exact(fidelity), storage_time=exact(storage),
                        pair_time=exact(pair), runs={"pairs": (3,), "readout": (1, 2)},
                        **extra)


def verdicts_by_stage(measured, rounds=10):
    return {v.stage: v for v in certify(measured, rounds)}


def test_box_1_bound_and_rounds():
    assert preparation_error(exact(0.99)).value == pytest.approx(0.1)
    interval = preparation_error(Estimate(0.99, 0.98, 1.0))
    assert (interval.low, interval.high) == pytest.approx((0.0, math.sqrt(0.02)))
    k = rounds_supported(Estimate(4.0, 3.0, 5.0), Estimate(0.05, 0.04, 0.1))
    assert (k.value, k.low, k.high) == pytest.approx((80.0, 30.0, 125.0))


def test_a_good_link_attains_the_quantum_memory_stage_with_margins():
    verdicts = verdicts_by_stage(link())
    assert all(v.attained for v in verdicts.values())
    assert verdicts["prepare_and_measure"].margin == pytest.approx(BB84_THRESHOLD - 0.04)
    assert verdicts["entanglement_distribution"].margin == pytest.approx(
        DI_QKD_THRESHOLD - (math.sqrt(0.001) + 0.01))
    assert verdicts["quantum_memory"].margin == pytest.approx(80 - 10)
    assert highest_stage(list(verdicts.values())) == "quantum_memory"
    assert verdicts["entanglement_distribution"].runs == (1, 2, 3)


@pytest.mark.parametrize("measured, stage", [
    (link(epsilon_t=0.105), "none"),                            # ε_T + ε_M = 0.115 > 0.11
    (link(fidelity=0.99), "prepare_and_measure"),               # ε_P = 0.1
    (link(storage=0.4), "entanglement_distribution"),           # k = 8 < 10
])
def test_each_threshold_decides_its_stage(measured, stage):
    assert highest_stage(certify(measured)) == stage


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
