"""Two-photon (Hong–Ou–Mandel) interference of the two nodes' photons vs their relative delay.

Both nodes run single-click attempts prepared bright-heavy (``alpha`` each),
so both emit a photon in a fraction α² of the attempts. Node B's excitation
pulse — and only it — is shifted by the scanned delay δ, so B's photon
arrives δ later than A's at the heralding beam splitter. Two photons that
overlap in time bunch (leave by the same port); the probability that they
leave by different ports, i.e. that both detectors click in the same
detection window, is (1 − V e^{−|δ − δ0|/τ})/2 for exponential wavepackets of
lifetime τ (Legero et al., Appl. Phys. B 77, 797 (2003); the virtual lab uses
the same law, visibility × exp(−|Δt_arrival|/τ)). δ0 is the delay of perfect
overlap: zero, plus any difference of the nodes' optical paths.

**The detection window.** The window (node A's window marker, the one the
heralding station uses) must hold node B's photon at every delay, or the
detection efficiency of B would change along the scan and fake (or hide) a
dip. It therefore opens ``window_margin`` before the earliest arrival
(OPTICAL_DELAY + min(start, 0) after A's excitation) and stays open until
``window_tail`` after the latest one (OPTICAL_DELAY + max(stop, 0)); the tail
must be at least `MIN_TAIL_LIFETIMES` lifetimes, so that the part of the
latest photon's decay cut off by the window's end, e^{−tail/τ}, stays below
0.3 %. The tagger gates both detectors to that window, and its conditional
filter keeps only the syncs of attempts with a click (the filters are set for
the long window: `_gate_for_window`).

**Accidentals.** A long window collects more dark counts and converter noise:
one photon on one detector and a dark count on the other is a coincidence
too, and it would make the dip look shallower. Block 0 therefore measures the
dark-click probability per detector and window, p_d, with the same
window placed before the excitation pulses (no photon inside). Per point,
with N attempts and n₊, n₋ clicks, each detector's photon-click probability
is s = n/N − p_d, and the expected accidental coincidences are
N (p_d (s₊ + s₋) + p_d²) (threshold detectors, dark counts independent of
the photons: `labctl.physics.link.round_clicks`). The analysis fits
`labctl.analysis.models.HomDipModel` to the coincidences minus these
accidentals, weighted as Poisson counts of the raw coincidences (iteratively
reweighted, as `labctl.analysis.fitting.fit_counts` does) → the two-photon
visibility V, the zero-delay position δ0 and the wavepacket lifetime τ.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from experiments.bringup import (
    DETECTORS,
    HERALDING,
    NODES,
    OPTICAL_DELAY,
    SYNC,
    AttemptDesign,
    acquire,
    attempt_program,
    bring_up,
    gate_detectors,
    keep_only_heralded_syncs,
)
from labctl.analysis.fitting import FitResult, fit
from labctl.analysis.models import HomDipModel
from labctl.data.archive import RunData
from labctl.engine.experiment import Block, Experiment, RunContext
from labctl.pulses.program import Program, Segment
from labctl.station import LabStation

#: The window must stay open this many lifetimes after the latest photon (e^-6 ≈ 0.25 %).
MIN_TAIL_LIFETIMES = 6.0
#: Longest delay the scan may reach, s (the excitation must stay inside the attempt element).
MAX_DELAY = 500e-9
#: How far the conditional filter delays the sync past the end of the window, s.
_SYNC_MARGIN = 50e-9
#: Reweighting passes of the Poisson fit.
_POISSON_ITERATIONS = 3


@dataclass(frozen=True)
class HomConfig:
    """Node B's excitation delay from ``start`` to ``stop`` (s) in ``steps`` points.

    Both nodes are prepared with bright population ``alpha``; each point
    counts for ``seconds_per_point``, the dark-click reference (block 0, the
    window before the excitation) for ``dark_seconds``. ``lifetime`` is the emitters' expected
    lifetime (s): it sets the window's minimum tail (`MIN_TAIL_LIFETIMES`); the
    fit leaves the lifetime free unless ``fix_lifetime``.
    """

    start: float = -40e-9
    stop: float = 40e-9
    steps: int = 21
    seconds_per_point: float = 3000.0
    dark_seconds: float = 3000.0
    alpha: float = 0.5
    window_margin: float = 5e-9
    window_tail: float = 80e-9
    lifetime: float = 12e-9
    fix_lifetime: bool = False

    def __post_init__(self) -> None:
        if self.steps < 5:
            raise ValueError(f"steps must be at least 5, got {self.steps}")
        if not (math.isfinite(self.start) and math.isfinite(self.stop)) or \
                not -MAX_DELAY <= self.start < self.stop <= MAX_DELAY:
            raise ValueError(f"need {-MAX_DELAY:g} <= start < stop <= {MAX_DELAY:g} s, got "
                             f"start {self.start}, stop {self.stop}")
        for name in ("seconds_per_point", "dark_seconds"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0 < value <= 1e6):
                raise ValueError(f"{name} must be within (0, 1e6] s, got {value}")
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must be within (0, 1), got {self.alpha}")
        if not (math.isfinite(self.lifetime) and 0 < self.lifetime <= 1e-6):
            raise ValueError(f"lifetime must be within (0, 1e-6] s, got {self.lifetime}")
        if not (math.isfinite(self.window_margin) and 0 <= self.window_margin <= 100e-9):
            raise ValueError(f"window_margin must be within [0, 100e-9] s, got "
                             f"{self.window_margin}")
        if not (math.isfinite(self.window_tail)
                and self.window_tail >= MIN_TAIL_LIFETIMES * self.lifetime):
            raise ValueError(
                f"window_tail {self.window_tail} s is too short: the window must stay open "
                f"{MIN_TAIL_LIFETIMES:g} lifetimes ({MIN_TAIL_LIFETIMES * self.lifetime:g} s) "
                f"after the latest photon, or B's detection efficiency changes with the delay")
        if self.window > 1e-6:
            raise ValueError(f"the detection window would be {self.window} s long (> 1 µs): "
                             f"shorten the scan or the tail")

    @property
    def blocks(self) -> int:
        """One dark-reference block, then one block per delay."""
        return self.steps + 1

    @property
    def window_offset(self) -> float:
        """Window opening after node A's excitation: before the earliest photon."""
        return OPTICAL_DELAY + min(self.start, 0.0) - self.window_margin

    @property
    def window(self) -> float:
        """Window length: from the opening to ``window_tail`` after the latest photon."""
        return OPTICAL_DELAY + max(self.stop, 0.0) + self.window_tail - self.window_offset

    def design(self, dark: bool = False) -> AttemptDesign:
        """The attempts; ``dark``: the same window, but closing before any photon arrives."""
        offset = -(self.window + self.window_margin) if dark else self.window_offset
        return AttemptDesign(alpha=self.alpha, window_offset=offset, window=self.window)

    def point(self, index: int) -> float:
        """The nominal delay of scan point ``index`` (0-based), s."""
        return float(np.linspace(self.start, self.stop, self.steps)[index])


