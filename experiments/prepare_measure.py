"""Prepare and measure between the nodes: p, ε_T, ε_M, QBER and a BB84 key rate.

Node A prepares one of the six cardinal states at node B by remote state
preparation: the nodes share a heralded pair (`experiments.entanglement`,
single-click or Barrett–Kok), node A measures its half in Z, X or Y, and its
outcome tells which of the two eigenstates of that basis node B now holds
(in the Ψ+ frame: the opposite one in Z, the same one in X and Y). Node B
measures in the matching basis; blocks cycle through Z, X and Y. This is the
prepare-and-measure functionality of Wehner, Elkouss & Hanson, Science 362,
eaam9288 (2018), Table 1, with post-selection on the herald.

Reported, with standard errors:

- ``p``: the probability that a sent state is *not* lost (the Table's
  convention; the review's body text calls p the loss probability) — heralds
  per attempt, one attempt being one state sent;
- ``qber``: per basis, the fraction of B's raw outcomes that disagree with
  the state A prepared;
- ``epsilon_t``: the transmission error with B's readout errors undone
  (A's readout errors are preparation errors, so they stay in): for the
  Pauli channel the six states probe, ½‖Λ − id‖◇ = p_x + p_y + p_z =
  (Q_X + Q_Y + Q_Z)/2 with the corrected error rates Q. That is exact for the
  Pauli-twirled channel (what a protocol with random bases and bit values
  sees) and, being 1 − F_pro, a lower bound for any channel: a coherent
  error (a rotation by θ) has ½‖Λ − id‖◇ = sin(θ/2) but ΣQ/2 = sin²(θ/2).
  ``epsilon_t_any_channel`` is an upper bound for every channel with these
  error rates (`any_channel_transmission_bound`); the stage uses the twirled
  value, the run's result reports both;
- ``epsilon_m``: B's measurement error max(1 − F0, 1 − F1) from the readout
  fidelities in the config (measured by ``readout_fidelity``);
- the asymptotic BB84 key fraction 1 − h(Q_X) − h(Q_Z) (Shor & Preskill,
  PRL 85, 441 (2000)) and the key rate: heralds/s × ½ (sifting) × fraction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from experiments.entanglement import BASES, PAIRS, Entanglement, EntanglementConfig
from labctl.analysis.estimators import corrected_correlator_from_counts
from labctl.data.archive import RunData
from labctl.physics.emitter import Readout

#: In the Ψ+ frame, does B end up in the state A found (+1) or the other one (−1)?
_SAME = {"Z": -1.0, "X": 1.0, "Y": 1.0}


@dataclass(frozen=True)
class PrepareMeasureResult:
    p: float
    p_err: float
    epsilon_t: float
    epsilon_t_err: float
    epsilon_m: float
    qber: dict[str, float] = field(default_factory=dict)
    qber_err: dict[str, float] = field(default_factory=dict)
    key_fraction: float = 0.0
    secret_key_rate_hz: float = 0.0
    heralds: int = 0
    attempts: int = 0
    #: upper bound on ½‖Λ − id‖◇ for any channel, coherent errors included
    epsilon_t_any_channel: float = 0.0
    epsilon_t_any_channel_err: float = 0.0


def any_channel_transmission_bound(pauli_error: float, error: float) -> tuple[float, float]:
    """Upper bound on ½‖Λ − id‖◇ for any qubit channel Λ whose six-state error rates give
    ``pauli_error`` = (Q_X + Q_Y + Q_Z)/2, with its propagated standard error.

    ΣQ/2 = 1 − F_pro, F_pro = ⟨Φ|J(Λ)|Φ⟩ the fidelity of the channel's normalised Choi
    state with the maximally entangled one (Horodecki et al., PRA 60, 1888 (1999):
    F_avg = (d F_pro + 1)/(d + 1), and six-state F_avg = 1 − ΣQ/3). Fuchs–van de Graaf
    bounds the Choi states' trace distance by √(1 − F_pro), and ‖Λ − id‖◇ ≤ d‖J(Λ) −
    J(id)‖₁ for normalised Choi states (Watrous, The Theory of Quantum Information, CUP
    2018, ch. 3), so ½‖Λ − id‖◇ ≤ d √(ΣQ/2) with d = 2 (capped at 1).
    """
    if not (0.0 <= pauli_error <= 1.0 and error >= 0.0):
        raise ValueError(f"a transmission error within [0, 1] is required, got {pauli_error}")
    value = min(1.0, 2.0 * math.sqrt(pauli_error))
    # d/dx 2√x = 1/√x; at 0, the bound of a rate one σ above it
    spread = error / math.sqrt(pauli_error) if pauli_error > 0 else 2.0 * math.sqrt(error)
    return value, spread


def binary_entropy(q: float) -> float:
    """h(q) = −q log₂ q − (1 − q) log₂(1 − q)."""
    if q <= 0.0 or q >= 1.0:
        return 0.0
    return -q * math.log2(q) - (1 - q) * math.log2(1 - q)


def psi_plus_tables(values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per basis, outcome counts n[a, b] of all heralds in the Ψ+ frame.

    A Ψ− herald is brought to Ψ+ by Z on node B, which swaps B's outcome in X
    and Y (as `experiments.entanglement.corrected_correlators` does).
    """
    tables = {}
    for code, basis in enumerate(BASES):
        mask = values["basis"] == code
        plus = np.array([values[f"plus_{pair}"][mask].sum() for pair in PAIRS])
        minus = np.array([values[f"minus_{pair}"][mask].sum() for pair in PAIRS])
        if basis != "Z":
            minus = minus[[1, 0, 3, 2]]
        tables[basis] = (plus + minus).reshape(2, 2)
    return tables


