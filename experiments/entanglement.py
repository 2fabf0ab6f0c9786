"""Heralded entanglement: herald rate and fidelity from XX, YY and ZZ readout.

Both nodes attempt entanglement (`experiments.bringup`) with the
single-click protocol (default) or Barrett–Kok (``--set
protocol=barrett-kok``: two rounds with a π pulse between, no optical phase
reference needed); a herald makes each AWG jump to a readout element that
rotates the spin into the block's basis and reads it out. Blocks cycle
through the bases Z, X, Y. Per block the values count, for each announced
state (single click: detector "+" announces Ψ+, "−" Ψ−; Barrett–Kok: the
same detector in both rounds announces Ψ+, different detectors Ψ−), the
heralds with each pair of readouts (both bright, A bright B dark, A dark B
bright, both dark).

The analysis (`analyze`) brings Ψ− heralds to the Ψ+ frame (Z on node B
swaps B's outcome in X and Y), undoes each node's own readout errors
(propagating their calibration errors:
`labctl.analysis.estimators.corrected_correlator_from_tables`), and gives
F = (1 + XX + YY − ZZ)/4 with its error (shared/reference/physics.md
section 3) and the herald rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from experiments.bringup import (
    EXCITATION_AT,
    HERALDING,
    OPTICAL_DELAY,
    RABI_FULL_SCALE_HZ,
    ROUND_GAP,
    SYNC,
    WINDOW,
    AttemptDesign,
    acquire,
    attempt_program,
    barrett_kok_heralds,
    bring_up,
    gate_detectors,
    heralds,
    keep_only_heralded_syncs,
    station_alpha,
)
from labctl.analysis.estimators import (
    Correlator,
    bell_fidelity,
    corrected_correlator_from_tables,
    herald_rate,
)
from labctl.data.archive import RunData
from labctl.engine.experiment import Block, Experiment, RunContext
from labctl.physics.emitter import Readout
from labctl.pulses.program import Marker, Program, Rotation, Segment
from labctl.station import LabStation

BASES = ("Z", "X", "Y")
#: Readout pairs (A, B): 0 bright (≥ 1 photon), 1 dark.
PAIRS = ("00", "01", "10", "11")
READOUT_START, READOUT_LENGTH = 200e-9, 2e-6
#: Rotation phase selecting each basis: π/2 about y turns X into Z, about x turns Y into Z.
_BASIS_PHASE = {"X": math.pi / 2, "Y": 0.0}
#: A Barrett–Kok attempt: two rounds ROUND_GAP apart plus the emitter reset.
BARRETT_KOK_PERIOD = 8e-6


def check_link_settings(protocol: str, alpha: float, block_seconds: float) -> None:
    """`ValueError` for a protocol, α or block length a link experiment cannot run."""
    if protocol not in ("single-click", "barrett-kok"):
        raise ValueError(f"protocol must be 'single-click' or 'barrett-kok', got {protocol!r}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be within (0, 1), got {alpha}")
    if not 0 < block_seconds <= 3600:
        raise ValueError(f"block_seconds must be within (0, 3600], got {block_seconds}")


@dataclass(frozen=True)
class EntanglementConfig:
    """Heralded entanglement; ``blocks`` (a multiple of 3 cycles Z, X, Y)."""

    protocol: Literal["single-click", "barrett-kok"] = "single-click"
    alpha: float = 0.1
    blocks: int = 12
    block_seconds: float = 60.0
    #: node A's readout (and node B's unless readout_b_f0/f1 are given), with the
    #: binomial errors of its calibration (0: taken as exact)
    readout_f0: float = 0.95
    readout_f1: float = 0.995
    readout_f0_err: float = 0.0
    readout_f1_err: float = 0.0
    readout_b_f0: float | None = None
    readout_b_f1: float | None = None
    readout_b_f0_err: float = 0.0
    readout_b_f1_err: float = 0.0

    def __post_init__(self) -> None:
        check_link_settings(self.protocol, self.alpha, self.block_seconds)
        if self.blocks < 3:
            raise ValueError(f"blocks must be at least 3 (one per basis), got {self.blocks}")
        for name in ("readout_f0", "readout_f1", "readout_b_f0", "readout_b_f1"):
            value = getattr(self, name)
            if value is not None and not 0.5 < value <= 1.0:
                raise ValueError(f"{name} must be within (0.5, 1], got {value}")
        for name in ("readout_f0_err", "readout_f1_err", "readout_b_f0_err",
                     "readout_b_f1_err"):
            if not (math.isfinite(getattr(self, name)) and 0 <= getattr(self, name) < 0.5):
                raise ValueError(f"{name} must be within [0, 0.5), got {getattr(self, name)}")

    def readouts(self) -> tuple[tuple[Readout, tuple[float, float]], ...]:
        """(readout, (σ_F0, σ_F1)) of node A and of node B."""
        a = (Readout(self.readout_f0, self.readout_f1), (self.readout_f0_err,
                                                         self.readout_f1_err))
        if self.readout_b_f0 is None and self.readout_b_f1 is None:
            return a, a
        b = Readout(self.readout_f0 if self.readout_b_f0 is None else self.readout_b_f0,
                    self.readout_f1 if self.readout_b_f1 is None else self.readout_b_f1)
        return a, (b, (self.readout_b_f0_err, self.readout_b_f1_err))


@dataclass(frozen=True)
class EntanglementResult:
    herald_rate_hz: float
    herald_rate_err_hz: float
    fidelity: float
    fidelity_err: float
    correlators: dict[str, float] = field(default_factory=dict)
    correlator_errors: dict[str, float] = field(default_factory=dict)
    heralds: int = 0
    seconds: float = 0.0
    attempt_period_s: float = 0.0
    #: α the rendered preparation pulse realises (mean over blocks; NaN if not recorded)
    alpha_realised: float = math.nan


def design_for(protocol: str, alpha: float) -> AttemptDesign:
    """The attempt of a protocol: single click at ``alpha``, or Barrett–Kok's two rounds."""
    if protocol == "barrett-kok":
        return AttemptDesign(alpha=0.5, period=BARRETT_KOK_PERIOD, protocol=protocol)
    return AttemptDesign(alpha=alpha)