@dataclass(frozen=True)
class HomResult:
    """Two-photon visibility and zero-delay position (s) with standard errors."""

    experiment: str
    visibility: float | None
    visibility_err: float | None
    center: float | None
    center_err: float | None
    lifetime: float | None
    lifetime_err: float | None
    converged: bool
    message: str
    fit: dict[str, float | bool | str | None]
    dark_probability: float
    coincidences: int
    points: int


def delayed_program(design: AttemptDesign, delay: float, sample_rate: float) -> Program:
    """The attempt program with its excitation pulse ``delay`` later (on the AWG's sample grid).

    Only the excitation marker moves: the microwave rotation (α) and the
    detection window stay where `attempt_program` puts them.
    """
    program = attempt_program(design)
    segment = program.segments[0]
    step = round(delay * sample_rate) / sample_rate
    markers = tuple(dataclasses.replace(m, start=m.start + step) if m.output == "excitation"
                    else m for m in segment.markers)
    shifted: Segment = dataclasses.replace(segment, markers=markers)
    return dataclasses.replace(program, segments=(shifted, *program.segments[1:]))


def on_grid(delay: float, sample_rate: float) -> float:
    """The delay the AWG actually plays: the nearest whole number of samples."""
    return round(delay * sample_rate) / sample_rate


