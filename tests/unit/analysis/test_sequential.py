"""Bell-test p-values stay valid under every stopping rule labctl offers; ξ follows the settings.

Local-model runs are simulated block by block (10⁴ runs, vectorised), each
block's trials tabulated by setting pair and same/different outcomes exactly
as `BellTest` archives them; labctl's own functions give the reported
p-values, and a sample of runs is replayed through `BellTest.stopping_rule`
and `result_from_values` to show the vectorised rules are labctl's rules.
A claimed level α holds if P(p < α) ≤ α + 3·SE with SE = √(α(1 − α)/runs), the
binomial standard error of the Monte Carlo fraction (3σ one-sided).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from experiments.bell_test import CELLS, BellTest, BellTestConfig, result_from_values
from labctl.analysis.estimators import chsh_p_value
from labctl.analysis.sequential import (
    SETTING_DELTA,
    SUPERMARTINGALE,
    chsh_supermartingale,
    fixed_n_p_value,
    supermartingale,
    xi_for_settings,
    xi_upper,
)
from labctl.engine.stopping import History

RUNS = 10_000
ALPHAS = (0.05, 0.01)
UNIFORM = (0.25, 0.25, 0.25, 0.25)
#: Setting pairs 00, 01, 10, 11; the local strategy below loses on the rare pair 11.
BIASED = (0.27, 0.27, 0.27, 0.19)
#: P(win | x, y): a uniform mixture of the 8 deterministic strategies with S = 2, each
#: losing on one pair (ξ = 3/4 exactly); the biased world's best strategy a = b = 0.
LOCAL_MIXTURE = (0.75, 0.75, 0.75, 0.75)
LOCAL_RARE_LOSER = (1.0, 1.0, 1.0, 0.0)
QUANTUM_S_2_4 = (0.8, 0.8, 0.8, 0.8)     # ω = 1/2 + S/8


def limit(alpha: float) -> float:
    return alpha + 3 * math.sqrt(alpha * (1 - alpha) / RUNS)


def simulate(seed, blocks, per_block, settings, win, runs=RUNS):
    """Trials per setting pair and wins per pair: arrays [runs, blocks, 4]."""
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(per_block, settings, size=(runs, blocks))
    return counts, rng.binomial(counts, win)


def running_s(counts, wins):
    """Cumulative S and σ_S after each block (pairs 00, 01, 10 win on equal outcomes)."""
    n = np.cumsum(counts, axis=1).astype(float)
    won = np.cumsum(wins, axis=1).astype(float)
    same = won.copy()
    same[..., 3] = n[..., 3] - won[..., 3]
    with np.errstate(invalid="ignore", divide="ignore"):
        e = (2 * same - n) / n
        s = e[..., 0] + e[..., 1] + e[..., 2] - e[..., 3]
        error = np.sqrt(((1 - e**2) / n).sum(axis=-1))
    return s, error


def first_true(condition):
    """Index of the first True per run, or the last block where there is none."""
    return np.where(condition.any(axis=1), condition.argmax(axis=1), condition.shape[1] - 1)


def reported(counts, wins, rule, threshold):
    """The p-value each simulated run reports under a labctl stopping rule."""
    blocks = counts.shape[1]
    if rule == "fixed":
        return fixed_n_p_value(wins.sum(axis=(1, 2)), counts.sum(axis=1))[0]
    p, _, _ = supermartingale(wins.sum(axis=-1), counts, looks=blocks)
    if rule == "stop_p_value":
        stop = first_true(p < threshold)
    else:
        s, error = running_s(counts, wins)
        with np.errstate(invalid="ignore", divide="ignore"):
            stop = first_true((error > 0) & ((s - 2) / error >= threshold))
    return p[np.arange(len(p)), stop]


def values_of(counts, wins, stop):
    """One run's archived per-block values up to block ``stop`` (inclusive)."""
    values = {cell: np.zeros(stop + 1) for cell in CELLS}
    for k, (x, y) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        same = wins[: stop + 1, k] if k < 3 else counts[: stop + 1, k] - wins[: stop + 1, k]
        values[f"x{x}y{y}_00"] = same.astype(float)
        values[f"x{x}y{y}_01"] = (counts[: stop + 1, k] - same).astype(float)
    values["seconds"] = np.ones(stop + 1)
    return values


