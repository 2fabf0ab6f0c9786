"""Where the archive lives: the data directory every command reads and writes.

Precedence, first match wins:

1. the directory given on the command line (``--data-dir``),
2. the environment variable ``LABCTL_DATA_DIR``,
3. ``$XDG_DATA_HOME/labctl`` (the XDG base-directory convention),
4. ``~/.local/share/labctl``.

The directory is created when missing, so a fresh machine needs no set-up.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from labctl.errors import LabctlError

#: The environment variable that overrides the default data directory.
DATA_DIR_ENV = "LABCTL_DATA_DIR"


def data_root(data_dir: str | Path | None = None, *,
              environ: Mapping[str, str] | None = None) -> Path:
    """The archive's root directory (created if missing), chosen as the module says.

    ``environ`` defaults to ``os.environ``; pass a mapping to decide without it.
    """
    env = os.environ if environ is None else environ
    root = _choose(data_dir, env)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise LabctlError(f"cannot create the data directory {root}: {reason}") from None
    if not root.is_dir():
        raise LabctlError(f"the data directory {root} is not a directory")
    return root


def _choose(data_dir: str | Path | None, env: Mapping[str, str]) -> Path:
    if data_dir is not None and str(data_dir) != "":
        return Path(data_dir).expanduser()
    explicit = env.get(DATA_DIR_ENV, "")
    if explicit:
        return Path(explicit).expanduser()
    xdg = env.get("XDG_DATA_HOME", "")
    # The XDG spec says relative values are invalid and must be ignored.
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "labctl"
    home = env.get("HOME") or str(Path.home())
    return Path(home) / ".local" / "share" / "labctl"
