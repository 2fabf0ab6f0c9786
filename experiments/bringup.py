"""Bringing a two-node link up for entanglement attempts (single-click or Barrett–Kok).

Everything goes through the station's capabilities by role
(`labctl.instruments`) and through `labctl.pulses`; the cabling — which
tagger input sees the sync or a detector, which AWG marker gates what — is
the station file's ``wiring:``, here only by name. Nothing here knows whether
the station is simulated, or whose instruments it has. The numbers a lab
finds by calibration (excitation π power, Rabi frequency, optical delay,
phase-matching temperature, SNSPD bias) default to the virtual lab's, so a
dry run works out of the box. The tagger helpers set up its conditional
filter and gates so only attempts with a click reach the tag stream
(`keep_only_heralded_syncs`, `gate_detectors`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from labctl.instruments.tagger import Tags
from labctl.pulses.program import Marker, Program, Rotation, Segment, rotation_samples
from labctl.station import LabStation
from labctl.timetags.heralds import (
    BarrettKokHeralds,
    Heralds,
    extract_barrett_kok_heralds,
    extract_heralds,
)

_log = logging.getLogger(__name__)

NODES = ("node_a", "node_b")
#: The node of the heralding station (detectors, tagger, phase reference).
HERALDING = "heralding"
#: Tagger inputs by the names of the station's wiring.
SYNC = "sync"
DETECTORS = ("herald_plus", "herald_minus")
#: Rabi frequency at full-scale I/Q, 10 dBm and 4.5 Vpp (calibrated by a Rabi scan).
RABI_FULL_SCALE_HZ = 10e6
#: Excitation pulse to photon arrival at the detectors (calibrated from histograms).
OPTICAL_DELAY = 20e-9
EXCITATION_AT = 1e-6
WINDOW = 25e-9
#: Barrett–Kok: second excitation this long after the first, π pulse halfway between.
ROUND_GAP = 2.5e-6
PI_PULSE_AT = EXCITATION_AT + ROUND_GAP / 2
#: A realised α further than this from the asked one is logged as a warning.
ALPHA_TOLERANCE = 1e-3
#: Where the readout element after a herald starts its basis rotation, s into it (the
#: readouts of `experiments.entanglement` and `experiments.bell_test`); the echo refocuses
#: the spins' free precession up to this moment.
READOUT_ROTATION_AT = 20e-9


@dataclass(frozen=True)
class AttemptDesign:
    """One entanglement attempt as the AWGs play it.

    ``protocol`` "single-click" prepares P(bright) = α and excites once;
    "barrett-kok" prepares the equal superposition (α is ignored), excites,
    flips the spin with a π pulse and excites again ``ROUND_GAP`` later, with
    a detection window after each excitation (Barrett & Kok, PRA 71,
    060310(R) (2005)).

    With ``echo`` a π pulse after the last excitation refocuses the spins'
    quasi-static dephasing (T2* ≈ 5 µs for NV: Abobeih et al., Nat. Commun. 9,
    2552 (2018)) between their preparation and the readout's basis rotation
    (Hahn echo, Hahn, Phys. Rev. 80, 580 (1950)): placed so that the free
    precession before and after it (and before and after the Barrett–Kok π
    pulse) cancel for a readout rotation `READOUT_ROTATION_AT` into the element
    played after the herald. Without it the spins dephase for ≈ 5.4 µs
    (single click), cutting XX and YY by exp(−2(τ/T2*)²) ≈ 0.1. The echo flips
    both spins, which leaves the Bell-state correlators XX, YY, ZZ unchanged.
    """

    alpha: float = 0.1
    period: float = 5.5e-6
    excitation: bool = True
    window_offset: float = OPTICAL_DELAY     # window opens this long after the excitation
    window: float = WINDOW
    oven_c: float = 65.0
    protocol: str = "single-click"
    echo: bool = True

    def __post_init__(self) -> None:
        if self.protocol not in ("single-click", "barrett-kok"):
            raise ValueError(f"protocol must be 'single-click' or 'barrett-kok', "
                             f"got {self.protocol!r}")
        if self.protocol == "barrett-kok" and self.period < EXCITATION_AT + ROUND_GAP + 1e-6:
            raise ValueError(f"a Barrett-Kok attempt needs a period of at least "
                             f"{EXCITATION_AT + ROUND_GAP + 1e-6:g} s, got {self.period:g}")

    @property
    def rounds(self) -> int:
        return 2 if self.protocol == "barrett-kok" else 1

    @property
    def round_offsets(self) -> tuple[float, ...]:
        """Each round's window opening after the first one's, s."""
        return (0.0, ROUND_GAP) if self.protocol == "barrett-kok" else (0.0,)


def asked_alpha(design: AttemptDesign) -> float:
    """The bright population the design prepares: α, or 1/2 for Barrett–Kok."""
    return 0.5 if design.protocol == "barrett-kok" else design.alpha


def preparation(design: AttemptDesign) -> Rotation:
    """The rotation from bright that prepares P(bright) = cos²(θ/2) = α."""
    theta = 2 * math.acos(math.sqrt(asked_alpha(design)))
    return Rotation.for_angle(100e-9, theta, RABI_FULL_SCALE_HZ)


def realised_alpha(design: AttemptDesign, sample_rate: float) -> float:
    """α the rendered preparation pulse gives: its samples × amplitude / sample rate →
    θ = 2π f_Rabi · area → cos²(θ/2) (P(bright) after rotating from bright).

    Logs a warning when it differs from the asked α by more than `ALPHA_TOLERANCE`.
    """
    rotation = preparation(design)
    window, amplitude = rotation_samples(rotation, sample_rate)
    area = abs(amplitude) * (window.stop - window.start) / sample_rate
    alpha = math.cos(math.pi * RABI_FULL_SCALE_HZ * area) ** 2
    if abs(alpha - asked_alpha(design)) > ALPHA_TOLERANCE:
        _log.warning("the AWG at %.4g S/s realises α = %.4g, not the asked %.4g",
                     sample_rate, alpha, asked_alpha(design))
    return alpha


def station_alpha(station: LabStation, design: AttemptDesign) -> float:
    """The realised α of ``design`` on node A's AWG (both nodes play the same program);
    warns if node B's AWG realises a different one."""
    values = [realised_alpha(design, station.sequencer(node).sample_rate_hz())
              for node in NODES]
    if abs(values[0] - values[1]) > ALPHA_TOLERANCE:
        _log.warning("the nodes realise different α: %.4g and %.4g", *values)
    return values[0]