def _gate_for_window(station: LabStation, window: float) -> None:
    """Gate the detectors to the long window and keep the syncs of clicking attempts.

    Here the gates stay open the whole ``window`` and the sync is delayed past
    the window's end, so a click anywhere in it passes its sync.
    """
    keep_only_heralded_syncs(station, span=window + _SYNC_MARGIN)
    gate_detectors(station, window=window)


def count_windows(station: LabStation, channels: NDArray[Any], timestamps: NDArray[np.int64],
                  window: float) -> tuple[int, int, int]:
    """(windows with clicks on both detectors, clicks on detector +, clicks on detector −).

    Each click is assigned to the latest sync (the window's opening, input
    delays undone) at or before it and counts if it falls inside that window.
    """
    tagger = station.tagger(HERALDING)
    syncs = np.sort(timestamps[channels == tagger.channel(SYNC)] - tagger.delay_ps(SYNC))
    window_ps = round(window * 1e12)
    owners: list[NDArray[np.int64]] = []
    for name in DETECTORS:
        clicks = timestamps[channels == tagger.channel(name)] - tagger.delay_ps(name)
        owner = np.searchsorted(syncs, clicks, side="right") - 1
        inside = owner >= 0
        inside[inside] = clicks[inside] - syncs[owner[inside]] <= window_ps
        owners.append(owner[inside])
    both = np.intersect1d(owners[0], owners[1]).size
    return int(both), len(owners[0]), len(owners[1])


class Hom(Experiment[HomConfig]):
    """HOM dip between the nodes' photons vs node B's excitation delay: V and zero delay."""

    name: ClassVar[str] = "hom"
    description: ClassVar[str] = ("two-photon interference vs node B's excitation delay: "
                                  "visibility and zero-delay position")
    config_type: ClassVar[type[Any]] = HomConfig
    value_names: ClassVar[tuple[str, ...]] = (
        "x", "dark", "seconds", "attempts", "coincidences", "clicks_plus", "clicks_minus")

    def prepare(self, context: RunContext) -> None:
        config = self.config
        bring_up(context.station, config.design())
        _gate_for_window(context.station, config.window)

    def acquire(self, context: RunContext, index: int) -> Block:
        config = self.config
        station = context.station
        dark = index == 0
        design = config.design(dark=dark)
        delay = 0.0 if dark else config.point(index - 1)
        x = 0.0
        for node in NODES:
            awg = station.sequencer(node)
            rate = awg.sample_rate_hz()
            program = (delayed_program(design, delay, rate) if node == "node_b"
                       else attempt_program(design))
            if node == "node_b":
                x = on_grid(delay, rate)
            awg.play(program)
        seconds = config.dark_seconds if dark else config.seconds_per_point
        channels, timestamps = acquire(station, seconds)
        both, plus, minus = count_windows(station, channels, timestamps, config.window)
        attempts = float(math.floor(seconds / design.period))
        return Block(values={"x": x, "dark": float(dark), "seconds": seconds,
                             "attempts": attempts, "coincidences": float(both),
                             "clicks_plus": float(plus), "clicks_minus": float(minus)},
                     progress={"coincidences": both})

    @classmethod
    def analyze(cls, data: RunData) -> HomResult:
        config = HomConfig(**data.info.config)
        x, raw, accidental, p_dark = _scan_arrays(data)
        model = HomDipModel(lifetime=config.lifetime if config.fix_lifetime else None)
        result = _fit_with_background(model, x, raw, accidental)
        fitted = result.to_dict()
        values = {k: fitted.get(k) for k in ("visibility", "center", "lifetime")}
        errors = {k: fitted.get(f"{k}_err") for k in ("visibility", "center", "lifetime")}
        return HomResult(
            experiment=cls.name, visibility=_number(values["visibility"]),
            visibility_err=_number(errors["visibility"]), center=_number(values["center"]),
            center_err=_number(errors["center"]), lifetime=_number(values["lifetime"]),
            lifetime_err=_number(errors["lifetime"]), converged=result.converged,
            message=result.message, fit=fitted, dark_probability=p_dark,
            coincidences=int(raw.sum()), points=len(x))

    @classmethod
    def plot(cls, data: RunData, result: HomResult, path: Any) -> bool:
        from labctl.report.run_plots import scan_plot

        x, raw, accidental, _ = _scan_arrays(data)
        fit_x: NDArray[np.float64] | None = None
        fit_y: NDArray[np.float64] | None = None
        if result.converged:
            values = {k: v for k, v in result.fit.items()
                      if not k.endswith("_err") and isinstance(v, float)}
            fit_x = np.linspace(float(x.min()), float(x.max()), 400)
            fit_y = HomDipModel().eval(delay=fit_x, **{k: values[k] for k in
                                                       ("baseline", "visibility", "center",
                                                        "lifetime")})
            fit_x = fit_x * 1e9
        title = (f"run {data.info.run_id} {cls.name}: V = {result.visibility:.3f} ± "
                 f"{result.visibility_err:.3f}" if result.converged and
                 result.visibility is not None and result.visibility_err is not None
                 else f"run {data.info.run_id} {cls.name}: {result.message}")
        scan_plot(path, x * 1e9, raw - accidental, np.sqrt(np.maximum(raw, 1.0)),
                  "node B excitation delay (ns)", "coincidences − accidentals", title,
                  fit_x, fit_y)
        return True


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, float) else None


