"""PNG plots of runs: a scan with its fit, or values per block, or measured vs ideal bars."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from numpy.typing import ArrayLike


def scan_plot(path: Path, x: ArrayLike, y: ArrayLike, y_err: ArrayLike | None,
              x_label: str, y_label: str, title: str,
              fit_x: ArrayLike | None = None, fit_y: ArrayLike | None = None,
              fit_label: str = "fit") -> Path:
    """Measured points with error bars and, if given, the fitted curve."""
    figure, axes = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
    axes.errorbar(x, y, yerr=y_err, fmt="o", ms=4, capsize=2, label="measured")
    if fit_x is not None and fit_y is not None:
        axes.plot(fit_x, fit_y, "-", label=fit_label)
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    return _save(figure, axes, title, path)


def bars(path: Path, measured: Mapping[str, float], errors: Mapping[str, float],
         reference: Mapping[str, float] | None, title: str, y_label: str) -> Path:
    """Measured values with error bars, next to reference values (e.g. an ideal state)."""
    names = list(measured)
    positions = np.arange(len(names))
    figure, axes = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
    axes.bar(positions - 0.2, [measured[n] for n in names], 0.4,
             yerr=[errors.get(n, 0.0) for n in names], capsize=3, label="measured")
    if reference is not None:
        axes.bar(positions + 0.2, [reference[n] for n in names], 0.4, label="ideal",
                 alpha=0.5)
    axes.axhline(0, color="grey", lw=0.8)
    axes.set_xticks(positions, names)
    axes.set_ylabel(y_label)
    return _save(figure, axes, title, path)


def per_block(path: Path, values: Mapping[str, Sequence[float]], title: str) -> Path:
    """Each named value against the block index."""
    figure, axes = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
    for name, series in values.items():
        axes.plot(np.arange(len(series)), series, "o-", ms=3, label=name)
    axes.set_xlabel("block")
    return _save(figure, axes, title, path)


def _save(figure: Any, axes: Any, title: str, path: Path) -> Path:
    """Title and legend, write the PNG, free the figure."""
    axes.set_title(title)
    axes.legend()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
