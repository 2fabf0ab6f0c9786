"""Calibrations of the heralding link: SNSPD bias, converter phase matching, detector timing.

Three scans that measure the numbers `experiments.bringup` takes as given
(SNSPD bias, oven temperature, optical delay):

- `SnspdBiasScan` (``snspd_bias_scan``): one heralding SNSPD channel's bias
  current is stepped; per point the count rate is read with the phase-reference
  laser on (known attenuated flux) and off. The lit-minus-dark rate over the
  incident flux is the efficiency curve (fitted with
  `labctl.analysis.models.SnspdBiasModel` without dark counts), the dark rate
  is fitted with `snspd_dark_counts`; `operating_bias` picks the bias reaching
  95 % of the plateau below the dark-count knee.
- `ConverterPhaseMatching` (``converter_phase_matching``): both nodes' oven
  setpoints are stepped while single-click attempts run; the clicks inside
  detection windows per point follow the converters' sinc² phase matching
  (`PhaseMatchingModel`, Poisson fit) → T0 and FWHM.
- `DetectorOffsets` (``detector_offsets``): attempts run with the detection
  window opened early; the histogram of click times after the sync (the
  window's opening) is fitted with `DetectorTimingModel` → onset and jitter per
  detector; the photons' arrival after the excitation pulse (the optical
  delay) is the window offset plus the onset, and `window_opening` says where
  the window should open.

Every analysis is a pure function of the archived block values (and, for the
timing calibration, the archived histograms).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import lmfit
import numpy as np
from numpy.typing import NDArray

from experiments.bringup import (
    DETECTORS,
    HERALDING,
    NODES,
    SYNC,
    AttemptDesign,
    acquire,
    bring_up,
    gate_detectors,
    heralds,
    keep_only_heralded_syncs,
)
from experiments.scanning import LinearScan
from labctl.analysis.fitting import AnalysisError, FitResult, fit, fit_counts
from labctl.analysis.models import (
    DetectorTimingModel,
    PhaseMatchingModel,
    SnspdBiasModel,
    operating_bias,
    snspd_dark_counts,
    window_opening,
)
from labctl.data.archive import RunData
from labctl.engine.experiment import Block, Experiment, RunContext
from labctl.station import LabStation
from labctl.timetags.histograms import histogram_of

#: Planck constant times the speed of light, J m.
_HC = 6.62607015e-34 * 2.99792458e8
#: Top of the SNSPD driver's bias range (the nanowire's switching current), A.
MAX_BIAS_A = 22e-6


def _check_scan(start: float, stop: float, steps: int, low: float, high: float,
                unit: str) -> None:
    if steps < 5:
        raise ValueError(f"steps must be at least 5, got {steps}")
    if not (math.isfinite(start) and math.isfinite(stop)) or not low <= start < stop <= high:
        raise ValueError(f"need {low:g} <= start < stop <= {high:g} {unit}, got start {start}, "
                         f"stop {stop}")


def _check_seconds(name: str, value: float, low_inclusive: bool = False) -> None:
    ok = (value >= 0 if low_inclusive else value > 0) and value <= 3600
    if not (math.isfinite(value) and ok):
        bracket = "[" if low_inclusive else "("
        raise ValueError(f"{name} must be within {bracket}0, 3600], got {value}")


def _fit_curve(model: lmfit.Model, fitted: dict[str, float | bool | str | None],
               x: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
    """The fitted curve over the scan, or None when the fit did not converge."""
    if not fitted.get("converged"):
        return None
    values = {k: v for k, v in fitted.items() if not k.endswith("_err") and isinstance(v, float)}
    fit_x = np.linspace(float(x.min()), float(x.max()), 400)
    return fit_x, model.eval(**{model.independent_vars[0]: fit_x},
                             **{k: values[k] for k in model.param_names if k in values})


# --- SNSPD bias scan --------------------------------------------------------------------------

@dataclass(frozen=True)
class BiasScanConfig(LinearScan):
    """A scan of heralding ``detector``'s bias from ``start`` to ``stop`` (A) in ``steps`` points.

    ``seconds_per_point`` is spent lit and as long again dark, the detector's
    clicks counted by the heralding tagger on its input of the same name. The reference
    laser emits ``power_w`` at ``wavelength_nm``; ``photon_fraction`` is the
    calibrated fraction of its photons reaching the detector (the attenuator
    chain), so the incident flux is power · fraction / (hc/λ).
    """

    start: float = 4e-6
    stop: float = 21e-6
    steps: int = 35
    seconds_per_point: float = 2.0
    detector: str = DETECTORS[0]
    power_w: float = 20e-3
    wavelength_nm: float = 1588.0
    photon_fraction: float = 5e-14
    efficiency_fraction: float = 0.95

    def __post_init__(self) -> None:
        if self.detector not in DETECTORS:
            raise ValueError(f"detector must be a heralding detector "
                             f"({', '.join(DETECTORS)}), got {self.detector!r}")
        _check_scan(self.start, self.stop, self.steps, 0.0, MAX_BIAS_A, "A")
        if self.stop >= MAX_BIAS_A:
            raise ValueError(f"stop must stay below the switching current {MAX_BIAS_A:g} A "
                             f"(the nanowire latches there), got {self.stop}")
        _check_seconds("seconds_per_point", self.seconds_per_point)
        if not (math.isfinite(self.power_w) and 0 < self.power_w <= 0.1):
            raise ValueError(f"power_w must be within (0, 0.1], got {self.power_w}")
        if not (math.isfinite(self.wavelength_nm) and 1000 < self.wavelength_nm < 2000):
            raise ValueError(f"wavelength_nm must be within (1000, 2000), got "
                             f"{self.wavelength_nm}")
        if not (math.isfinite(self.photon_fraction) and 0 < self.photon_fraction <= 1):
            raise ValueError(f"photon_fraction must be within (0, 1], got "
                             f"{self.photon_fraction}")
        if not 0 < self.efficiency_fraction < 1:
            raise ValueError(f"efficiency_fraction must be within (0, 1), got "
                             f"{self.efficiency_fraction}")

    @property
    def incident_flux(self) -> float:
        """Reference-laser photons per second reaching the detector."""
        return self.power_w * self.photon_fraction / (_HC / (self.wavelength_nm * 1e-9))


@dataclass(frozen=True)
class BiasScanResult:
    """The efficiency plateau and half-point, the dark counts and the chosen operating bias."""

    experiment: str
    efficiency_fit: dict[str, float | bool | str | None]
    dark_fit: dict[str, float | bool | str | None]
    plateau_efficiency: float | None
    plateau_efficiency_err: float | None
    half_point_a: float | None
    half_point_a_err: float | None
    operating_bias_a: float | None
    operating_bias_a_err: float | None
    dark_count_rate_hz: float | None
    knee_bias_a: float | None
    converged: bool
    message: str
    points: int


def _dark_model(reference: float) -> lmfit.Model:
    model = lmfit.Model(snspd_dark_counts, name="snspd_dark_counts")
    model.set_param_hint("floor", min=0.0)
    model.set_param_hint("scale", min=0.0)
    model.set_param_hint("slope", min=0.0)
    model.set_param_hint("reference", value=reference, vary=False)
    return model


def _dark_guess(x: NDArray[np.float64], dark: NDArray[np.float64]) -> dict[str, float]:
    """Starting values of the dark-count fit: floor from the low-bias points, then the rise."""
    floor = max(float(np.median(dark[: max(2, len(dark) // 4)])), 1e-3)
    top = float(x.max())
    rising = dark > 3 * floor
    slope, scale = (top - float(x.min())) / 20, max(float(dark[-1]) - floor, 1e-3)
    if np.count_nonzero(rising) >= 2:
        coefficients = np.polyfit(x[rising] - top, np.log(dark[rising] - floor), 1)
        if coefficients[0] > 0:
            slope, scale = 1.0 / float(coefficients[0]), float(np.exp(coefficients[1]))
    return {"floor": floor, "scale": scale, "slope": slope}


def _bias_arrays(data: RunData) -> tuple[NDArray[np.float64], NDArray[np.float64],
                                         NDArray[np.float64], NDArray[np.float64]]:
    """Bias, lit and dark rates (Hz) and seconds per point."""
    v = data.values
    seconds = v["seconds"]
    if seconds.size == 0 or np.any(seconds <= 0):
        raise ValueError("a bias point has no measurement time: nothing to fit")
    return v["x"], v["lit_rate"], v["dark_rate"], seconds


def _efficiency(config: BiasScanConfig, lit: NDArray[np.float64], dark: NDArray[np.float64],
                seconds: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Efficiency (lit − dark)/flux and its Poisson error."""
    flux = config.incident_flux
    error = np.sqrt(np.maximum(lit + dark, 1.0 / seconds) / seconds) / flux
    return (lit - dark) / flux, error