def prepare_link(station: LabStation, design: AttemptDesign) -> None:
    """Bring the link up for ``design`` and set the tagger's filters for its protocol.

    Single click: syncs recorded only after a click, detectors gated by the
    detection window. Barrett–Kok: no phase reference; syncs kept when a
    click follows within both rounds, detectors ungated (the herald
    extraction windows both rounds).
    """
    barrett_kok = design.protocol == "barrett-kok"
    bring_up(station, design, reference_on=not barrett_kok)
    if barrett_kok:
        keep_only_heralded_syncs(station, span=ROUND_GAP + 100e-9)
    else:
        keep_only_heralded_syncs(station)
        gate_detectors(station)


def find_heralds(station: LabStation, channels: np.ndarray, timestamps: np.ndarray,
                 design: AttemptDesign) -> tuple[np.ndarray, np.ndarray]:
    """Sync time (ps) of each herald and whether it announced Ψ− (else Ψ+)."""
    if design.protocol == "barrett-kok":
        found_bk = barrett_kok_heralds(station, channels, timestamps, design)
        return found_bk.sync_ps, found_bk.target == 1
    found = heralds(station, channels, timestamps)
    return found.sync_ps, found.detector == 1


def readout_program(design: AttemptDesign, basis: str) -> Program:
    """Attempt until a herald, then rotate into ``basis`` and read out."""
    attempt = attempt_program(design).segments[0]
    rotations = () if basis == "Z" else (
        Rotation.for_angle(20e-9, math.pi / 2, RABI_FULL_SCALE_HZ, phase=_BASIS_PHASE[basis]),)
    readout = Segment("readout", 3e-6, rotations=rotations,
                      markers=(Marker("readout", READOUT_START, READOUT_LENGTH),))
    return Program(segments=(attempt, readout),
                   sequence=(("attempt", None, 2, None), ("readout", 1, None, 1)))


class Entanglement(Experiment[EntanglementConfig]):
    name: ClassVar[str] = "entanglement"
    description: ClassVar[str] = ("heralded entanglement: herald rate and fidelity from "
                                  "readout-corrected XX, YY, ZZ")
    config_type: ClassVar[type[Any]] = EntanglementConfig
    value_names: ClassVar[tuple[str, ...]] = (
        "basis", "seconds", "heralds", "alpha_realised",
        *(f"{pattern}_{pair}" for pattern in ("plus", "minus") for pair in PAIRS))

    def _design(self) -> AttemptDesign:
        return design_for(self.config.protocol, self.config.alpha)

    def prepare(self, context: RunContext) -> None:
        prepare_link(context.station, self._design())

    def acquire(self, context: RunContext, index: int) -> Block:
        config = self.config
        station = context.station
        basis = BASES[index % 3]
        for node in ("node_a", "node_b"):
            station.sequencer(node).play(readout_program(self._design(), basis))
        channels, timestamps = acquire(station, config.block_seconds)
        design = self._design()
        sync_ps, minus = find_heralds(station, channels, timestamps, design)
        count = len(sync_ps)
        bright = [bright_after(station, channels, timestamps, sync_ps, node, design.period)
                  for node in ("node_a", "node_b")]
        outcome = 2 * (~bright[0]).astype(int) + (~bright[1]).astype(int)   # 0..3 = 00..11
        values = {"basis": float(BASES.index(basis)), "seconds": config.block_seconds,
                  "heralds": float(count), "alpha_realised": station_alpha(station, design)}
        for pattern, mask in (("plus", ~minus), ("minus", minus)):
            counts = np.bincount(outcome[mask], minlength=4)
            values.update({f"{pattern}_{pair}": float(c) for pair, c in zip(PAIRS, counts,
                                                                              strict=True)})
        return Block(values=values, arrays={"channels": channels.astype(np.uint8),
                                            "timestamps_ps": timestamps},
                     progress={"heralds": count})

    @classmethod
    def analyze(cls, data: RunData) -> EntanglementResult:
        config = EntanglementConfig(**data.info.config)
        v = data.values
        seconds = float(v["seconds"].sum())
        count = int(v["heralds"].sum())
        if seconds <= 0 or count == 0:
            raise ValueError("no heralds in this run: cannot estimate a fidelity")
        counts = {}
        for code, basis in enumerate(BASES):
            mask = v["basis"] == code
            counts[basis] = (np.array([v[f"plus_{pair}"][mask].sum() for pair in PAIRS]),
                             np.array([v[f"minus_{pair}"][mask].sum() for pair in PAIRS]))
        measured = corrected_correlators(counts, *config.readouts())
        fidelity = bell_fidelity(measured["XX"], measured["YY"], measured["ZZ"], "Psi+")
        rate = herald_rate(count, seconds)
        correlators = {k: float(np.clip(c.value, -1, 1)) for k, c in measured.items()}
        errors = {k: c.error for k, c in measured.items()}
        return EntanglementResult(
            herald_rate_hz=rate.value, herald_rate_err_hz=rate.error,
            fidelity=fidelity.value, fidelity_err=fidelity.error, correlators=correlators,
            correlator_errors=errors, heralds=count, seconds=seconds,
            attempt_period_s=cls(config)._design().period,
            alpha_realised=float(np.mean(v["alpha_realised"])) if "alpha_realised" in v
            else math.nan)

    @classmethod
    def plot(cls, data: RunData, result: EntanglementResult, path: object) -> bool:
        return _plot(data, result, path)