def echo_pulse(design: AttemptDesign) -> Rotation:
    """The refocusing π pulse (see `AttemptDesign`): centred where the signed free
    precession from the preparation to the readout rotation sums to zero."""
    prepared = preparation(design)
    prepared_at = prepared.start + prepared.duration
    readout_at = design.period + READOUT_ROTATION_AT
    pi = Rotation.for_angle(0.0, math.pi, RABI_FULL_SCALE_HZ)
    if design.protocol == "barrett-kok":
        middle = PI_PULSE_AT + pi.duration / 2
        centre = (2 * middle - prepared_at + readout_at) / 2
    else:
        centre = (prepared_at + readout_at) / 2
    return Rotation.for_angle(centre - pi.duration / 2, math.pi, RABI_FULL_SCALE_HZ)


def attempt_program(design: AttemptDesign) -> Program:
    rotations = [preparation(design)]
    if design.protocol == "barrett-kok":
        rotations.append(Rotation.for_angle(PI_PULSE_AT, math.pi, RABI_FULL_SCALE_HZ))
    if design.echo:
        rotations.append(echo_pulse(design))
    markers = []
    for offset in design.round_offsets:
        markers.append(Marker("detection_window", EXCITATION_AT + offset + design.window_offset,
                              design.window))
        if design.excitation:
            markers.append(Marker("excitation", EXCITATION_AT + offset, 2e-9))
    segment = Segment("attempt", design.period, markers=tuple(markers),
                      rotations=tuple(rotations))
    return Program(segments=(segment,), sequence=(("attempt", None, None, None),))


