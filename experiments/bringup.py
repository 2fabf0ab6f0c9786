"""Bringing a two-node link up for entanglement attempts (single-click or Barrett–Kok).

Everything goes through the station by role and through `labctl.pulses`;
nothing here knows whether the station is simulated. `LinkSettings` holds
the numbers a lab finds by calibration (excitation π power, Rabi frequency,
optical delay, phase-matching temperature, SNSPD bias); their defaults are
the virtual lab's, so a dry run works out of the box. The tagger helpers
set up the time controller's window filters so only attempts with a click
reach the tag stream (`keep_only_heralded_syncs`, `gate_detectors`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from labctl.pulses.program import Marker, Program, Rotation, Segment, load_program
from labctl.pulses.wiring import parse_wiring
from labctl.station import LabStation
from labctl.timetags.heralds import (
    BarrettKokHeralds,
    Heralds,
    extract_barrett_kok_heralds,
    extract_heralds,
)

NODES = ("node_a", "node_b")
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
        laser = station.instrument("excitation_laser", node)
        laser.wavelength_nm(637.22)
        laser.power(1e-3)
        laser.output(True)
        mw = station.instrument("mw_source", node)
        mw.frequency(2.878e9)
        mw.power(10)
        mw.IQ_state(True)
        mw.status(True)
        converter = station.instrument("frequency_converter", node)
        converter.oven_setpoint_c(design.oven_c)
        converter.oven_heater(True)
        converter.pump_power(2.0)
        converter.pump_emission(True)
    station.clock.sleep(400.0)   # ovens settle (20 s time constant)
    snspd = station.instrument("snspd", "heralding")
    for channel in (snspd.ch1, snspd.ch2):
        channel.bias_current(15e-6)
        channel.output(True)
    reference = station.instrument("phase_reference_laser", "heralding")
    reference.wavelength_nm(1588.0)
    reference.power(1e-3)
    reference.output(reference_on)
    record_raw_streams(station)
    program = attempt_program(design)
    for node in NODES:
        awg = station.instrument("awg", node)
        for channel in range(1, 5):
            awg.channel(channel).amplitude(4.5)
        load_program(awg, program, awg.sample_rate(), parse_wiring(station.wiring("awg", node)))
        awg.run_mode("sequence")
        awg.run()


def record_raw_streams(station: LabStation) -> None:
    """Every tagger input on, each tag stream carrying its own input, no delays, no filters."""
    tagger = station.instrument("time_tagger", "heralding")
    for tag_input in tagger.inputs:
        tag_input.enabled(True)
        tag_input.timetags_enabled(True)
        tag_input.timetag_link(f"DELA{tag_input.index}")
        tag_input.delay_ps(0)


def acquire(station: LabStation, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    tagger = station.instrument("time_tagger", "heralding")
    duration_ps = round(seconds * 1e12)
    tagger.record_duration_ps(duration_ps)
    tagger.start_acquisition()
    station.clock.sleep(duration_ps * 1e-12)
    return tagger.fetch_timetags()


def heralds(station: LabStation, channels: np.ndarray, timestamps: np.ndarray,
            window: float = WINDOW) -> Heralds:
    """Single-click heralds in a recording, allowing for the tagger's input delays."""
    tagger = station.instrument("time_tagger", "heralding")
    offset = tagger.input1.delay_ps() - tagger.input3.delay_ps()
    return extract_heralds(channels, timestamps, sync_channel=3, detector_channels=(1, 2),
                           window_ps=round(window * 1e12), offset_ps=offset)


def barrett_kok_heralds(station: LabStation, channels: np.ndarray, timestamps: np.ndarray,
                        design: AttemptDesign) -> BarrettKokHeralds:
    """Barrett–Kok heralds (one click in each round's window), allowing for input delays."""
    tagger = station.instrument("time_tagger", "heralding")
    offset = tagger.input1.delay_ps() - tagger.input3.delay_ps()
    offsets = tuple(offset + round(o * 1e12) for o in design.round_offsets)
    return extract_barrett_kok_heralds(channels, timestamps, sync_channel=3,
                                       detector_channels=(1, 2),
                                       window_ps=round(design.window * 1e12),
                                       offsets_ps=(offsets[0], offsets[1]))


def keep_only_heralded_syncs(station: LabStation, span: float = 100e-9) -> None:
    """The tagger's conditional filter: record a sync only if a click followed it.

    The sync (input 3, through delay block 3, delayed by ``span`` — past the
    last detection window) passes window filter 1 only inside a window
    opened by a herald click; tag stream 3 records the filter's output
    instead of the raw sync.
    """
    tagger = station.instrument("time_tagger", "heralding")
    span_ps = round(span * 1e12)
    tagger.input3.delay_link("INPU3")
    tagger.input3.delay_ps(span_ps)
    tagger.input1.delay_link("INPU1")
    tagger.tsco1.configure_window(first="DELA3", trigger="DELA1", begin_delay_ps=0,
                                  end_delay_ps=span_ps + 50_000)
    tagger.input3.timetag_link("TSCO1")


def gate_detectors(station: LabStation) -> None:
    """Record the heralding detectors only inside detection windows opened by the sync."""
    tagger = station.instrument("time_tagger", "heralding")
    for number, tsco in ((1, tagger.tsco2), (2, tagger.tsco3)):
        channel = tagger.inputs[number - 1]
        channel.delay_link(f"INPU{number}")
        tsco.configure_window(first=f"DELA{number}", trigger="INPU3", begin_delay_ps=0,
                              end_delay_ps=round(WINDOW * 1e12))
        channel.timetag_link(f"TSCO{tsco.index}")