RULES = [("fixed", 0.0), ("stop_p_value", 0.05), ("stop_p_value", 0.01), ("stop_sigmas", 2.0)]


@pytest.mark.parametrize("world", ["uniform", "biased"])
@pytest.mark.parametrize("looks", [10, pytest.param(100, marks=pytest.mark.slow)])
def test_every_stopping_rule_reports_a_valid_p_value_under_a_local_model(world, looks):
    settings, win = (UNIFORM, LOCAL_MIXTURE) if world == "uniform" else (BIASED,
                                                                          LOCAL_RARE_LOSER)
    counts, wins = simulate(15 + looks, looks, 10_000 // looks, settings, win)
    for rule, threshold in RULES:
        p = reported(counts, wins, rule, threshold)
        for alpha in ALPHAS:
            assert np.mean(p < alpha) <= limit(alpha), (rule, threshold, alpha, np.mean(p < alpha))


def test_the_vectorised_rules_are_bell_tests_own():
    """Replay runs through BellTest's stopping rule and analysis: same stop, same p."""
    counts, wins = simulate(3, 10, 1500, UNIFORM, QUANTUM_S_2_4, runs=12)
    for config in (BellTestConfig(blocks=10, stop_p_value=0.01),
                   BellTestConfig(blocks=10, stop_sigmas=3.0), BellTestConfig(blocks=10)):
        rule = BellTest(config).stopping_rule()
        name, threshold = (("stop_p_value", config.stop_p_value) if config.stop_p_value else
                           ("stop_sigmas", config.stop_sigmas) if config.stop_sigmas else
                           ("fixed", 0.0))
        expected = reported(counts, wins, name, threshold)
        stopped_early = 0
        for run in range(len(counts)):
            history = History()
            for block in range(10):
                one = values_of(counts[run], wins[run], block)
                history.add({key: value[-1] for key, value in one.items()})
                if rule.done(history) is not None:
                    break
            stopped_early += block < 9
            result = result_from_values(values_of(counts[run], wins[run], block), config)
            assert result.p_value == pytest.approx(expected[run], rel=1e-9), (config, run)
            assert result.p_value_method == (SUPERMARTINGALE if config.sequential
                                              else "binomial-tail")
        assert stopped_early > 0 or name == "fixed"


def test_known_xi_supermartingale_obeys_villes_inequality_at_every_look():
    """Without the setting bound (ξ = 3/4 known) the maximum over 100 looks still
    crosses 1/α with probability at most α — and not far below it (the test is tight)."""
    counts, wins = simulate(7, 100, 100, UNIFORM, LOCAL_MIXTURE)
    p, _, _ = supermartingale(wins.sum(axis=-1), counts, looks=100, xi=0.75)
    smallest = p.min(axis=1)
    for alpha in ALPHAS:
        assert np.mean(smallest < alpha) <= limit(alpha), alpha
    assert np.mean(smallest < 0.05) > 0.005


@pytest.mark.parametrize("looks, at_least", [(10, 0.10), (100, 0.20)])
def test_the_old_fixed_n_tail_with_optional_stopping_is_not_valid(looks, at_least):
    """Today's rule: recheck P(Bin(n, 3/4) ≥ wins) after every block, stop below 0.05
    and report it: far more than 5 % of local runs 'violate'."""
    counts, wins = simulate(11, looks, 10_000 // looks, UNIFORM, LOCAL_MIXTURE)
    n = np.cumsum(counts.sum(axis=-1), axis=1)
    k = np.cumsum(wins.sum(axis=-1), axis=1)
    tail = stats.binom.sf(k - 1, n, 0.75)
    assert tail[0, -1] == pytest.approx(chsh_p_value(int(k[0, -1]), int(n[0, -1])))
    stop = first_true(tail < 0.05)
    old = tail[np.arange(RUNS), stop]
    assert np.mean(old < 0.05) > max(at_least, limit(0.05))
    # the same runs, reported by labctl's stopping rule, stay within the level
    assert np.mean(reported(counts, wins, "stop_p_value", 0.05) < 0.05) <= limit(0.05)


def test_a_quantum_link_with_s_2_4_is_detected_in_most_runs():
    """10⁴ trials (10 blocks of 10³, a few hours of a real link) at S = 2.4."""
    counts, wins = simulate(5, 10, 1000, UNIFORM, QUANTUM_S_2_4)
    for rule, threshold in [("fixed", 0.0), ("stop_p_value", 0.01)]:
        power = np.mean(reported(counts, wins, rule, threshold) < 0.01)
        assert power > 0.6, (rule, power)


def test_xi_follows_the_setting_probabilities():
    assert xi_for_settings(UNIFORM) == 0.75
    assert xi_for_settings(BIASED) == pytest.approx(0.81)
    with pytest.raises(ValueError, match="sum to 1"):
        xi_for_settings((0.3, 0.3, 0.3, 0.3))
    rng = np.random.default_rng(2)
    counts = rng.multinomial(10**6, BIASED, size=RUNS)
    upper = xi_upper(counts, 0.05)
    # an upper-confidence bound: misses the truth in at most δ of the runs ...
    assert np.mean(upper < 0.81) <= limit(0.05)
    # ... and close to it with many trials (σ of the rare pair's fraction: 3.9e-4)
    assert np.all(upper - 0.81 < 6 * math.sqrt(0.19 * 0.81 / 10**6))
    assert xi_upper(np.zeros(4)) == 1.0


def test_the_bell_tests_p_value_uses_the_measured_setting_bias():
    """Settings drawn 27/27/27/19 % and a local strategy losing only on the rare pair win
    81 % of trials: with ξ = 3/4 (today) that is p ≈ 0; labctl must not claim it."""
    counts, wins = simulate(9, 10, 1000, BIASED, LOCAL_RARE_LOSER, runs=1)
    for config in (BellTestConfig(blocks=10), BellTestConfig(blocks=10, stop_p_value=0.01)):
        result = result_from_values(values_of(counts[0], wins[0], 9), config)
        assert result.win_fraction > 0.8 and pytest.approx(2.0) == result.S
        assert result.xi > 1 - result.setting_fractions["E11"], result
        assert result.p_value > 0.5, result
        assert chsh_p_value(result.wins, result.trials) < 1e-20   # the fixed 3/4's answer
    game = chsh_supermartingale(wins[0].sum(axis=-1), counts[0], looks=10)
    assert game.p_value >= SETTING_DELTA and game.xi > 0.81 - 0.02


def test_a_characterised_setting_source_gives_its_own_xi():
    """``xi`` from an RNG characterisation replaces the measured bound (no δ added): the
    same S = 2.4 data give a smaller p-value, sequential or fixed-n."""
    counts, wins = simulate(4, 10, 1000, UNIFORM, QUANTUM_S_2_4, runs=1)
    values = values_of(counts[0], wins[0], 9)
    for stop in (0.0, 0.01):
        measured = result_from_values(values, BellTestConfig(blocks=10, stop_p_value=stop))
        known = result_from_values(values, BellTestConfig(blocks=10, stop_p_value=stop,
                                                          xi=0.75))
        assert known.xi == 0.75 and measured.xi > 0.75
        assert known.p_value < measured.p_value
    sequential = chsh_supermartingale(wins[0].sum(axis=-1), counts[0], looks=10, xi=0.75)
    assert known.p_value == sequential.p_value
    with pytest.raises(ValueError, match="xi must be within"):
        BellTestConfig(xi=0.7)
