"""PNG plot of a predicted rate/fidelity trade-off (``labctl predict sweep --plot``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def plot_tradeoff(path: Path, parameter: str, values: Sequence[float],
                  rates_hz: Sequence[float], fidelities: Sequence[float],
                  title: str) -> Path:
    """Rate (log scale) and fidelity against the swept parameter, side by side."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    left.plot(values, rates_hz, "o-", color="tab:blue", label="herald rate")
    left.set_xlabel(parameter)
    left.set_ylabel("herald rate (Hz)")
    left.set_yscale("log")
    twin = left.twinx()
    twin.plot(values, fidelities, "s-", color="tab:red", label="fidelity")
    twin.set_ylabel("fidelity")
    twin.axhline(0.5, color="grey", lw=0.8, ls="--")
    left.set_title(f"rate and fidelity vs {parameter}")
    right.plot(fidelities, rates_hz, "o-", color="tab:purple")
    right.set_xlabel("fidelity")
    right.set_ylabel("herald rate (Hz)")
    right.set_yscale("log")
    right.set_title("rate/fidelity trade-off")
    figure.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
