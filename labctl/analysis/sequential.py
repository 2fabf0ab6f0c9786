"""Bell-test p-values that stay valid at any stopping time, and ξ from the settings.

A run that looks at its p-value after every block and stops once it is small
cannot report the fixed-n binomial tail: under a local model at the bound that
tail falls below 0.05 in about 16 % of runs with 10 looks. Here instead:

**Test supermartingale** (Zhang, Glancy & Knill, Phys. Rev. A 84, 062118
(2011), sections II–III). Trial i of the CHSH game is won (w_i = 1, a ⊕ b =
x·y) with probability at most ξ under any local model, whatever happened
before (Elkouss & Wehner, npj Quantum Inf. 2, 16026 (2016), eq. 2). The
factor F_i = 1 + λ_i (w_i − ξ_i) with λ_i ≥ 0 and ξ_i ≥ ξ chosen before trial i
then has E[F_i | past] ≤ 1, so M_n = ∏ F_i is a non-negative supermartingale
with M_0 = 1, and by Ville's inequality P(max_n M_n ≥ 1/α) ≤ α: the p-value
min(1, 1 / max_{m≤n} M_m) is valid at every stopping time, whatever rule
(p-value, S in σ, a deadline, an impatient user) decided to stop. λ_i < 1/ξ_i
keeps every factor positive; it is the Kelly bet (ω̂ − ξ)/(ξ(1 − ξ)) for the
win fraction ω̂ of the earlier trials, clipped to [0, ``LAMBDA_MAX``/ξ], so a
quantum link with S = 2.4 (ω = 0.8) makes M grow like exp(n·KL) and a local
one cannot. The bet is fixed per *step* (a block of the run, or a single
trial): within a step M multiplies as (1 + λ(1 − ξ))^wins (1 − λξ)^losses,
which does not depend on the trials' order, and evaluating the maximum only at
step ends can only raise the p-value.

**ξ from the setting bias.** With setting pairs drawn with probabilities
p(x, y), the best local strategy loses on one pair only, the least likely:
ξ(p) = 1 − min p(x, y) (Elkouss & Wehner 2016, section "Biased settings"; ξ =
3/4 for uniform settings). The probabilities are not known, only the counts of
the settings seen, so labctl uses an upper-confidence ξ: ξ_k = 1 − min_xy
L_xy, with L_xy the one-sided Clopper–Pearson lower bound on p(x, y) from the
setting counts *before* step k (so ξ_k is predictable) at level δ / looks. If
every bound holds then min L ≤ L_(least likely pair) ≤ min p, i.e. ξ_k ≥ ξ;
the bounds fail somewhere with probability at most δ (a union bound over the
looks; only the least likely pair's bound matters), and that δ is added to
the reported p-value, which makes P(p ≤ α) ≤ α exact for the hypothesis
"a local model with settings drawn independently with fixed probabilities".
Steps before any setting was seen have ξ = 1 and no bet.

The fixed-n p-value, for runs that never look before the end, is the
binomial tail P(Bin(n, ξ) ≥ wins) + δ with ξ from all n trials' settings at
level δ (Hensen et al., Nature 526, 682 (2015)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

#: Probability that the setting-probability bounds miss, added to every p-value.
SETTING_DELTA = 1e-4
#: Largest bet as a fraction of 1/ξ: every factor stays ≥ 1 − LAMBDA_MAX.
LAMBDA_MAX = 0.5
#: Pseudo-trials at the win fraction ξ that shrink the first bets towards zero.
PRIOR_TRIALS = 20.0
#: Names of the p-value methods recorded with a result.
FIXED_N = "binomial-tail"
SUPERMARTINGALE = "test-supermartingale"


@dataclass(frozen=True)
class SequentialTest:
    """The test supermartingale after the last step of a run."""

    p_value: float              # min(1, 1/max M + δ): valid at any stopping time
    log_max: float              # ln max_{m≤n} M_m
    log_final: float            # ln M_n
    xi: float                   # ξ of the last step
    steps: int


def xi_for_settings(probabilities: ArrayLike) -> float:
    """ξ = 1 − min p(x, y) for setting pairs drawn with these four probabilities."""
    p = np.asarray(probabilities, dtype=float).reshape(-1)
    if p.shape != (4,) or not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError("need four non-negative setting-pair probabilities, "
                         f"got {probabilities!r}")
    if abs(p.sum() - 1.0) > 1e-9:
        raise ValueError(f"setting-pair probabilities must sum to 1, got {p.sum():g}")
    return float(1.0 - p.min())


def xi_upper(setting_counts: ArrayLike, delta: float = SETTING_DELTA) -> NDArray[np.float64]:
    """Upper-confidence ξ = 1 − min L_xy from counts ``[..., 4]`` of the setting pairs.

    L_xy is the one-sided Clopper–Pearson lower bound at level ``delta``; the
    least often seen pair has the smallest bound. No trials give ξ = 1.
    """
    counts = np.asarray(setting_counts, dtype=float)
    if counts.shape[-1:] != (4,) or np.any(counts < 0) or not np.all(np.isfinite(counts)):
        raise ValueError("setting counts must be non-negative, four per step (x, y = 00..11)")
    if not 0.0 < delta < 1.0:
        raise ValueError(f"delta must be within (0, 1), got {delta!r}")
    total = counts.sum(axis=-1)
    smallest = counts.min(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        lower = stats.beta.ppf(delta, np.maximum(smallest, 1.0), total - smallest + 1.0)
    lower = np.where(smallest > 0, lower, 0.0)
    return np.asarray(1.0 - lower, dtype=float)


def supermartingale(wins: ArrayLike, setting_counts: ArrayLike, looks: int,
                    delta: float = SETTING_DELTA, xi: float | None = None
                    ) -> tuple[NDArray[np.float64], ...]:
    """Running p-values, ln M and ξ per step; vectorised over leading axes.

    ``wins[..., k]`` are the CHSH-game wins of step k and ``setting_counts[...,
    k, :]`` its trials per setting pair (x, y) = 00, 01, 10, 11. ``looks`` is
    the most steps the run may take (the bounds on the setting probabilities
    share δ among them). A known ``xi`` (settings from a certified source,
    `xi_for_settings`) replaces the bound from the counts, and no δ is added.
    Returns (p_value, log_m, xi), each ``[..., steps]``.
    """
    w = np.asarray(wins, dtype=float)
    counts = np.asarray(setting_counts, dtype=float)
    if counts.shape != (*w.shape, 4):
        raise ValueError(f"setting counts must have shape {(*w.shape, 4)}, got {counts.shape}")
    if looks < 1 or w.shape[-1] > looks:
        raise ValueError(f"looks must be at least the number of steps ({w.shape[-1]}), "
                         f"got {looks}")
    trials = counts.sum(axis=-1)
    if np.any(w < 0) or np.any(w > trials):
        raise ValueError("wins must be between 0 and the step's trials")
    before = np.cumsum(counts, axis=-2) - counts
    if xi is None:
        xi_k = xi_upper(before, delta / looks)
    else:
        if not 0.0 < xi < 1.0:
            raise ValueError(f"xi must be within (0, 1), got {xi!r}")
        xi_k, delta = np.full(w.shape, float(xi)), 0.0
    past_wins = np.cumsum(w, axis=-1) - w
    past_trials = before.sum(axis=-1)
    omega = (past_wins + PRIOR_TRIALS * xi_k) / (past_trials + PRIOR_TRIALS)
    with np.errstate(invalid="ignore", divide="ignore"):
        kelly = (omega - xi_k) / (xi_k * (1.0 - xi_k))
    bet = np.clip(np.nan_to_num(kelly, nan=0.0, posinf=0.0), 0.0, LAMBDA_MAX / xi_k)
    log_factor = (w * np.log1p(bet * (1.0 - xi_k))
                  + (trials - w) * np.log1p(-bet * xi_k))
    log_m = np.cumsum(log_factor, axis=-1)
    log_max = np.maximum.accumulate(np.maximum(log_m, 0.0), axis=-1)
    p_value = np.minimum(1.0, np.exp(-log_max) + delta)
    return p_value, log_m, xi_k


def chsh_supermartingale(wins: ArrayLike, setting_counts: ArrayLike, looks: int,
                         delta: float = SETTING_DELTA, xi: float | None = None
                         ) -> SequentialTest:
    """The test supermartingale of one run's steps (see `supermartingale`)."""
    w = np.asarray(wins, dtype=float)
    if w.ndim != 1 or len(w) == 0:
        raise ValueError("need the wins of at least one step, as a one-dimensional array")
    p_value, log_m, xi_k = supermartingale(w, setting_counts, looks, delta, xi)
    return SequentialTest(p_value=float(p_value[-1]),
                          log_max=float(max(np.max(log_m), 0.0)),
                          log_final=float(log_m[-1]), xi=float(xi_k[-1]), steps=len(w))


def fixed_n_p_value(wins: ArrayLike, setting_counts: ArrayLike, delta: float = SETTING_DELTA
                    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(p, ξ): the binomial tail P(Bin(n, ξ) ≥ wins) + δ with the upper-confidence ξ.

    Valid only when the run's length was fixed before it started. Vectorised:
    ``wins[...]`` and ``setting_counts[..., 4]`` summed over the whole run.
    """
    w = np.asarray(wins, dtype=float)
    counts = np.asarray(setting_counts, dtype=float)
    xi = xi_upper(counts, delta)
    n = counts.sum(axis=-1)
    with np.errstate(invalid="ignore"):
        tail = stats.binom.sf(w - 1, n, np.clip(xi, 0.0, 1.0))
    return np.minimum(1.0, np.where(n > 0, tail, 1.0) + delta), xi


__all__ = ["FIXED_N", "LAMBDA_MAX", "PRIOR_TRIALS", "SETTING_DELTA", "SUPERMARTINGALE",
           "SequentialTest", "chsh_supermartingale", "fixed_n_p_value", "supermartingale",
           "xi_for_settings", "xi_upper"]
