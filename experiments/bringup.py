"""Bringing a two-node link up for single-click entanglement attempts.

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
from labctl.timetags.heralds import Heralds, extract_heralds

NODES = ("node_a", "node_b")
#: Rabi frequency at full-scale I/Q, 10 dBm and 4.5 Vpp (calibrated by a Rabi scan).
RABI_FULL_SCALE_HZ = 10e6
#: Excitation pulse to photon arrival at the detectors (calibrated from histograms).
OPTICAL_DELAY = 20e-9
EXCITATION_AT = 1e-6
WINDOW = 25e-9


@dataclass(frozen=True)
class AttemptDesign:
    alpha: float = 0.1
    period: float = 5.5e-6
    excitation: bool = True
    window_offset: float = OPTICAL_DELAY     # window opens this long after the excitation
    window: float = WINDOW
    oven_c: float = 65.0


def attempt_program(design: AttemptDesign) -> Program:
    theta = 2 * math.acos(math.sqrt(design.alpha))   # from bright: P(bright) = cos²(θ/2)
    markers = [Marker("detection_window", EXCITATION_AT + design.window_offset, design.window)]
    if design.excitation:
        markers.append(Marker("excitation", EXCITATION_AT, 2e-9))
    segment = Segment("attempt", design.period, markers=tuple(markers),
                      rotations=(Rotation.for_angle(100e-9, theta, RABI_FULL_SCALE_HZ),))
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
    tagger.record_duration_ps(round(seconds * 1e12))
    tagger.start_acquisition()
    station.clock.sleep(seconds)
    return tagger.fetch_timetags()


def heralds(station: LabStation, channels: np.ndarray, timestamps: np.ndarray,
            window: float = WINDOW) -> Heralds:
    """Heralds in a recording, allowing for the tagger's input delays."""
    tagger = station.instrument("time_tagger", "heralding")
    offset = tagger.input1.delay_ps() - tagger.input3.delay_ps()
    return extract_heralds(channels, timestamps, sync_channel=3, detector_channels=(1, 2),
                           window_ps=round(window * 1e12), offset_ps=offset)


def keep_only_heralded_syncs(station: LabStation) -> None:
    """The tagger's conditional filter: record a sync only if a click followed it.

    The sync (input 3, through delay block 3, delayed past the window) passes
    window filter 1 only inside a window opened by a herald click; tag stream 3
    records the filter's output instead of the raw sync.
    """
    tagger = station.instrument("time_tagger", "heralding")
    tagger.input3.delay_link("INPU3")
    tagger.input3.delay_ps(100_000)
    tagger.input1.delay_link("INPU1")
    tagger.tsco1.configure_window(first="DELA3", trigger="DELA1", begin_delay_ps=0,
                                  end_delay_ps=150_000)
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
