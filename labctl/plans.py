"""Plans: named sequences of experiments (the demo's bring-up), found by entry point.

A plan lives with the experiments and registers under the ``labctl.plans``
entry-point group; labctl runs its steps through the engine in order, each
archived with its progress bar, and never names an experiment itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from labctl.engine.experiment import Experiment
from labctl.plugins import load_plugin

ENTRY_POINT_GROUP = "labctl.plans"


@dataclass(frozen=True)
class PlanStep:
    """One experiment of a plan and what it is for (shown while it runs)."""

    purpose: str
    experiment: Experiment


@dataclass(frozen=True)
class Plan:
    """Steps in the order a lab would run them."""

    description: str
    steps: Sequence[PlanStep]


def find_plan(name: str | None = None) -> Plan:
    """The plan registered as ``name`` (None: the only one registered)."""
    make: Callable[[], Plan] = load_plugin(ENTRY_POINT_GROUP, name, "plan")
    return make()