def _plot(data: RunData, result: EntanglementResult, path: object) -> bool:
    from labctl.report.run_plots import bars

    bars(path, result.correlators, result.correlator_errors,  # type: ignore[arg-type]
         {"ZZ": -1.0, "XX": 1.0, "YY": 1.0},
         title=f"run {data.info.run_id}: F = {result.fidelity:.3f} ± {result.fidelity_err:.3f},"
               f" {result.herald_rate_hz:.2f} Hz", y_label="correlator (Ψ+ frame)")
    return True


def corrected_correlators(counts: dict[str, tuple[np.ndarray, np.ndarray]],
                          readout: Readout | tuple[Readout, tuple[float, float]],
                          readout_b: tuple[Readout, tuple[float, float]] | None = None,
                          ) -> dict[str, Correlator]:
    """Readout-corrected XX, YY, ZZ in the Ψ+ frame from each basis's outcome counts.

    ``counts[basis]`` holds the four pair counts (`PAIRS`) of the Ψ+ heralds and
    of the Ψ− heralds; Z on node B takes Ψ− to Ψ+, which flips B's outcome in
    X and Y: the Ψ− table is corrected with the physical readouts and enters
    X and Y with sign −1. ``readout`` is node A's (a `Readout`, or with its
    calibration errors), ``readout_b`` node B's (None: A's). `ValueError` when
    a basis has no heralds.
    """
    a = readout if isinstance(readout, tuple) else (readout, (0.0, 0.0))
    b = a if readout_b is None else readout_b
    measured: dict[str, Correlator] = {}
    for basis, (plus, minus) in counts.items():
        if (plus + minus).sum() == 0:
            raise ValueError(f"no heralds measured in the {basis} basis")
        sign = 1 if basis == "Z" else -1
        measured[basis * 2] = corrected_correlator_from_tables(
            [(plus.reshape(2, 2), 1), (minus.reshape(2, 2), sign)], a[0], b[0], a[1], b[1])
    return measured


def bright_after(station: LabStation, channels: np.ndarray, timestamps: np.ndarray,
                 sync_ps: np.ndarray, node: str,
                 period: float = AttemptDesign().period) -> np.ndarray:
    """For each herald: did the node's readout see at least one photon?"""
    return tag_after_herald(station, channels, timestamps, sync_ps, f"readout_{node}",
                            READOUT_START, READOUT_LENGTH, period)


def tag_after_herald(station: LabStation, channels: np.ndarray, timestamps: np.ndarray,
                     sync_ps: np.ndarray, tagger_input: str, start: float,
                     length: float, period: float = AttemptDesign().period) -> np.ndarray:
    """For each herald: is there a tag on ``tagger_input`` (a name in the tagger's
    wiring) within ``length`` s from ``start`` s into the element played after the
    heralding attempt (of ``period`` s)?"""
    tagger = station.tagger(HERALDING)
    if not tagger.has(tagger_input):
        raise ValueError(f"the time tagger's wiring has no input {tagger_input!r}")
    tags = np.sort(timestamps[channels == tagger.channel(tagger_input)])
    window_open = EXCITATION_AT + OPTICAL_DELAY
    begin = (sync_ps + tagger.offset_ps(tagger_input, SYNC)
             + round((period - window_open + start) * 1e12))
    first = np.searchsorted(tags, begin)
    last = np.searchsorted(tags, begin + round(length * 1e12))
    return last > first


__all__ = ["PAIRS", "WINDOW", "Entanglement", "EntanglementConfig", "EntanglementResult",
           "bright_after", "check_link_settings", "corrected_correlators",
           "tag_after_herald"]