def bring_up(station: LabStation, design: AttemptDesign = AttemptDesign(),
             reference_on: bool = True) -> None:
    """Lasers, microwaves, converters, detectors, tagger and both AWGs, then run."""
    for node in NODES:
        laser = station.laser("excitation_laser", node)
        laser.set_wavelength_nm(637.22)
        laser.set_power_w(1e-3)
        laser.set_emission(True)
        mw = station.microwave(node)
        mw.set_frequency_hz(2.878e9)
        mw.set_power_dbm(10)
        mw.set_iq_modulation(True)
        mw.set_output(True)
        converter = station.converter(node)
        converter.set_oven_setpoint_c(design.oven_c)
        converter.set_oven_heater(True)
        converter.set_pump_power_w(2.0)
        converter.set_pump_emission(True)
    station.clock.sleep(400.0)   # ovens settle (20 s time constant)
    station.detectors(HERALDING).bias_all(15e-6)
    reference = station.laser("phase_reference_laser", HERALDING)
    reference.set_wavelength_nm(1588.0)
    reference.set_power_w(1e-3)
    reference.set_emission(reference_on)
    record_raw_streams(station)
    program = attempt_program(design)
    for node in NODES:
        station.sequencer(node).play(program)


def record_raw_streams(station: LabStation) -> None:
    """Every tagger input on, each tag stream carrying its own input, no delays, no filters."""
    station.tagger(HERALDING).record_raw_inputs()


def acquire(station: LabStation, seconds: float) -> Tags:
    """Record ``seconds`` of tags at the heralding station."""
    return station.tagger(HERALDING).record(seconds)


def heralds(station: LabStation, channels: np.ndarray, timestamps: np.ndarray,
            window: float = WINDOW) -> Heralds:
    """Single-click heralds in a recording, allowing for the tagger's input delays."""
    tagger = station.tagger(HERALDING)
    return extract_heralds(channels, timestamps, sync_channel=tagger.channel(SYNC),
                           detector_channels=_detector_channels(station),
                           window_ps=round(window * 1e12),
                           offset_ps=tagger.offset_ps(DETECTORS[0], SYNC))


def barrett_kok_heralds(station: LabStation, channels: np.ndarray, timestamps: np.ndarray,
                        design: AttemptDesign) -> BarrettKokHeralds:
    """Barrett–Kok heralds (one click in each round's window), allowing for input delays."""
    tagger = station.tagger(HERALDING)
    offset = tagger.offset_ps(DETECTORS[0], SYNC)
    offsets = tuple(offset + round(o * 1e12) for o in design.round_offsets)
    return extract_barrett_kok_heralds(channels, timestamps, sync_channel=tagger.channel(SYNC),
                                       detector_channels=_detector_channels(station),
                                       window_ps=round(design.window * 1e12),
                                       offsets_ps=(offsets[0], offsets[1]))


def _detector_channels(station: LabStation) -> tuple[int, int]:
    tagger = station.tagger(HERALDING)
    return tagger.channel(DETECTORS[0]), tagger.channel(DETECTORS[1])


def keep_only_heralded_syncs(station: LabStation, span: float = 100e-9) -> None:
    """The tagger's conditional filter: record a sync only if a click followed it.

    The sync is delayed by ``span`` (past the last detection window) and
    recorded only if a heralding detector clicked in that time.
    """
    station.tagger(HERALDING).filter_syncs(SYNC, DETECTORS, round(span * 1e12))


def gate_detectors(station: LabStation, window: float = WINDOW) -> None:
    """Record the heralding detectors only inside detection windows opened by the sync."""
    station.tagger(HERALDING).gate_inputs(DETECTORS, SYNC, round(window * 1e12))
