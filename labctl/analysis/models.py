"""Lineshapes and the lmfit models binding them, with automatic starting values and bounds.

Plain functions are the lineshapes (reused from `labctl.physics` where the
physics already defines them); each model is a thin ``lmfit.Model``
subclass with a ``guess(data, x)`` and bounds, plus the class attributes
`labctl.analysis.fitting.fit` uses to refuse a fit whose numbers must not be
used. Parameters carry the unit of ``x`` (a model does not care whether
times are in s or ps, as long as the unit is consistent).

| model | lineshape | physics |
|---|---|---|
| `PhaseMatchingModel` | b + A sinc²(2.7831 (T − T0)/FWHM) | `optics.FrequencyConverter` |
| `SnspdBiasModel` | A/(1 + e^{−(I − I½)/w}) + floor + s e^{(I − I_ref)/k} | `detector.Detector` |
| `RabiModel` | c + A cos(2π f t + φ) [e^{−t/τ}] | textbook Rabi flopping |
| `RamseyModel` | `memory.ramsey` (+ offset) | physics.md section 4 |
| `DecouplingModel` | `memory.decoupled_decay` (+ offset) | physics.md section 4 |
| `MemoryAttemptsModel` | `memory.fidelity_after_attempts` (+ offset) | physics.md section 4 |
| `HomDipModel` | C0 [1 − V e^{−|τ − τ0|/τc}] | Legero et al. 2003 |
| `DetectorTimingModel` | exponentially modified Gaussian + background | `sampling.Timing` |
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import lmfit
import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special, stats

from labctl.analysis.fitting import SIGNAL_SIGMAS, AnalysisError, FitResult
from labctl.physics import memory

#: sinc²(x) = 1/2 at x = 1.39156, so x = 2.7831 (T − T0)/FWHM puts half maximum at ±FWHM/2
#: (the same definition as `labctl.physics.optics.FrequencyConverter`).
SINC2_FWHM_FACTOR = 2.7831

Array = NDArray[np.float64]


# --- lineshapes -------------------------------------------------------------------------------

def phase_matching(temperature: ArrayLike, amplitude: float, center: float, fwhm: float,
                   background: float = 0.0) -> Array:
    """Quasi-phase-matching peak: background + amplitude · sinc²(2.7831 (T − T0) / FWHM).

    The temperature dependence of `labctl.physics.optics.FrequencyConverter`
    (difference-frequency conversion in a PPLN waveguide, Dréau et al.,
    PR Applied 9, 064031 (2018)), vectorised.
    """
    x = SINC2_FWHM_FACTOR * (np.asarray(temperature, dtype=float) - center) / fwhm
    return background + amplitude * np.sinc(x / np.pi) ** 2


def snspd_efficiency(bias: ArrayLike, amplitude: float, half_point: float,
                     width: float) -> Array:
    """Logistic rise of an SNSPD's efficiency (or count rate) with bias to a plateau.

    amplitude / (1 + exp(−(I − I½)/w)), as `labctl.physics.detector.Detector`
    below its switching current (the saturation of Marsili et al., Nat.
    Photon. 7, 210 (2013)).
    """
    return amplitude * special.expit((np.asarray(bias, dtype=float) - half_point) / width)


def snspd_dark_counts(bias: ArrayLike, floor: float, scale: float, slope: float,
                      reference: float) -> Array:
    """Dark counts: floor + scale · exp((I − I_ref)/slope).

    `labctl.physics.detector.Detector` uses I_ref = switching current and
    scale = intrinsic dark rate; the fit takes I_ref as a fixed reference
    (by default the top of the scan) so that ``scale`` is of the order of
    the counts measured there.
    """
    return floor + scale * np.exp((np.asarray(bias, dtype=float) - reference) / slope)


def snspd_count_rate(bias: ArrayLike, amplitude: float, half_point: float, width: float,
                     dark_floor: float, dark_scale: float, dark_slope: float,
                     reference_bias: float) -> Array:
    """Counts of an illuminated SNSPD vs bias: `snspd_efficiency` + `snspd_dark_counts`."""
    return (snspd_efficiency(bias, amplitude, half_point, width)
            + snspd_dark_counts(bias, dark_floor, dark_scale, dark_slope, reference_bias))


def snspd_count_rate_no_dark(bias: ArrayLike, amplitude: float, half_point: float,
                             width: float, dark_floor: float) -> Array:
    """Counts vs bias for a scan stopping well below the dark-count rise."""
    return snspd_efficiency(bias, amplitude, half_point, width) + dark_floor


def rabi_oscillation(t: ArrayLike, offset: float, amplitude: float, frequency: float,
                     phase: float) -> Array:
    """P(t) = offset + amplitude · cos(2π f t + φ): resonant Rabi flopping (Rabi, Phys. Rev.
    51, 652 (1937)); readout errors set offset and amplitude."""
    times = np.asarray(t, dtype=float)
    return offset + amplitude * np.cos(2 * np.pi * frequency * times + phase)


def damped_rabi_oscillation(t: ArrayLike, offset: float, amplitude: float, frequency: float,
                            phase: float, decay_time: float) -> Array:
    """`rabi_oscillation` with the oscillation damped as exp(−t/τ)."""
    times = np.asarray(t, dtype=float)
    return offset + amplitude * np.cos(2 * np.pi * frequency * times + phase) \
        * np.exp(-times / decay_time)


def ramsey_fringe(t: ArrayLike, t2_star: float, amplitude: float, detuning: float,
                  phase: float, offset: float = 0.5) -> Array:
    """`labctl.physics.memory.ramsey` about ``offset`` instead of 1/2 (readout errors).

    offset + (A/2) exp[−(t/T2*)²] cos(2πΔt + φ), physics.md section 4.
    """
    return offset - 0.5 + memory.ramsey(t, t2_star, amplitude, detuning, phase)


def decoupling_decay(t: ArrayLike, coherence_time: float, exponent: float, amplitude: float,
                     offset: float = 0.5) -> Array:
    """`labctl.physics.memory.decoupled_decay` about ``offset`` instead of 1/2.

    offset + (A/2) exp[−(t/T)^n], n in [1, 4] (physics.md section 4; Abobeih
    et al., Nat. Commun. 9, 2552 (2018)).
    """
    return offset - 0.5 + memory.decoupled_decay(t, coherence_time, exponent, amplitude)


def attempts_decay(attempts: ArrayLike, initial_fidelity: float, n_1_over_e: float,
                   offset: float = 0.5) -> Array:
    """`labctl.physics.memory.fidelity_after_attempts` about ``offset`` instead of 1/2.

    offset + (F0 − 1/2) exp(−N/N_1/e) (physics.md section 4; Reiserer et al.,
    PRX 6, 021040 (2016)). Read out with fidelities F0_r, F1_r a fully
    dephased state reads bright with (F0_r + 1 − F1_r)/2, not 1/2 (0.478 in
    the default virtual lab): an asymptote held at 1/2 would bend the fitted
    decay and bias N_1/e by +9 %.
    """
    return offset - 0.5 + memory.fidelity_after_attempts(attempts, initial_fidelity,
                                                         n_1_over_e)


def hom_dip(delay: ArrayLike, baseline: float, visibility: float, center: float,
            lifetime: float) -> Array:
    """Coincidences vs delay of two single photons with exponential wavepackets.

    C(τ) = C0 [1 − V exp(−|τ − τ0| / τc)]: two photons of lifetime τc
    delayed by δ overlap as |⟨ψ_A|ψ_B⟩|² = exp(−|δ|/τc), so the
    coincidence probability of the integrated two-photon interference is
    (1 − V e^{−|δ|/τc})/2 (Legero, Wilk, Kuhn & Rempe, Appl. Phys. B 77, 797
    (2003); Legero et al., PRL 93, 070503 (2004)). ``visibility`` is the
    two-photon visibility at zero delay and ``center`` the delay of perfect
    temporal overlap. The virtual lab uses the same law
    (visibility × exp(−mismatch/lifetime)).
    """
    tau = np.asarray(delay, dtype=float)
    return baseline * (1.0 - visibility * np.exp(-np.abs(tau - center) / lifetime))


def exponential_gaussian(t: ArrayLike, area: float, onset: float, jitter: float,
                         lifetime: float, background: float = 0.0) -> Array:
    """Click-time histogram: an exponential decay from ``onset`` blurred by Gaussian jitter.

    background + area · EMG(t; μ = onset, σ = jitter, τ = lifetime), the
    exponentially modified Gaussian (Grushka, Anal. Chem. 44, 1733 (1972)),
    i.e. the emitter's exp(−(t − t0)/τ) decay convolved with the detector's
    Gaussian timing jitter, as `labctl.physics.sampling` draws click times.
    ``area`` is the photon count times the bin width; bins should be
    narrower than the jitter (a bin of width w adds w²/12 to σ²).
    """
    times = np.asarray(t, dtype=float)
    shape = stats.exponnorm.pdf(times, lifetime / jitter, loc=onset, scale=jitter)
    return background + area * shape


# --- models -----------------------------------------------------------------------------------

class FitModel(lmfit.Model):
    """An ``lmfit.Model`` that tells `labctl.analysis.fitting.fit` what to check.

    - ``location_params`` locate a feature (``feature``) that must lie inside
      the scan, at least one scan step from either edge;
    - ``signal_params`` measure the signal's size: resting on a bound or
      less than ``signal_sigmas`` standard errors from zero means "no
      significant signal";
    - ``scale_params`` (widths, times, rates) are meaningless with an
      uncertainty above their value;
    - ``may_rest_on_bound`` may end on a bound (a background at zero).
    """

    location_params: tuple[str, ...] = ()
    signal_params: tuple[str, ...] = ()
    scale_params: tuple[str, ...] = ()
    may_rest_on_bound: tuple[str, ...] = ()
    feature: str = "feature"
    signal_sigmas: float = SIGNAL_SIGMAS

    def _finish(self, params: lmfit.Parameters, **kws: Any) -> lmfit.Parameters:
        return lmfit.models.update_param_vals(params, self.prefix, **kws)


class PhaseMatchingModel(FitModel):
    """Converter efficiency (or converted counts) vs oven temperature: `phase_matching`."""

    location_params = ("center",)
    signal_params = ("amplitude",)
    scale_params = ("fwhm",)
    may_rest_on_bound = ("background",)
    feature = "resonance"

    def __init__(self, **kws: Any) -> None:
        super().__init__(phase_matching, **kws)
        self.set_param_hint("amplitude", min=0.0)
        self.set_param_hint("background", min=0.0)
        self.set_param_hint("fwhm", min=0.0)

    def guess(self, data: ArrayLike, x: ArrayLike, **kws: Any) -> lmfit.Parameters:
        scan = _Scan.of(x, data)
        background = max(float(np.percentile(scan.y, 10)), 0.0)
        smooth = scan.smoothed()
        peak = int(np.argmax(smooth))
        amplitude = max(float(smooth[peak]) - background, _tiny(scan.y))
        fwhm = scan.width_at(smooth, peak, background + amplitude / 2, above=True)
        params = self.make_params(amplitude=amplitude, center=float(scan.x[peak]),
                                  fwhm=fwhm, background=background)
        params["center"].set(min=scan.low - scan.span, max=scan.high + scan.span)
        params["fwhm"].set(min=scan.spacing / 4, max=4 * scan.span)
        return self._finish(params, **kws)


class SnspdBiasModel(FitModel):
    """SNSPD counts under constant illumination vs bias current: efficiency plateau + dark rise.

    With ``dark_counts=False`` the dark counts are a constant floor (for a
    scan that stops well below the rise). ``reference_bias`` is held fixed
    at the top of the scan unless given as an initial value.
    """

    location_params = ("half_point",)
    signal_params = ("amplitude",)
    scale_params = ("width", "dark_slope")
    may_rest_on_bound = ("dark_floor", "dark_scale")
    feature = "efficiency step"

    def __init__(self, dark_counts: bool = True, **kws: Any) -> None:
        super().__init__(snspd_count_rate if dark_counts else snspd_count_rate_no_dark, **kws)
        self.dark_counts = dark_counts
        for name in ("amplitude", "dark_floor", "width"):
            self.set_param_hint(name, min=0.0)
        if dark_counts:
            self.set_param_hint("dark_scale", min=0.0)
            self.set_param_hint("dark_slope", min=0.0)
            self.set_param_hint("reference_bias", vary=False)

    def guess(self, data: ArrayLike, x: ArrayLike, **kws: Any) -> lmfit.Parameters:
        scan = _Scan.of(x, data)
        smooth = scan.smoothed()
        edge = max(2, len(scan.y) // 10)
        floor = max(float(np.median(smooth[:edge])), 0.0)
        plateau = float(np.percentile(smooth, 70))
        amplitude = max(plateau - floor, _tiny(scan.y))
        rising = np.flatnonzero(smooth >= floor + amplitude / 2)
        half = float(scan.x[rising[0]]) if len(rising) else scan.high
        low10 = np.flatnonzero(smooth >= floor + 0.12 * amplitude)
        high90 = np.flatnonzero(smooth >= floor + 0.88 * amplitude)
        width = (float(scan.x[high90[0]] - scan.x[low10[0]]) / 4
                 if len(low10) and len(high90) else scan.span / 10)
        width = max(width, scan.spacing / 2)
        values: dict[str, float] = {"amplitude": amplitude, "half_point": half,
                                    "width": width, "dark_floor": floor}
        if self.dark_counts:
            values.update(_dark_rise_guess(scan, floor + amplitude))
        params = self.make_params(**values)
        params["half_point"].set(min=scan.low - scan.span, max=scan.high + scan.span)
        params["width"].set(min=scan.spacing / 10, max=scan.span)
        if self.dark_counts:
            params["dark_slope"].set(min=scan.spacing / 10, max=scan.span)
        return self._finish(params, **kws)


def _dark_rise_guess(scan: _Scan, plateau: float) -> dict[str, float]:
    """Scale and slope of the dark-count rise from the points above the plateau."""
    excess = scan.y - plateau
    rising = (excess > 0.1 * plateau) & (scan.x > scan.x[len(scan.x) // 2])
    slope, scale = scan.span / 20, max(0.01 * plateau, _tiny(scan.y))
    if np.count_nonzero(rising) >= 2:
        fitted = np.polyfit(scan.x[rising] - scan.high, np.log(excess[rising]), 1)
        if fitted[0] > 0:
            slope, scale = 1.0 / fitted[0], float(np.exp(fitted[1]))
    return {"dark_scale": scale, "dark_slope": max(slope, scan.spacing / 5),
            "reference_bias": scan.high}


@dataclass(frozen=True)
class OperatingPoint:
    """An SNSPD operating bias chosen from a bias-scan fit (in the unit of the scan)."""

    bias: float
    efficiency_fraction: float
    dark_count_rate: float
    knee_bias: float


def operating_bias(result: FitResult, fraction: float = 0.95,
                   max_dark_rate: float | None = None,
                   scan_range: tuple[float, float] | None = None) -> OperatingPoint:
    """The lowest bias reaching ``fraction`` of the plateau, if below the dark-count knee.

    From a converged `SnspdBiasModel` fit: I_op = I½ + w ln(f/(1 − f)). The
    knee is where the dark counts reach ``max_dark_rate`` (default: twice
    the floor, i.e. where the exponential rise equals the floor). Raises
    `AnalysisError` when the fit did not converge, when the plateau is not
    reached below the knee, or when I_op lies outside ``scan_range``.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be within (0, 1), got {fraction!r}")
    if not result.converged:
        raise AnalysisError(f"cannot choose an operating bias: {result.message}")
    v = result.values
    bias = v["half_point"] + v["width"] * math.log(fraction / (1.0 - fraction))
    if "dark_scale" in v:
        if max_dark_rate is None and v["dark_floor"] <= 0:
            raise ValueError("the fitted dark-count floor is zero: give max_dark_rate to "
                             "define the knee")
        limit = 2.0 * v["dark_floor"] if max_dark_rate is None else max_dark_rate
        if limit <= v["dark_floor"]:
            raise ValueError(f"max_dark_rate ({limit:.3g}) must exceed the dark-count floor "
                             f"({v['dark_floor']:.3g})")
        knee = (v["reference_bias"] + v["dark_slope"]
                * math.log((limit - v["dark_floor"]) / v["dark_scale"])
                if v["dark_scale"] > 0 else math.inf)
        dark = float(snspd_dark_counts(bias, v["dark_floor"], v["dark_scale"], v["dark_slope"],
                                       v["reference_bias"]))
    else:
        knee, dark = math.inf, v["dark_floor"]
    if bias >= knee:
        raise AnalysisError(f"the efficiency reaches {fraction:.0%} of its plateau only at "
                            f"{bias:.4g}, above the dark-count knee at {knee:.4g}")
    if scan_range is not None and not min(scan_range) <= bias <= max(scan_range):
        raise AnalysisError(f"the operating bias {bias:.4g} lies outside the scan "
                            f"[{min(scan_range):.4g}, {max(scan_range):.4g}]")
    return OperatingPoint(bias=bias, efficiency_fraction=fraction, dark_count_rate=dark,
                          knee_bias=knee)