class SnspdBiasScan(Experiment[BiasScanConfig]):
    """SNSPD bias scan under the phase-reference laser: efficiency plateau and operating bias."""

    name: ClassVar[str] = "snspd_bias_scan"
    description: ClassVar[str] = ("SNSPD bias scan, reference laser on and off: efficiency "
                                  "plateau, half-point, dark counts and operating bias")
    config_type: ClassVar[type[Any]] = BiasScanConfig
    value_names: ClassVar[tuple[str, ...]] = ("x", "lit_rate", "dark_rate", "seconds")

    def prepare(self, context: RunContext) -> None:
        config = self.config
        station = context.station
        for node in NODES:   # no attempt photons and no pump noise on the detectors
            station.sequencer(node).stop()
            station.converter(node).set_pump_emission(False)
        laser = station.laser("phase_reference_laser", HERALDING)
        laser.set_wavelength_nm(config.wavelength_nm)
        laser.set_power_w(config.power_w)
        laser.set_emission(False)
        detectors = station.detectors(HERALDING)
        detectors.set_bias_a(config.detector, config.start)
        detectors.set_bias_enabled(config.detector, True)

    def acquire(self, context: RunContext, index: int) -> Block:
        config = self.config
        station = context.station
        x = config.point(index)
        detectors = station.detectors(HERALDING)
        if detectors.is_latched(config.detector):
            detectors.reset_latch(config.detector)
        detectors.set_bias_a(config.detector, x)
        laser = station.laser("phase_reference_laser", HERALDING)
        laser.set_emission(True)
        lit = _average_rate(station, config.detector, config.seconds_per_point)
        laser.set_emission(False)
        dark = _average_rate(station, config.detector, config.seconds_per_point)
        return Block(values={"x": x, "lit_rate": lit, "dark_rate": dark,
                             "seconds": config.seconds_per_point},
                     progress={"lit_rate": lit, "dark_rate": dark})

    @classmethod
    def analyze(cls, data: RunData) -> BiasScanResult:
        config = BiasScanConfig(**data.info.config)
        x, lit, dark, seconds = _bias_arrays(data)
        efficiency, error = _efficiency(config, lit, dark, seconds)
        efficiency_fit = fit(SnspdBiasModel(dark_counts=False), x, efficiency,
                             weights=1.0 / error)
        dark_weights = 1.0 / np.sqrt(np.maximum(dark, 1.0 / seconds) / seconds)
        dark_fit = fit(_dark_model(float(x.max())), x, dark, weights=dark_weights,
                       **_dark_guess(x, dark))
        fits = (efficiency_fit.to_dict(), dark_fit.to_dict())
        if not efficiency_fit.converged or not dark_fit.converged:
            which = "efficiency" if not efficiency_fit.converged else "dark-count"
            bad = efficiency_fit if not efficiency_fit.converged else dark_fit
            return _bias_result(cls.name, fits, f"{which} fit: {bad.message}", len(x))
        e, d = efficiency_fit, dark_fit
        combined = FitResult(
            values={"half_point": e.values["half_point"], "width": e.values["width"],
                    "amplitude": e.values["amplitude"], "dark_floor": d.values["floor"],
                    "dark_scale": d.values["scale"], "dark_slope": d.values["slope"],
                    "reference_bias": d.values["reference"]},
            errors={}, converged=True, message="fitted", reduced_chi2=math.nan,
            best_fit=np.zeros(0))
        try:
            point = operating_bias(combined, config.efficiency_fraction,
                                   scan_range=(float(x.min()), float(x.max())))
        except (AnalysisError, ValueError) as error:
            return _bias_result(cls.name, fits, f"no operating bias: {error}", len(x))
        log_ratio = math.log(config.efficiency_fraction / (1 - config.efficiency_fraction))
        bias_err = math.hypot(e.errors["half_point"], log_ratio * e.errors["width"])
        return BiasScanResult(
            experiment=cls.name, efficiency_fit=fits[0], dark_fit=fits[1],
            plateau_efficiency=e.values["amplitude"],
            plateau_efficiency_err=e.errors["amplitude"],
            half_point_a=e.values["half_point"], half_point_a_err=e.errors["half_point"],
            operating_bias_a=point.bias, operating_bias_a_err=bias_err,
            dark_count_rate_hz=point.dark_count_rate, knee_bias_a=point.knee_bias,
            converged=True, message="fitted", points=len(x))

    @classmethod
    def plot(cls, data: RunData, result: BiasScanResult, path: Any) -> bool:
        from labctl.report.run_plots import scan_plot

        config = BiasScanConfig(**data.info.config)
        x, lit, dark, seconds = _bias_arrays(data)
        efficiency, error = _efficiency(config, lit, dark, seconds)
        curve = _fit_curve(SnspdBiasModel(dark_counts=False), result.efficiency_fit, x)
        scan_plot(path, x, efficiency, error, "bias current (A)", "detection efficiency",
                  f"run {data.info.run_id} {cls.name} {config.detector}: {result.message}",
                  *(curve if curve is not None else (None, None)))
        return True


