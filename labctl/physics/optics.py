"""Passive and nonlinear optics of a link: fibre, frequency converter, interference, phase noise."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from labctl.physics import checks

#: Speed of light in standard fibre (group index ≈ 1.45), km/s (physics.md section 2).
FIBRE_LIGHT_SPEED_KM_S = 2.07e5


#: Attenuation of standard single-mode fibre in the telecom window, dB/km (the
#: review's figure, Wehner, Elkouss & Hanson, Science 362, eaam9288 (2018); physics.md
#: section 5).
TELECOM_LOSS_DB_PER_KM = 0.2
#: Shortest wavelength of the telecom window (O band onwards), m.
TELECOM_WINDOW_START = 1260e-9
#: Attenuation at the NV zero-phonon line (637 nm), dB/km: physics.md section 2 gives
#: 5-8 dB/km; labctl assumes 6 dB/km, inside that range (a typical 630 nm single-mode
#: fibre's data-sheet figure; not a measured value of any one link).
VISIBLE_637_LOSS_DB_PER_KM = 6.0
#: Wavelength the NV photons are converted to for the fibre, m (Dréau et al., PR
#: Applied 9, 064031 (2018): 637 nm -> 1588 nm).
CONVERTED_WAVELENGTH = 1588e-9


def fibre_loss_db_per_km(wavelength: float) -> float:
    """Typical attenuation of standard single-mode fibre at ``wavelength`` (m), dB/km.

    Telecom window (from 1260 nm): `TELECOM_LOSS_DB_PER_KM`; below it
    `VISIBLE_637_LOSS_DB_PER_KM` at 637 nm, falling roughly as lambda^-4
    (Rayleigh scattering) towards the infrared, never below the telecom figure.
    Use the wavelength that actually travels the fibre: after a frequency
    converter the converted one, without it the emitter's.
    """
    checks.positive("wavelength", wavelength)
    if wavelength >= TELECOM_WINDOW_START:
        return TELECOM_LOSS_DB_PER_KM
    return max(TELECOM_LOSS_DB_PER_KM,
               VISIBLE_637_LOSS_DB_PER_KM * (637e-9 / wavelength) ** 4)


@dataclass(frozen=True)
class Fibre:
    """A fibre of ``length_km`` with ``loss_db_per_km`` attenuation."""

    length_km: float = 0.0
    loss_db_per_km: float = TELECOM_LOSS_DB_PER_KM

    def __post_init__(self) -> None:
        checks.non_negative("length_km", self.length_km)
        checks.non_negative("loss_db_per_km", self.loss_db_per_km)

    @property
    def transmission(self) -> float:
        """10^(-a L / 10)."""
        return 10.0 ** (-self.loss_db_per_km * self.length_km / 10.0)

    @property
    def delay(self) -> float:
        """One-way propagation time, s."""
        return self.length_km / FIBRE_LIGHT_SPEED_KM_S


@dataclass(frozen=True)
class FrequencyConverter:
    """Difference-frequency conversion in a temperature-tuned PPLN waveguide.

    efficiency(T, P) = max_efficiency · sin²(π/2 · sqrt(P / full_pump_power))
                       · sinc²(2.7831 · (T - T0) / phase_matching_fwhm)

    The pump-power law is the undepleted-signal DFG result used by Dréau et
    al., PR Applied 9, 064031 (2018); the temperature dependence is the
    quasi-phase-matching sinc² with the given full width at half maximum
    (sinc²(x) = 1/2 at x = 1.3916). Pump-induced noise photons (anti-Stokes
    Raman) reaching the detector scale linearly with pump power.

    Defaults and their sources: ``max_efficiency`` 17 % end-to-end at full
    pump (Dréau 2018; physics.md section 5); ``phase_matching_temperature_c``,
    ``phase_matching_fwhm_c`` (1 °C) and ``full_pump_power`` (2 W, the pump
    limit of the station file's lab profile) are labctl's assumptions for a
    typical waveguide, not figures of one device; ``noise_rate_per_watt``
    (150 Hz/W, i.e. ≈ 280 Hz per heralding detector from two converters at
    2 W) is labctl's assumption of the same order as the noise behind Dréau
    2018's SNR ≈ 7 (the paper quotes the SNR, not a rate per watt).
    """

    max_efficiency: float = 0.17
    phase_matching_temperature_c: float = 85.0
    phase_matching_fwhm_c: float = 1.0
    full_pump_power: float = 2.0
    noise_rate_per_watt: float = 150.0

    def __post_init__(self) -> None:
        checks.probability("max_efficiency", self.max_efficiency)
        checks.finite("phase_matching_temperature_c", self.phase_matching_temperature_c)
        checks.positive("phase_matching_fwhm_c", self.phase_matching_fwhm_c)
        checks.positive("full_pump_power", self.full_pump_power)
        checks.non_negative("noise_rate_per_watt", self.noise_rate_per_watt)

    def efficiency(self, temperature_c: float, pump_power: float) -> float:
        """Conversion efficiency at oven temperature (°C) and pump power (W)."""
        checks.finite("temperature_c", temperature_c)
        checks.non_negative("pump_power", pump_power)
        pump = min(pump_power, self.full_pump_power) / self.full_pump_power
        power_factor = math.sin(0.5 * math.pi * math.sqrt(pump)) ** 2
        x = 2.7831 * (temperature_c - self.phase_matching_temperature_c) \
            / self.phase_matching_fwhm_c
        phase_matching = float(np.sinc(x / math.pi)) ** 2
        return self.max_efficiency * power_factor * phase_matching

    def noise_rate(self, pump_power: float) -> float:
        """Noise photons per second at the converter output, Hz."""
        return self.noise_rate_per_watt * checks.non_negative("pump_power", pump_power)


@dataclass(frozen=True)
class Interference:
    """The heralding station's beam splitter: two-photon (HOM) visibility and phase noise.

    ``visibility`` is the HOM visibility V = |<psi_A|psi_B>|²; ``phase_noise``
    the rms residual optical phase sigma_phi (rad) of the single-click
    interferometer (≈ 15° in Humphreys et al. 2018).
    """

    visibility: float = 0.9
    phase_noise: float = math.radians(15.0)

    def __post_init__(self) -> None:
        checks.probability("visibility", self.visibility)
        checks.non_negative("phase_noise", self.phase_noise)

    @property
    def phase_coherence(self) -> float:
        """<exp(i phi)> = exp(-sigma_phi² / 2) for Gaussian phase noise."""
        return math.exp(-0.5 * self.phase_noise**2)
