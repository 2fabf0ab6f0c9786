"""Named link parameter sets ("worlds") and the builder from components.

Every number and its source:

- ``nv-short``: the 2 m NV link of Humphreys et al., Nature 558, 268 (2018)
  and its SI, unconverted (637 nm in the fibre): η = 3.5e-4 per node (the
  paper's 2.8-4.2e-4, physics.md section 5), V = 0.9, σ_φ = 15°, p_double =
  0.04, 20 Hz dark counts, 25 ns window, 5.5 µs reset per attempt, α = 0.05
  (the `LinkParameters` defaults); the fibre attenuates at the 637 nm figure
  (`labctl.physics.optics.fibre_loss_db_per_km`, physics.md section 2).
- ``nv-telecom-25km``: the same emitters with 637 → 1588 nm conversion
  (17 %, Dréau et al., PR Applied 9, 064031 (2018)) over 25 km of telecom
  fibre (0.2 dB/km at 1588 nm, the review's figure), a cavity-enhanced ZPL
  fraction of 46 % (Humphreys 2018 SI), collection 10 % and 20 Hz of
  conversion noise per detector (labctl's assumptions), waiting for the herald.
- ``noisy``: labctl's own stress case (no paper): a short unconverted link
  with poor visibility (0.7), large phase noise (0.5 rad), strong dark counts
  (1 kHz), α = 0.1, η = 1e-3 and p_double = 0.1.

`WAVELENGTHS` says which wavelength travels each world's fibre (`wavelength`).
"""

from __future__ import annotations

import dataclasses

from labctl.physics.detector import Detector
from labctl.physics.emitter import NV_ZPL_WAVELENGTH, Emitter
from labctl.physics.link import LinkParameters, Protocol
from labctl.physics.optics import (
    CONVERTED_WAVELENGTH,
    FIBRE_LIGHT_SPEED_KM_S,
    Fibre,
    Interference,
    fibre_loss_db_per_km,
)


def from_components(emitter_a: Emitter, emitter_b: Emitter, detector: Detector,
                    interference: Interference, fibre: Fibre,
                    conversion_a: float = 1.0, conversion_b: float = 1.0,
                    extra_noise_rate: float = 0.0, window: float = 25e-9,
                    protocol: Protocol = "single-click",
                    attempt_time: float | None = None) -> LinkParameters:
    """Link parameters from the physical components (physics.md section 2).

    η = ZPL fraction × collection × conversion × detector efficiency per node
    (the fibre enters through ``fibre``); noise photons reaching a detector
    (e.g. from the converters' pump, ``extra_noise_rate`` in Hz at the
    detector) add to its dark counts.
    """
    return LinkParameters(
        protocol=protocol,
        alpha=emitter_a.alpha,
        eta_a=emitter_a.photon_efficiency * conversion_a * detector.efficiency,
        eta_b=emitter_b.photon_efficiency * conversion_b * detector.efficiency,
        visibility=interference.visibility,
        phase_noise=interference.phase_noise,
        dark_count_rate=detector.dark_count_rate + extra_noise_rate,
        window=window,
        double_excitation=max(emitter_a.double_excitation, emitter_b.double_excitation),
        attempt_time=attempt_time,
        fibre_km=fibre.length_km,
        fibre_loss_db_per_km=fibre.loss_db_per_km,
        reset_time=max(emitter_a.reset_time, emitter_b.reset_time),
    )


def nv_short() -> LinkParameters:
    return dataclasses.replace(
        LinkParameters(), fibre_loss_db_per_km=fibre_loss_db_per_km(WAVELENGTHS["nv-short"]))


def nv_telecom_25km() -> LinkParameters:
    emitter = Emitter(zpl_fraction=0.46, collection_efficiency=0.1)
    fibre = Fibre(25.0, fibre_loss_db_per_km(WAVELENGTHS["nv-telecom-25km"]))
    link = from_components(emitter, emitter, Detector(),
                           Interference(visibility=0.9), fibre,
                           conversion_a=0.17, conversion_b=0.17, extra_noise_rate=20.0)
    assert link.herald_wait > 25.0 / FIBRE_LIGHT_SPEED_KM_S * 0.99
    return link


def noisy() -> LinkParameters:
    return LinkParameters(alpha=0.1, eta_a=1e-3, eta_b=1e-3, visibility=0.7,
                          phase_noise=0.5, dark_count_rate=1e3, double_excitation=0.1,
                          fibre_loss_db_per_km=fibre_loss_db_per_km(WAVELENGTHS["noisy"]))


#: The wavelength travelling each world's fibre, m: the NV line without conversion,
#: the converted telecom wavelength with it.
WAVELENGTHS = {"nv-short": NV_ZPL_WAVELENGTH, "nv-telecom-25km": CONVERTED_WAVELENGTH,
               "noisy": NV_ZPL_WAVELENGTH}
PRESETS = {"nv-short": nv_short, "nv-telecom-25km": nv_telecom_25km, "noisy": noisy}


def preset(name: str) -> LinkParameters:
    """The named parameter set; `ValueError` naming the known ones otherwise."""
    if name not in PRESETS:
        raise ValueError(f"unknown world {name!r} (known: {', '.join(PRESETS)})")
    return PRESETS[name]()


def wavelength(name: str) -> float:
    """The wavelength (m) travelling the fibre of the named world."""
    preset(name)   # refuses unknown names the same way
    return WAVELENGTHS[name]
