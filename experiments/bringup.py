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

import math
from dataclasses import dataclass

import numpy as np

from labctl.instruments.tagger import Tags
from labctl.pulses.program import Marker, Program, Rotation, Segment
from labctl.station import LabStation
from labctl.timetags.heralds import (
    BarrettKokHeralds,
    Heralds,
    extract_barrett_kok_heralds,
    extract_heralds,
)

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


@dataclass(frozen=True)
class AttemptDesign:
    """One entanglement attempt as the AWGs play it.

    ``protocol`` "single-click" prepares P(bright) = α and excites once;
    "barrett-kok" prepares the equal superposition (α is ignored), excites,
    flips the spin with a π pulse and excites again ``ROUND_GAP`` later, with
    a detection window after each excitation (Barrett & Kok, PRA 71,
    060310(R) (2005)).
    """

    alpha: float = 0.1
    period: float = 5.5e-6
    excitation: bool = True
    window_offset: float = OPTICAL_DELAY     # window opens this long after the excitation
    window: float = WINDOW
    oven_c: float = 65.0
    protocol: str = "single-click"

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


def attempt_program(design: AttemptDesign) -> Program:
    alpha = 0.5 if design.protocol == "barrett-kok" else design.alpha
    theta = 2 * math.acos(math.sqrt(alpha))   # from bright: P(bright) = cos²(θ/2)
    rotations = [Rotation.for_angle(100e-9, theta, RABI_FULL_SCALE_HZ)]
    if design.protocol == "barrett-kok":
        rotations.append(Rotation.for_angle(PI_PULSE_AT, math.pi, RABI_FULL_SCALE_HZ))
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