def _bias_result(name: str, fits: tuple[dict[str, Any], dict[str, Any]], message: str,
                 points: int) -> BiasScanResult:
    return BiasScanResult(name, fits[0], fits[1], None, None, None, None, None, None, None,
                          None, False, message, points)


def _average_rate(station: LabStation, detector: str, seconds: float) -> float:
    """The detector's clicks per second, counted by the heralding tagger for ``seconds``.

    The tagger counts every click of the whole interval (so the Poisson error
    of the point is sqrt(rate/seconds)); a bias unit's own counter, where it
    has one, reports one short measurement period at a time.
    """
    rates = station.tagger(HERALDING).count_rates_hz([detector], seconds)
    return rates[detector]


# --- converter phase matching -----------------------------------------------------------------

@dataclass(frozen=True)
class PhaseMatchingConfig(LinearScan):
    """Both ovens' setpoint from ``start`` to ``stop`` (°C) in ``steps`` points.

    Each point waits ``settle_seconds`` (station clock) for the ovens, then
    counts clicks in detection windows for ``seconds_per_point`` with
    single-click attempts at bright population ``alpha``.
    """

    start: float = 62.5
    stop: float = 67.5
    steps: int = 21
    settle_seconds: float = 120.0
    seconds_per_point: float = 1.0
    alpha: float = 0.4

    def __post_init__(self) -> None:
        _check_scan(self.start, self.stop, self.steps, 20.0, 200.0, "°C")
        _check_seconds("settle_seconds", self.settle_seconds, low_inclusive=True)
        _check_seconds("seconds_per_point", self.seconds_per_point)
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must be within (0, 1), got {self.alpha}")



