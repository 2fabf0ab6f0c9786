"""Finding experiments by name: the ``labctl.experiments`` entry-point group.

labctl never imports ``experiments`` itself; the project (and any lab's own
package) registers its experiment classes in ``pyproject.toml``.
"""

from __future__ import annotations

from typing import Any

from labctl.engine.experiment import Experiment
from labctl.plugins import load_plugin, plugin_names

ENTRY_POINT_GROUP = "labctl.experiments"


def experiment_names() -> list[str]:
    return plugin_names(ENTRY_POINT_GROUP)


def find_experiment(name: str) -> type[Experiment[Any]]:
    """The experiment class registered as ``name``; `ParameterError` listing the known ones."""
    experiment: type[Experiment[Any]] = load_plugin(ENTRY_POINT_GROUP, name, "experiment")
    return experiment