class RabiModel(FitModel):
    """Rabi oscillation vs pulse duration → Rabi frequency and the derived ``pi_time`` = 1/(2f).

    ``decay=True`` adds an exp(−t/τ) damping (``decay_time``). Off resonance
    the fitted frequency is the generalised Rabi frequency sqrt(Ω² + Δ²)
    (and the contrast drops by Ω²/(Ω² + Δ²)): calibrate on resonance.
    """

    signal_params = ("amplitude",)

    def __init__(self, decay: bool = False, **kws: Any) -> None:
        super().__init__(damped_rabi_oscillation if decay else rabi_oscillation, **kws)
        self.decay = decay
        self.scale_params = ("frequency", "pi_time", "decay_time") if decay \
            else ("frequency", "pi_time")
        self.set_param_hint("amplitude", min=0.0)
        self.set_param_hint("frequency", min=0.0)
        self.set_param_hint("pi_time", expr="1/(2*frequency)")
        if decay:
            self.set_param_hint("decay_time", min=0.0)

    def guess(self, data: ArrayLike, x: ArrayLike, **kws: Any) -> lmfit.Parameters:
        scan = _Scan.of(x, data)
        frequency = _dominant_frequency(scan)
        offset, amplitude, phase = _harmonic(scan, frequency, np.ones_like(scan.x), None)
        values = {"offset": offset, "amplitude": amplitude, "frequency": frequency,
                  "phase": phase}
        if self.decay:
            values["decay_time"] = scan.span
        params = self.make_params(**values)
        params["frequency"].set(min=0.1 / scan.span, max=0.5 / scan.spacing)
        if self.decay:
            params["decay_time"].set(min=scan.spacing, max=100 * scan.span)
        return self._finish(params, **kws)