def _scan_arrays(data: RunData) -> tuple[NDArray[np.float64], NDArray[np.float64],
                                        NDArray[np.float64], float]:
    """Delays, raw coincidences, expected accidentals per point and p_d (dark clicks/window)."""
    v = data.values
    dark = v["dark"] > 0.5
    if not np.any(dark):
        raise ValueError("the run has no dark-reference block: cannot estimate accidentals")
    scan = ~dark
    if np.count_nonzero(scan) == 0:
        raise ValueError("the run has no delay points: nothing to fit")
    dark_attempts = float(v["attempts"][dark].sum())
    p_dark = float((v["clicks_plus"][dark].sum() + v["clicks_minus"][dark].sum())
                   / (2 * dark_attempts))
    attempts = v["attempts"][scan]
    photon_plus = np.maximum(v["clicks_plus"][scan] / attempts - p_dark, 0.0)
    photon_minus = np.maximum(v["clicks_minus"][scan] / attempts - p_dark, 0.0)
    accidental = attempts * (p_dark * (photon_plus + photon_minus) + p_dark**2)
    x = v["x"][scan]
    order = np.argsort(x)
    return x[order], v["coincidences"][scan][order], accidental[order], p_dark


def _fit_with_background(model: HomDipModel, x: NDArray[np.float64], raw: NDArray[np.float64],
                         accidental: NDArray[np.float64]) -> FitResult:
    """Fit the dip to raw − accidentals, weighting by Poisson errors of the raw counts.

    Iteratively reweighted with 1/sqrt(model + accidentals), which converges to
    the Poisson maximum-likelihood fit (McCullagh & Nelder, ch. 2).
    """
    signal = raw - accidental
    result = fit(model, x, signal, weights=1.0 / np.sqrt(np.maximum(raw, 1.0)))
    for _ in range(_POISSON_ITERATIONS):
        if not result.converged:
            return result
        expected = np.maximum(result.best_fit + accidental, 0.5)
        result = fit(model, x, signal, weights=1.0 / np.sqrt(expected))
    return result


__all__ = ["Hom", "HomConfig", "HomResult", "count_windows", "delayed_program", "on_grid"]