class PrepareMeasure(Entanglement):
    name: ClassVar[str] = "prepare_measure"
    description: ClassVar[str] = ("prepare and measure by remote state preparation: p, ε_T, "
                                  "ε_M, QBER and the BB84 key rate")

    @classmethod
    def analyze(  # type: ignore[override]  # the same blocks, another estimate
            cls, data: RunData) -> PrepareMeasureResult:
        config = EntanglementConfig(**data.info.config)
        design = cls(config)._design()
        tables = psi_plus_tables(data.values)
        seconds = float(data.values["seconds"].sum())
        heralds = int(data.values["heralds"].sum())
        attempts = round(seconds / design.period)
        if heralds == 0 or attempts == 0:
            raise ValueError("no heralds in this run: no state arrived")
        readout_b = Readout(config.readout_f0, config.readout_f1)
        perfect = Readout(1.0, 1.0)
        qber, qber_err, true_q, true_err = {}, {}, {}, {}
        for basis, table in tables.items():
            n = int(table.sum())
            if n == 0:
                raise ValueError(f"no states prepared in the {basis} basis")
            agree = table[0, 0] + table[1, 1]
            wrong = agree if _SAME[basis] < 0 else n - agree
            qber[basis] = float(wrong / n)
            qber_err[basis] = math.sqrt(max(qber[basis] * (1 - qber[basis]), 0.25 / n) / n)
            corrected = corrected_correlator_from_counts(table, perfect, readout_b)
            true_q[basis] = float(np.clip((1 - _SAME[basis] * corrected.value) / 2, 0.0, 1.0))
            true_err[basis] = corrected.error / 2
        p = heralds / attempts
        fraction = max(0.0, 1.0 - binary_entropy(qber["X"]) - binary_entropy(qber["Z"]))
        epsilon_t = sum(true_q.values()) / 2
        epsilon_t_err = math.sqrt(sum(e**2 for e in true_err.values())) / 2
        any_channel, any_channel_err = any_channel_transmission_bound(epsilon_t, epsilon_t_err)
        return PrepareMeasureResult(
            p=p, p_err=math.sqrt(p * (1 - p) / attempts),
            epsilon_t=epsilon_t, epsilon_t_err=epsilon_t_err,
            epsilon_t_any_channel=any_channel, epsilon_t_any_channel_err=any_channel_err,
            epsilon_m=max(1 - config.readout_f0, 1 - config.readout_f1),
            qber=qber, qber_err=qber_err, key_fraction=fraction,
            secret_key_rate_hz=heralds / seconds / 2 * fraction,
            heralds=heralds, attempts=attempts)

    @classmethod
    def plot(cls, data: RunData, result: Any, path: Any) -> bool:
        from labctl.report.run_plots import bars

        bars(path, result.qber, result.qber_err, {"Z": 0.0, "X": 0.0, "Y": 0.0},
             title=f"run {data.info.run_id}: ε_T = {result.epsilon_t:.3f} ± "
                   f"{result.epsilon_t_err:.3f}, key rate {result.secret_key_rate_hz:.3g} bit/s",
             y_label="QBER (raw) per basis")
        return True