@dataclass(frozen=True)
class ScanFitResult:
    """A fitted calibration scan: the fit's values with uncertainties, converged or why not."""

    experiment: str
    fit: dict[str, float | bool | str | None]
    points: int
    counts: int


class ConverterPhaseMatching(Experiment[PhaseMatchingConfig]):
    """Oven-temperature scan of both converters with attempts running: T0 and FWHM."""

    name: ClassVar[str] = "converter_phase_matching"
    description: ClassVar[str] = ("converter oven scan with single-click attempts: "
                                  "phase-matching temperature and width")
    config_type: ClassVar[type[Any]] = PhaseMatchingConfig
    value_names: ClassVar[tuple[str, ...]] = ("x", "temperature", "clicks", "attempts",
                                              "seconds")

    def prepare(self, context: RunContext) -> None:
        config = self.config
        bring_up(context.station, AttemptDesign(alpha=config.alpha, oven_c=config.start))
        keep_only_heralded_syncs(context.station)
        gate_detectors(context.station)

    def acquire(self, context: RunContext, index: int) -> Block:
        config = self.config
        station = context.station
        x = config.point(index)
        converters = [station.converter(node) for node in NODES]
        for converter in converters:
            converter.set_oven_setpoint_c(x)
        station.clock.sleep(config.settle_seconds)
        temperature = float(np.mean([c.oven_temperature_c() for c in converters]))
        channels, timestamps = acquire(station, config.seconds_per_point)
        found = heralds(station, channels, timestamps)
        return Block(values={"x": x, "temperature": temperature,
                             "clicks": float(found.clicks_in_windows),
                             "attempts": float(found.attempts),
                             "seconds": config.seconds_per_point},
                     progress={"clicks": found.clicks_in_windows})

    @classmethod
    def analyze(cls, data: RunData) -> ScanFitResult:
        x, clicks = data.values["x"], data.values["clicks"]
        result = fit_counts(PhaseMatchingModel(), x, clicks)
        return ScanFitResult(cls.name, result.to_dict(), len(x), int(clicks.sum()))

    @classmethod
    def plot(cls, data: RunData, result: ScanFitResult, path: Any) -> bool:
        from labctl.report.run_plots import scan_plot

        x, clicks = data.values["x"], data.values["clicks"]
        curve = _fit_curve(PhaseMatchingModel(), result.fit, x)
        scan_plot(path, x, clicks, np.sqrt(np.maximum(clicks, 1.0)), "oven setpoint (°C)",
                  "clicks in detection windows",
                  f"run {data.info.run_id} {cls.name}: {result.fit.get('message')}",
                  *(curve if curve is not None else (None, None)))
        return True


