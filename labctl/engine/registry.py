"""Finding experiments by name: the ``labctl.experiments`` entry-point group.

labctl never imports ``experiments`` itself; the project (and any lab's own
package) registers its experiment classes in ``pyproject.toml``.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from labctl.engine.experiment import Experiment
from labctl.errors import ParameterError

ENTRY_POINT_GROUP = "labctl.experiments"


def experiment_names() -> list[str]:
    return sorted(e.name for e in entry_points(group=ENTRY_POINT_GROUP))


def find_experiment(name: str) -> type[Experiment]:
    """The experiment class registered as ``name``; `ParameterError` listing the known ones."""
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == name:
            experiment: type[Experiment] = entry.load()
            return experiment
    raise ParameterError(f"unknown experiment {name!r} (known: "
                         f"{', '.join(experiment_names()) or 'none installed'})")
