"""Finding what lives above labctl by name: entry points of the ``labctl.*`` groups.

Experiments, simulators, batteries and plans register in a package's
``pyproject.toml`` (this project's, or a lab's own); labctl loads them by
group and name and never imports them.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from labctl.errors import ParameterError


def plugin_names(group: str) -> list[str]:
    return sorted(entry.name for entry in entry_points(group=group))


def load_plugin(group: str, name: str | None, kind: str) -> Any:
    """The object registered as ``name`` in ``group`` (None: the only one there).

    `ParameterError` naming the ``kind`` and the registered names otherwise.
    """
    found = {entry.name: entry for entry in entry_points(group=group)}
    if name is None and len(found) == 1:
        name = next(iter(found))
    if name is None or name not in found:
        known = ", ".join(sorted(found)) or "none installed"
        what = f"name a {kind}" if name is None else f"no {kind} named {name!r}"
        raise ParameterError(f"{what} (known: {known})")
    return found[name].load()