class RamseyModel(FitModel):
    """Ramsey fringes → T2* and the detuning (physics.md section 4, `memory.ramsey`).

    ``offset`` fixes the fringe centre (1/2 for readout-corrected data);
    None fits it. Use a deliberate detuning of a few fringes over the scan:
    without fringes detuning and phase are degenerate.
    """

    signal_params = ("amplitude",)
    scale_params = ("t2_star", "detuning")

    def __init__(self, offset: float | None = None, **kws: Any) -> None:
        super().__init__(ramsey_fringe, **kws)
        self.fixed_offset = offset
        self.set_param_hint("t2_star", min=0.0)
        self.set_param_hint("amplitude", min=0.0)
        self.set_param_hint("detuning", min=0.0)
        if offset is not None:
            self.set_param_hint("offset", value=offset, vary=False)

    def guess(self, data: ArrayLike, x: ArrayLike, **kws: Any) -> lmfit.Parameters:
        scan = _Scan.of(x, data)
        detuning = _dominant_frequency(scan)
        best: tuple[float, float, float, float, float] | None = None
        for t2 in scan.span * np.array([0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0]):
            envelope = np.exp(-((scan.x / t2) ** 2))
            offset, amplitude, phase = _harmonic(scan, detuning, envelope, self.fixed_offset)
            residual = float(np.sum((scan.y - offset - amplitude * envelope
                                     * np.cos(2 * np.pi * detuning * scan.x + phase)) ** 2))
            if best is None or residual < best[0]:
                best = (residual, float(t2), offset, amplitude, phase)
        assert best is not None
        _, t2, offset, amplitude, phase = best
        params = self.make_params(t2_star=t2, amplitude=2 * amplitude, detuning=detuning,
                                  phase=phase, offset=offset)
        params["t2_star"].set(min=scan.spacing / 10, max=100 * scan.span)
        params["detuning"].set(min=0.1 / scan.span, max=0.5 / scan.spacing)
        return self._finish(params, **kws)


