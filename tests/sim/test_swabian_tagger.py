"""The Swabian Time Tagger as the station's `TimeTagger`, on the virtual lab (``sim-swabian``).

The same experiment helpers as on the ID1000 (`experiments.bringup`), with the
Swabian's own cabling from the station file (sync on input 5): the hardware
conditional filter keeps only the syncs of attempts with a click, the
software gates (`GatedChannel`) drop clicks outside the detection windows,
heralds, count rates and histograms agree with the world, a full recording
buffer or an overflow is an error, and injected transport faults end in a
clear error within a bounded time, never a hang.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from drivers.swabian_timetagger import SwabianConnectionError, SwabianError, SwabianTagger
from experiments.bringup import (
    DETECTORS,
    SYNC,
    WINDOW,
    AttemptDesign,
    acquire,
    bring_up,
    gate_detectors,
    heralds,
    keep_only_heralded_syncs,
    record_raw_streams,
)
from labctl import station as station_module
from labctl.errors import LabctlError
from labctl.instruments.tagger import TimeTagger
from labctl.physics.link import predict
from sim_instruments import swabian_timetagger_api as standin
from sim_instruments.acquisition import input_rate
from tests.sim.test_virtual_lab_physics import expected_link

REPO = Path(__file__).parents[2]
Z = 4.0
SPAN_PS = 100_000          # keep_only_heralded_syncs' default sync delay
WINDOW_PS = round(WINDOW * 1e12)


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LABCTL_RUNTIME_DIR", str(tmp_path_factory.mktemp("runtime")))
        patch.setenv("LABCTL_DATA_DIR", str(tmp_path_factory.mktemp("data")))
        yield


@pytest.fixture(scope="module")
def station(runtime) -> Iterator[station_module.LabStation]:
    with station_module.load("stations/two_node.yaml", "sim-swabian") as loaded:
        bring_up(loaded, AttemptDesign(alpha=0.1))
        yield loaded


@pytest.fixture
def raw(station):
    """The station with every input raw (no filter, no gates) before and after the test."""
    record_raw_streams(station)
    yield station
    station.simulation.lab.clear_faults()
    record_raw_streams(station)


def channel(station, name: str) -> int:
    return station.tagger("heralding").channel(name)


def test_the_station_hands_out_the_swabian_as_a_time_tagger(station):
    view = station.tagger("heralding")
    assert isinstance(view.device, SwabianTagger)
    assert isinstance(view.device, TimeTagger)
    assert view.device.input_channels() == tuple(range(1, 9))
    assert (view.channel(SYNC), view.channel("herald_plus")) == (5, 1)   # the profile's cabling


def test_a_raw_recording_has_every_sync_and_free_running_clicks(raw):
    seconds = 2.0
    channels, timestamps = acquire(raw, seconds)
    syncs = np.count_nonzero(channels == channel(raw, SYNC))
    assert abs(syncs - seconds / AttemptDesign().period) <= 2
    assert timestamps.min() >= 0 and timestamps.max() < seconds * 1e12
    assert np.all(np.diff(timestamps) >= 0)
    clicks = np.isin(channels, [channel(raw, d) for d in DETECTORS])
    outside = _outside_windows(channels, timestamps, channel(raw, SYNC), 0, clicks)
    assert outside > 500            # dark counts and reference light between the windows


def test_the_conditional_filter_keeps_only_syncs_of_attempts_with_a_click(raw):
    keep_only_heralded_syncs(raw)
    world_tagger = raw.simulation.lab.world.state.heralding.tagger
    sync, detectors = channel(raw, SYNC), tuple(channel(raw, d) for d in DETECTORS)
    assert world_tagger.sync_filter == (sync, detectors)
    assert raw.tagger("heralding").delay_ps(SYNC) == SPAN_PS
    seconds = 10.0
    channels, timestamps = acquire(raw, seconds)
    sync_times = timestamps[channels == sync]
    click_times = timestamps[np.isin(channels, detectors)]
    attempts = seconds / AttemptDesign().period
    assert 50 < len(sync_times) < attempts / 100          # only a few attempts have a click
    # every sync passed has a click of its own attempt within the delay before it (the
    # filter sees the true times; recorded clicks carry the detectors' timing jitter)
    jitter_ps = raw.simulation.lab.world.config.detector.jitter * 1e12
    latest = np.searchsorted(click_times, sync_times, side="right") - 1
    assert np.all(latest >= 0)
    assert np.all(sync_times - click_times[latest] <= SPAN_PS + 6 * jitter_ps)


def test_gates_drop_clicks_outside_the_windows(raw):
    gate_detectors(raw)
    seconds = 5.0
    channels, timestamps = acquire(raw, seconds)
    sync = channel(raw, SYNC)
    clicks = np.isin(channels, [channel(raw, d) for d in DETECTORS])
    assert np.count_nonzero(clicks) > 20
    assert _outside_windows(channels, timestamps, sync, 0, clicks) == 0
    assert np.count_nonzero(channels == sync) > seconds / AttemptDesign().period - 2


def test_filter_and_gates_together_give_the_predicted_herald_rate(raw):
    keep_only_heralded_syncs(raw)
    gate_detectors(raw)
    seconds = 60.0
    channels, timestamps = acquire(raw, seconds)
    sync = channel(raw, SYNC)
    clicks = np.isin(channels, [channel(raw, d) for d in DETECTORS])
    # the gates follow the undelayed sync although the filter delays it on board
    assert _outside_windows(channels, timestamps, sync, -SPAN_PS, clicks) == 0
    assert timestamps.min() >= 0
    found = heralds(raw, channels, timestamps)
    expected = predict(expected_link(AttemptDesign(alpha=0.1))).rate_hz * seconds
    assert abs(found.count - expected) < Z * math.sqrt(expected), (found.count, expected)


def test_count_rates_agree_with_the_world(raw):
    seconds = 20.0
    names = ["herald_plus", "herald_minus", SYNC, "readout_node_a"]
    rates = raw.tagger("heralding").count_rates_hz(names, seconds)
    world = raw.simulation.lab.world
    for name in names:
        expected = input_rate(world, channel(raw, name))
        assert abs(rates[name] - expected) <= Z * math.sqrt(expected / seconds) + 1e-9, \
            (name, rates[name], expected)
    assert rates["herald_plus"] > 100 and rates[SYNC] > 1e5


def test_a_histogram_counts_what_a_recording_of_the_same_time_holds(raw):
    seconds, bin_ps, bins = 5.0, 1000, 100
    view = raw.tagger("heralding")
    counts = view.histogram(SYNC, "herald_plus", bin_ps, bins, seconds)
    assert counts.shape == (bins,) and counts.dtype == np.int64
    channels, timestamps = acquire(raw, seconds)
    sync_times = timestamps[channels == channel(raw, SYNC)]
    click_times = timestamps[channels == channel(raw, "herald_plus")]
    expected = standin._histogram_counts(sync_times, click_times, bin_ps, bins)
    window_bins = slice(0, math.ceil(WINDOW_PS / bin_ps) + 2)
    in_window, recorded = counts[window_bins].sum(), expected[window_bins].sum()
    assert recorded > 50
    assert abs(in_window - recorded) < Z * math.sqrt(in_window + recorded)
    # after the windows: accidentals with dark counts, as many in both
    total, recorded_total = counts.sum(), expected.sum()
    assert abs(total - recorded_total) < Z * math.sqrt(total + recorded_total)
    assert not view.device.recording()


def test_a_full_buffer_or_an_overflow_is_an_error_not_silent_loss(raw, monkeypatch):
    device = raw.tagger("heralding").device
    monkeypatch.setattr(device, "n_max_events", 1000)
    with pytest.raises(SwabianError, match="filled its buffer of 1000 tags"):
        acquire(raw, 0.5)
    monkeypatch.undo()
    unpacked = standin.TimeTagStreamBuffer._of

    def overflowing(*args):
        buffer = unpacked(*args)
        buffer.hasOverflows = True        # as a unit whose USB link could not keep up
        return buffer

    monkeypatch.setattr(standin.TimeTagStreamBuffer, "_of", staticmethod(overflowing))
    with pytest.raises(SwabianError, match="overflowed"):
        acquire(raw, 0.01)


def test_stop_acquisition_ends_a_running_recording(raw):
    device = raw.tagger("heralding").device
    device.start_recording(10**12)
    assert device.recording()
    device.stop_acquisition()
    assert not device.recording()
    device.fetch_tags()


@pytest.mark.parametrize("fault, error", [
    ("drop", SwabianConnectionError),
    ("silent", SwabianConnectionError),
    ("latency", SwabianConnectionError),
    ("garbage", SwabianConnectionError),
])
def test_transport_faults_are_a_clear_error_and_the_tagger_recovers(raw, fault, error):
    lab = raw.simulation.lab
    instrument = raw.instrument("time_tagger", "heralding")
    link = instrument.tagger._link
    link.timeout_s = 0.3
    try:
        lab.set_fault("herald_tagger", fault, 1.0 if fault == "latency" else 0.0)
        began = time.monotonic()
        with pytest.raises(error) as caught:
            instrument.ch1.trigger_level()
        assert time.monotonic() - began < 5.0
        assert isinstance(caught.value, ConnectionError) and isinstance(caught.value, LabctlError)
        message = str(caught.value)
        assert message.startswith("herald_tagger: lost the connection") and "\n" not in message
    finally:
        lab.clear_faults("herald_tagger")
        link.timeout_s = standin._REPLY_TIMEOUT_S
    assert instrument.ch1.trigger_level() == pytest.approx(0.5)   # reconnected by itself
    assert instrument.tagger.isConnected()


def test_herald_rate_runs_on_the_swabian_profile_from_the_command_line(tmp_path):
    # its own process: this module's station already holds the instrument names here
    done = subprocess.run(
        [sys.executable, "-m", "labctl.cli", "run", "herald_rate", "--profile", "sim-swabian",
         "--set", "blocks=2", "--set", "block_seconds=5", "--data-dir", str(tmp_path / "data"),
         "--json"], cwd=REPO, capture_output=True, text=True, timeout=600, check=False,
        env={**os.environ, "LABCTL_RUNTIME_DIR": str(tmp_path / "runtime")})
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "completed", result
    expected = predict(expected_link(AttemptDesign(alpha=0.1))).rate_hz * 10.0
    assert abs(result["heralds"] - expected) < Z * math.sqrt(expected), (result, expected)


def _outside_windows(channels: np.ndarray, timestamps: np.ndarray, sync: int, offset_ps: int,
                     clicks: np.ndarray) -> int:
    """How many ``clicks`` lie outside ``[s + offset, s + offset + window]`` of every sync s."""
    opens = timestamps[channels == sync] + offset_ps
    click_times = timestamps[clicks]
    if not len(opens):
        return len(click_times)
    latest = np.searchsorted(opens, click_times, side="right") - 1
    inside = (latest >= 0) & (click_times - opens[np.maximum(latest, 0)] <= WINDOW_PS)
    return int(np.count_nonzero(~inside))
