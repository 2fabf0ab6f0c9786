"""Stopping rules: when a run has what it came for.

A rule looks at the run's history — every acknowledged block's values,
across resumptions — and answers with the reason to stop, or None:

- `FixedCount(n)`: n blocks;
- `Duration(seconds, value="seconds")`: the sum of a per-block duration value;
- `StatisticBound(statistic, bound, sigmas)`: a statistic computed from the
  history exceeds ``bound`` by ``sigmas`` standard errors (e.g. CHSH S > 2 by
  5σ);
- `StatisticBelow(statistic, threshold)`: a statistic falls below a
  threshold (e.g. a Bell test's p-value below 10⁻³);
- `AnyOf(*rules)`: whichever comes first.

A rule only decides *when* to stop. Whatever it reports is not evidence by
itself once the run has looked more than once: a fixed-n p-value rechecked
after every block and reported at the first small value is not a p-value
(10 looks at a local model's fixed-n CHSH tail give p < 0.05 in ~16 % of
runs). An experiment that may stop early therefore reports a statistic that
stays valid at any stopping time — for a Bell test the test-supermartingale
p-value of `labctl.analysis.sequential` — and a `StatisticBelow` on that
statistic is then a valid rule; a `StatisticBound` on an estimate in σ is a
convenience criterion whose σ should not be quoted as significance.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import NDArray


@dataclass
class History:
    """Per-block values of a run so far."""

    values: dict[str, list[float]] = field(default_factory=dict)
    blocks: int = 0

    def add(self, values: Mapping[str, float]) -> None:
        for name, value in values.items():
            self.values.setdefault(name, []).append(float(value))
        self.blocks += 1

    def array(self, name: str) -> NDArray[np.float64]:
        return np.asarray(self.values.get(name, []), dtype=float)

    @classmethod
    def from_values(cls, values: Mapping[str, Sequence[float]], blocks: int) -> History:
        return cls({k: [float(x) for x in v] for k, v in values.items()}, blocks)


class StoppingRule(Protocol):
    def done(self, history: History) -> str | None:
        """Why the run should stop now, or None to go on."""


@dataclass(frozen=True)
class FixedCount:
    blocks: int

    def __post_init__(self) -> None:
        if self.blocks < 1:
            raise ValueError(f"blocks must be at least 1, got {self.blocks}")

    def done(self, history: History) -> str | None:
        return f"{self.blocks} blocks done" if history.blocks >= self.blocks else None


@dataclass(frozen=True)
class Duration:
    seconds: float
    value: str = "seconds"

    def done(self, history: History) -> str | None:
        total = float(history.array(self.value).sum())
        return f"{total:g} s measured" if total >= self.seconds else None


@dataclass(frozen=True)
class StatisticBound:
    """Stop when ``(estimate - bound) / error >= sigmas`` for ``statistic(history)``."""

    name: str
    statistic: Callable[[History], tuple[float, float]]
    bound: float
    sigmas: float

    def done(self, history: History) -> str | None:
        if history.blocks == 0:
            return None
        estimate, error = self.statistic(history)
        if error > 0 and np.isfinite(estimate) and (estimate - self.bound) / error >= self.sigmas:
            return (f"{self.name} = {estimate:.4g} ± {error:.2g} exceeds {self.bound:g} "
                    f"by {(estimate - self.bound) / error:.1f}σ")
        return None


@dataclass(frozen=True)
class StatisticBelow:
    """Stop once ``statistic(history)`` falls below ``threshold`` (e.g. a p-value)."""

    name: str
    statistic: Callable[[History], float]
    threshold: float

    def done(self, history: History) -> str | None:
        if history.blocks == 0:
            return None
        value = self.statistic(history)
        if np.isfinite(value) and value < self.threshold:
            return f"{self.name} = {value:.3g} is below {self.threshold:g}"
        return None


@dataclass(frozen=True)
class AnyOf:
    rules: tuple[StoppingRule, ...]

    def done(self, history: History) -> str | None:
        for rule in self.rules:
            reason = rule.done(history)
            if reason is not None:
                return reason
        return None