class DecouplingModel(FitModel):
    """Hahn-echo / dynamical-decoupling decay → coherence time T and exponent n.

    Binds `memory.decoupled_decay` (n bounded to [1, 4] as there);
    ``offset`` fixes the asymptote (1/2 for readout-corrected data), None
    fits it (the scan must then reach the decayed level).
    """

    signal_params = ("amplitude",)
    scale_params = ("coherence_time", "exponent")

    def __init__(self, offset: float | None = None, **kws: Any) -> None:
        super().__init__(decoupling_decay, **kws)
        self.fixed_offset = offset
        self.set_param_hint("coherence_time", min=0.0)
        self.set_param_hint("exponent", min=1.0, max=4.0)
        if offset is not None:
            self.set_param_hint("offset", value=offset, vary=False)

    def guess(self, data: ArrayLike, x: ArrayLike, **kws: Any) -> lmfit.Parameters:
        scan = _Scan.of(x, data)
        if scan.low < 0:
            raise ValueError(f"free-evolution times must not be negative, got {scan.low:.3g}")
        smooth = scan.smoothed()
        edge = max(2, len(scan.y) // 10)
        offset = float(np.mean(smooth[-edge:])) if self.fixed_offset is None \
            else self.fixed_offset
        start = float(np.mean(smooth[:2]))
        height = start - offset
        if height == 0:
            height = _tiny(scan.y)
        decayed = np.flatnonzero((smooth - offset) / height < 1 / math.e)
        coherence_time = float(scan.x[decayed[0]]) if len(decayed) else scan.span
        params = self.make_params(coherence_time=max(coherence_time, scan.spacing),
                                  exponent=2.0, amplitude=2 * height, offset=offset)
        params["coherence_time"].set(min=scan.spacing / 10, max=100 * scan.span)
        return self._finish(params, **kws)


class MemoryAttemptsModel(FitModel):
    """Stored-state fidelity vs entangling attempts → N_1/e (`attempts_decay`).

    F(N) = offset + (F0 − 1/2) exp(−N/N_1/e) (physics.md section 4; Reiserer
    et al., PRX 6, 021040 (2016)). ``offset`` fixes the asymptote (1/2 for
    readout-corrected data); None (the default) fits it, as raw readout data
    need: the scan must then reach the decayed level (a few N_1/e).
    """

    scale_params = ("n_1_over_e",)
    may_rest_on_bound = ("initial_fidelity",)

    def __init__(self, offset: float | None = None, **kws: Any) -> None:
        super().__init__(attempts_decay, **kws)
        self.fixed_offset = offset
        self.set_param_hint("initial_fidelity", min=0.0, max=1.0)
        self.set_param_hint("n_1_over_e", min=0.0)
        if offset is None:
            self.set_param_hint("offset", min=0.0, max=1.0)
        else:
            self.set_param_hint("offset", value=offset, vary=False)

    def guess(self, data: ArrayLike, x: ArrayLike, **kws: Any) -> lmfit.Parameters:
        scan = _Scan.of(x, data)
        smooth = scan.smoothed()
        edge = max(2, len(scan.y) // 10)
        offset = float(np.clip(np.mean(smooth[-edge:]), 0.0, 1.0)) \
            if self.fixed_offset is None else self.fixed_offset
        excess = scan.y - offset
        initial = float(np.clip(0.5 + np.mean(excess[:2]), 0.0, 1.0))
        n_1_over_e = scan.span
        height = initial - 0.5 if initial != 0.5 else _tiny(scan.y)
        relative = excess / height   # e^{-N/N_1/e}, whether the data fall or rise
        usable = relative > 0.02
        if np.count_nonzero(usable) >= 2:
            slope = np.polyfit(scan.x[usable], np.log(relative[usable]), 1)[0]
            if slope < 0:
                n_1_over_e = -1.0 / float(slope)
        params = self.make_params(initial_fidelity=initial, offset=offset,
                                  n_1_over_e=min(n_1_over_e, 100 * scan.span))
        params["n_1_over_e"].set(min=scan.spacing / 10, max=1000 * scan.span)
        return self._finish(params, **kws)


class HomDipModel(FitModel):
    """Two-photon (Hong–Ou–Mandel) interference dip vs delay → visibility and zero delay.

    `hom_dip`: single photons with exponential wavepackets (Legero et al.,
    Appl. Phys. B 77, 797 (2003)). ``lifetime`` fixes τc when it is known
    from a lifetime measurement; None fits it.
    """

    location_params = ("center",)
    signal_params = ("visibility",)
    scale_params = ("lifetime",)
    feature = "dip"

    def __init__(self, lifetime: float | None = None, **kws: Any) -> None:
        if lifetime is not None and not (math.isfinite(lifetime) and lifetime > 0):
            raise ValueError(f"lifetime must be a positive number, got {lifetime!r}")
        super().__init__(hom_dip, **kws)
        self.fixed_lifetime = lifetime
        self.set_param_hint("baseline", min=0.0)
        self.set_param_hint("visibility", min=0.0, max=1.0)
        self.set_param_hint("lifetime", min=0.0)
        if lifetime is not None:
            self.set_param_hint("lifetime", value=lifetime, vary=False)

    def guess(self, data: ArrayLike, x: ArrayLike, **kws: Any) -> lmfit.Parameters:
        scan = _Scan.of(x, data)
        smooth = scan.smoothed()
        baseline = max(float(np.median(scan.y[scan.y >= np.median(scan.y)])), _tiny(scan.y))
        dip = int(np.argmin(smooth))
        visibility = float(np.clip(1.0 - smooth[dip] / baseline, 0.05, 0.99))
        level = baseline * (1.0 - visibility / math.e)
        lifetime = scan.width_at(smooth, dip, level, above=False) / 2
        params = self.make_params(baseline=baseline, visibility=visibility,
                                  center=float(scan.x[dip]),
                                  lifetime=lifetime if self.fixed_lifetime is None
                                  else self.fixed_lifetime)
        params["center"].set(min=scan.low - scan.span, max=scan.high + scan.span)
        if self.fixed_lifetime is None:
            params["lifetime"].set(min=scan.spacing / 10, max=scan.span)
        return self._finish(params, **kws)


class DetectorTimingModel(FitModel):
    """Click-time histogram → detection onset and jitter (`exponential_gaussian`).

    Used to place the detection window: see `window_opening`.
    """

    location_params = ("onset",)
    signal_params = ("area",)
    scale_params = ("jitter", "lifetime")
    may_rest_on_bound = ("background",)
    feature = "photon arrival (onset)"

    def __init__(self, **kws: Any) -> None:
        super().__init__(exponential_gaussian, **kws)
        for name in ("area", "jitter", "lifetime", "background"):
            self.set_param_hint(name, min=0.0)

    def guess(self, data: ArrayLike, x: ArrayLike, **kws: Any) -> lmfit.Parameters:
        scan = _Scan.of(x, data)
        smooth = scan.smoothed()
        peak = int(np.argmax(smooth))
        edge = max(2, len(scan.y) // 20)
        background = max(float(np.median(scan.y[:edge])), 0.0) if peak > edge \
            else max(float(np.percentile(scan.y, 5)), 0.0)
        height = max(float(smooth[peak]) - background, _tiny(scan.y))
        before = scan.x[:peak + 1]
        rising = smooth[:peak + 1] - background

        def crossing(level: float) -> float:
            above = np.flatnonzero(rising >= level * height)
            return float(before[above[0]]) if len(above) else float(scan.x[peak])

        onset = crossing(0.5)
        jitter = max((crossing(0.9) - crossing(0.1)) / 2.56, scan.spacing / 2)
        after = np.flatnonzero(smooth[peak:] - background < height / math.e)
        lifetime = float(scan.x[peak + after[0]] - scan.x[peak]) if len(after) \
            else scan.span / 2
        lifetime = max(lifetime, scan.spacing)
        area = max(float(np.sum(scan.y - background)) * scan.spacing, _tiny(scan.y))
        params = self.make_params(area=area, onset=onset, jitter=jitter, lifetime=lifetime,
                                  background=background)
        params["onset"].set(min=scan.low - scan.span, max=scan.high + scan.span)
        params["jitter"].set(min=scan.spacing / 20, max=scan.span)
        params["lifetime"].set(min=scan.spacing / 10, max=10 * scan.span)
        return self._finish(params, **kws)


def window_opening(result: FitResult, margin: float = 3.0) -> float:
    """When the detection window should open: onset − margin × jitter (from a timing fit)."""
    if margin < 0 or not math.isfinite(margin):
        raise ValueError(f"margin must be a finite number >= 0, got {margin!r}")
    if not result.converged:
        raise AnalysisError(f"cannot place the detection window: {result.message}")
    return result.values["onset"] - margin * result.values["jitter"]


# --- guessing helpers -------------------------------------------------------------------------

@dataclass(frozen=True)
class _Scan:
    """A scan sorted by x, with its range and typical step."""

    x: Array
    y: Array
    low: float
    high: float
    span: float
    spacing: float

    @classmethod
    def of(cls, x: ArrayLike, y: ArrayLike) -> _Scan:
        xs = np.asarray(x, dtype=float)
        ys = np.asarray(y, dtype=float)
        if xs.shape != ys.shape or xs.ndim != 1 or len(xs) < 2:
            raise ValueError("need at least two points with matching x and y")
        order = np.argsort(xs, kind="stable")
        xs, ys = xs[order], ys[order]
        low, high = float(xs[0]), float(xs[-1])
        span = high - low
        if span <= 0:
            raise ValueError("the scan has no range")
        steps = np.diff(np.unique(xs))
        return cls(xs, ys, low, high, span, float(np.median(steps)))

    def smoothed(self) -> Array:
        """A 3-point running mean (edges kept), to find extrema in noisy data."""
        if len(self.y) < 3:
            return self.y.copy()
        out = np.convolve(self.y, np.ones(3) / 3, mode="same")
        out[0], out[-1] = self.y[0], self.y[-1]
        return out

    def width_at(self, curve: Array, index: int, level: float, above: bool) -> float:
        """Full width of the region around ``index`` where ``curve`` stays above (or below)
        ``level``, at least two scan steps."""
        inside = curve >= level if above else curve <= level
        left = index
        while left > 0 and inside[left - 1]:
            left -= 1
        right = index
        while right < len(curve) - 1 and inside[right + 1]:
            right += 1
        return max(float(self.x[right] - self.x[left]) + self.spacing, 2 * self.spacing)


def _tiny(y: Array) -> float:
    """A positive stand-in for a zero-size guess, small against the data."""
    return 1e-6 * max(float(np.max(np.abs(y))), 1e-300)


def _dominant_frequency(scan: _Scan) -> float:
    """The strongest non-zero frequency of the scan (zero-padded FFT of a uniform resampling)."""
    n = len(scan.x)
    grid = np.linspace(scan.low, scan.high, n)
    values = np.interp(grid, scan.x, scan.y)
    values = values - values.mean()
    padded = 8 * n
    spectrum = np.abs(np.fft.rfft(values, padded))
    frequencies = np.fft.rfftfreq(padded, d=grid[1] - grid[0])
    usable = frequencies >= 0.5 / scan.span
    if not np.any(usable):
        return 1.0 / scan.span
    index = int(np.argmax(np.where(usable, spectrum, -np.inf)))
    return float(frequencies[index])


def _harmonic(scan: _Scan, frequency: float, envelope: Array,
              fixed_offset: float | None) -> tuple[float, float, float]:
    """Linear least squares of y ≈ c + R·envelope·cos(2πft + φ): (c, R, φ)."""
    phase_arg = 2 * np.pi * frequency * scan.x
    columns = [envelope * np.cos(phase_arg), envelope * np.sin(phase_arg)]
    target = scan.y
    if fixed_offset is None:
        columns.append(np.ones_like(scan.x))
    else:
        target = scan.y - fixed_offset
    design = np.stack(columns, axis=1)
    coefficients = np.linalg.lstsq(design, target, rcond=None)[0]
    a, b = float(coefficients[0]), float(coefficients[1])
    offset = float(coefficients[2]) if fixed_offset is None else fixed_offset
    return offset, math.hypot(a, b), math.atan2(-b, a)