# --- detector offsets -------------------------------------------------------------------------

@dataclass(frozen=True)
class DetectorOffsetsConfig:
    """Click-time histograms after the sync, ``blocks`` blocks of ``block_seconds`` each.

    The detection window opens ``window_offset`` after the excitation pulse
    and stays open ``window`` (s): open it before the photons arrive so the
    rise of the histogram is inside it. Bins of ``bin_ps`` over the window.
    """

    blocks: int = 5
    block_seconds: float = 60.0
    alpha: float = 0.5
    window_offset: float = 10e-9
    window: float = 40e-9
    bin_ps: int = 20
    margin: float = 3.0

    def __post_init__(self) -> None:
        if self.blocks < 1:
            raise ValueError(f"blocks must be at least 1, got {self.blocks}")
        _check_seconds("block_seconds", self.block_seconds)
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must be within (0, 1), got {self.alpha}")
        if not (math.isfinite(self.window_offset) and 0 <= self.window_offset <= 1e-6):
            raise ValueError(f"window_offset must be within [0, 1e-6] s, got "
                             f"{self.window_offset}")
        if not (math.isfinite(self.window) and 5e-9 <= self.window <= 1e-6):
            raise ValueError(f"window must be within [5e-9, 1e-6] s, got {self.window}")
        if not 1 <= self.bin_ps <= 1000:
            raise ValueError(f"bin_ps must be within [1, 1000], got {self.bin_ps}")
        if self.window_ps % self.bin_ps:
            raise ValueError(f"window ({self.window_ps} ps) must be a whole number of "
                             f"bin_ps ({self.bin_ps}) bins")
        if not (math.isfinite(self.margin) and self.margin >= 0):
            raise ValueError(f"margin must be a finite number >= 0, got {self.margin}")

    @property
    def window_ps(self) -> int:
        return round(self.window * 1e12)

    def design(self) -> AttemptDesign:
        return AttemptDesign(alpha=self.alpha, window_offset=self.window_offset,
                             window=self.window)


@dataclass(frozen=True)
class DetectorTiming:
    """One detector's timing: onset (photon arrival) after the sync and after the excitation.

    ``fit`` is the timing fit in ps (the histogram's unit); the fields are in s.
    """

    detector: str
    fit: dict[str, float | bool | str | None]
    onset_after_sync_s: float | None
    onset_after_sync_s_err: float | None
    optical_delay_s: float | None
    optical_delay_s_err: float | None
    jitter_s: float | None
    jitter_s_err: float | None
    window_opening_after_excitation_s: float | None
    clicks: int


@dataclass(frozen=True)
class DetectorOffsetsResult:
    """Per heralding detector its timing fit; converged when every detector's fit did."""

    experiment: str
    detectors: tuple[DetectorTiming, ...]
    converged: bool
    message: str
    window_offset_s: float


def _histogram_name(detector: str) -> str:
    return f"hist_{detector}"


