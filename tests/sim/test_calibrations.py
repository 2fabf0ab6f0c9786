"""Calibration experiments on the virtual lab recover the world's physics.

Each calibration runs through the engine on the simulated station; its fit
must converge and agree with the `WorldConfig` truth within 4 reported
standard errors: the SNSPD half-point and plateau efficiency of the
`Detector` defaults, the converters' phase-matching temperature and width,
and the photons' arrival after the excitation pulse (the optical delay).
"""

from __future__ import annotations

import pytest

from experiments.calibrations import (
    BiasScanConfig,
    ConverterPhaseMatching,
    DetectorOffsets,
    DetectorOffsetsConfig,
    PhaseMatchingConfig,
    SnspdBiasScan,
)
from labctl import station as station_module
from labctl.data.archive import Archive
from labctl.engine.runner import Engine
from sim_instruments.world import WorldConfig

Z = 4.0
WORLD = WorldConfig()


def run(tmp_path, experiment):
    archive = Archive(tmp_path)
    outcome = Engine(archive, progress=False).start(experiment, station_module.DEFAULT_STATION,
                                                    "sim")
    archive.close()
    assert outcome.status == "completed", outcome.reason
    return outcome


def agrees(value, error, truth):
    assert value is not None and error is not None, (value, error)
    assert 0 < error < 0.3 * abs(truth), (value, error, truth)
    assert abs(value - truth) < Z * error, (value, truth, error)


def test_bias_scan_finds_the_efficiency_step_and_an_operating_bias(tmp_path):
    outcome = run(tmp_path, SnspdBiasScan(BiasScanConfig(
        photon_fraction=WORLD.reference_photon_fraction / 2)))
    result = outcome.result
    assert result.converged, result.message
    assert outcome.plot and outcome.plot.endswith(".png")
    detector = WORLD.detector
    agrees(result.half_point_a, result.half_point_a_err, detector.half_efficiency_bias)
    agrees(result.plateau_efficiency, result.plateau_efficiency_err, detector.max_efficiency)
    width = detector.efficiency_width
    agrees(result.operating_bias_a, result.operating_bias_a_err,
           detector.half_efficiency_bias + width * 2.9444389791664403)   # ln(0.95/0.05)
    assert result.operating_bias_a < result.knee_bias_a


def test_phase_matching_scan_finds_the_converter_temperature(tmp_path):
    outcome = run(tmp_path, ConverterPhaseMatching(PhaseMatchingConfig(
        start=62.5, stop=67.5, steps=21)))
    fit = outcome.result.fit
    assert fit["converged"], fit["message"]
    assert outcome.plot and outcome.plot.endswith(".png")
    converter = WORLD.converter
    agrees(fit["center"], fit["center_err"], converter.phase_matching_temperature_c)
    agrees(fit["fwhm"], fit["fwhm_err"], converter.phase_matching_fwhm_c)


def test_phase_matching_scan_missing_the_resonance_does_not_converge(tmp_path):
    outcome = run(tmp_path, ConverterPhaseMatching(PhaseMatchingConfig(
        start=75.0, stop=80.0, steps=9)))
    fit = outcome.result.fit
    assert fit["converged"] is False
    assert fit["message"] and fit["center"] is None


def test_detector_offsets_recover_the_optical_delay(tmp_path):
    config = DetectorOffsetsConfig()
    outcome = run(tmp_path, DetectorOffsets(config))
    result = outcome.result
    assert result.converged, result.message
    assert outcome.plot and outcome.plot.endswith(".png")
    for timing in result.detectors:
        agrees(timing.optical_delay_s, timing.optical_delay_s_err, WORLD.optical_delay_s)
        agrees(timing.onset_after_sync_s, timing.onset_after_sync_s_err,
               WORLD.optical_delay_s - config.window_offset)
        agrees(timing.jitter_s, timing.jitter_s_err, WORLD.detector.jitter)
        assert timing.window_opening_after_excitation_s < WORLD.optical_delay_s


@pytest.mark.parametrize("config_type, settings, message", [
    (BiasScanConfig, dict(detector="readout_node_a"), "detector must be a heralding detector"),
    (BiasScanConfig, dict(stop=22e-6), "stop must stay below the switching current"),
    (BiasScanConfig, dict(start=10e-6, stop=5e-6), "need 0 <= start < stop"),
    (PhaseMatchingConfig, dict(alpha=1.0), "alpha must be within"),
    (PhaseMatchingConfig, dict(steps=3), "steps must be at least 5"),
    (DetectorOffsetsConfig, dict(window=40e-9, bin_ps=30), "whole number of bin_ps"),
])
def test_bad_calibration_settings_are_refused(config_type, settings, message):
    with pytest.raises(ValueError, match=message):
        config_type(**settings)