class DetectorOffsets(Experiment[DetectorOffsetsConfig]):
    """Click-time histograms after the sync with attempts running: onset, jitter, delay."""

    name: ClassVar[str] = "detector_offsets"
    description: ClassVar[str] = ("herald click-time histograms after the sync: detector "
                                  "onset, jitter, optical delay and window opening")
    config_type: ClassVar[type[Any]] = DetectorOffsetsConfig
    value_names: ClassVar[tuple[str, ...]] = ("seconds", "attempts",
                                              *(f"clicks_{d}" for d in DETECTORS))

    def prepare(self, context: RunContext) -> None:
        config = self.config
        bring_up(context.station, config.design())
        keep_only_heralded_syncs(context.station)   # the detectors stay ungated

    def acquire(self, context: RunContext, index: int) -> Block:
        config = self.config
        station = context.station
        channels, timestamps = acquire(station, config.block_seconds)
        found = heralds(station, channels, timestamps, window=config.window)
        # the sync is delayed past the window by the conditional filter: undo the input delays
        offset = station.tagger(HERALDING).offset_ps(DETECTORS[0], SYNC)
        after_opening = found.delay_ps - offset
        values: dict[str, float] = {"seconds": config.block_seconds,
                                    "attempts": float(found.attempts)}
        arrays: dict[str, NDArray[Any]] = {}
        for number, detector in enumerate(DETECTORS):
            histogram = histogram_of(after_opening[found.detector == number], config.bin_ps,
                                     (0, config.window_ps))
            arrays[_histogram_name(detector)] = histogram.counts
            values[f"clicks_{detector}"] = float(histogram.total)
        return Block(values=values, arrays=arrays,
                     progress={"heralds": float(found.count)})

    @classmethod
    def analyze(cls, data: RunData) -> DetectorOffsetsResult:
        config = DetectorOffsetsConfig(**data.info.config)
        timings = []
        for detector in DETECTORS:
            centers, counts = _histogram(data, config, detector)
            result = fit_counts(DetectorTimingModel(), centers, counts)
            timings.append(_timing(detector, result, config, int(counts.sum())))
        failed = [t for t in timings if not t.fit.get("converged")]
        message = "fitted" if not failed else "; ".join(
            f"detector {t.detector}: {t.fit.get('message')}" for t in failed)
        return DetectorOffsetsResult(cls.name, tuple(timings), not failed, message,
                                     config.window_offset)

    @classmethod
    def plot(cls, data: RunData, result: DetectorOffsetsResult, path: Any) -> bool:
        from labctl.report.run_plots import scan_plot

        config = DetectorOffsetsConfig(**data.info.config)
        timing = result.detectors[0]
        centers, counts = _histogram(data, config, timing.detector)
        curve = _fit_curve(DetectorTimingModel(), timing.fit, centers)
        scan_plot(path, centers, counts, np.sqrt(np.maximum(counts, 1.0)),
                  "click time after the sync (ps)", f"clicks (detector {timing.detector})",
                  f"run {data.info.run_id} {cls.name}: {result.message}",
                  *(curve if curve is not None else (None, None)))
        return True


def _histogram(data: RunData, config: DetectorOffsetsConfig,
               detector: str) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Bin centres (ps: the fit's unit) and the counts summed over the run's blocks."""
    blocks = data.arrays(_histogram_name(detector))
    counts: NDArray[np.float64] = np.sum([np.asarray(b, dtype=float) for b in blocks], axis=0)
    centers = (np.arange(len(counts), dtype=np.float64) + 0.5) * config.bin_ps
    return centers, counts


def _timing(detector: str, result: FitResult, config: DetectorOffsetsConfig,
            clicks: int) -> DetectorTiming:
    if not result.converged:
        return DetectorTiming(detector, result.to_dict(), None, None, None, None, None, None,
                              None, clicks)
    onset, onset_err = result.values["onset"] * 1e-12, result.errors["onset"] * 1e-12
    opening = config.window_offset + window_opening(result, config.margin) * 1e-12
    return DetectorTiming(
        detector=detector, fit=result.to_dict(), onset_after_sync_s=onset,
        onset_after_sync_s_err=onset_err, optical_delay_s=config.window_offset + onset,
        optical_delay_s_err=onset_err, jitter_s=result.values["jitter"] * 1e-12,
        jitter_s_err=result.errors["jitter"] * 1e-12, window_opening_after_excitation_s=opening,
        clicks=clicks)


__all__ = [
    "BiasScanConfig",
    "BiasScanResult",
    "ConverterPhaseMatching",
    "DetectorOffsets",
    "DetectorOffsetsConfig",
    "DetectorOffsetsResult",
    "DetectorTiming",
    "PhaseMatchingConfig",
    "ScanFitResult",
    "SnspdBiasScan",
]
