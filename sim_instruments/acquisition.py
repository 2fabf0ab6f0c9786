"""What the time tagger records during T seconds of virtual time, in one vectorised step.

The attempts the AWGs play in that time are sampled at once
(`labctl.physics.sampling`), then turned into tags on the tagger's inputs:

- heralding detectors: every click of every attempt at its time in the
  detection window, plus free-running dark counts (and noise and reference
  light) outside the windows, with jitter and dead time;
- sync: the opening of each attempt's detection window — or, when the
  tagger's window filter is set up as a conditional filter on the sync,
  only the syncs of attempts with a click (as a real time controller does
  to keep the stream small);
- spin readout: after a herald, if the attempt element's event jump leads
  to an element that reads the spins out, each node's readout photons
  (Poisson numbers whose mean depends on the measured spin state) during
  its readout pulse, in the basis its microwave pulses select.

Input delays shift an input's tags; disabled inputs and tag streams not
switched on record nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from labctl.physics.link import predict
from labctl.physics.sampling import (
    DETECTOR_PLUS,
    SampledAttempts,
    apply_dead_time,
    poisson_times,
    sample_attempts,
    sample_outcomes,
)
from sim_instruments.world import LinkSetting, World

#: Tagger inputs (1-based) by what is wired to them, unless the station says otherwise.
DEFAULT_INPUTS = {"herald_plus": 1, "herald_minus": 2, "sync": 3,
                  "readout_node_a": 4, "readout_node_b": 5}


@dataclass(frozen=True)
class Recording:
    """Tags of one acquisition: channel (tagger input, 1-based) and time since start, ps."""

    channels: NDArray[np.uint8]
    timestamps_ps: NDArray[np.int64]
    attempts: int
    heralds: int


def _schedule(setting: LinkSetting, duration: float) -> tuple[int, float, float]:
    """(attempts, time per attempt, extra time a readout after a herald takes)."""
    attempt = setting.attempt_element
    readout_time = setting.readout_element.duration if setting.readout_element else 0.0
    n = int(duration / attempt.duration) if attempt.duration > 0 else 0
    return n, attempt.duration, readout_time


def _conditional_sync(world: World, sync_input: int) -> bool:
    """Is a window filter set to pass only syncs of attempts with a click?"""
    tagger = world.state.heralding.tagger
    delay_block = f"DELA{sync_input}"
    for index, flt in enumerate(tagger.filters, start=1):
        if flt.enabled and flt.first_link.upper() == delay_block and \
                flt.outside.upper() == "MUTE":
            linked = any(inp.timetag_link.upper() == f"TSCO{index}" for inp in tagger.inputs)
            if linked:
                return True
    return False


def record(world: World, duration: float) -> Recording:
    """Tags the tagger records in ``duration`` seconds of virtual time from now."""
    inputs = {**DEFAULT_INPUTS, **world.tagger_inputs}
    rng = world.rng
    channels: list[NDArray[np.int64]] = []
    times: list[NDArray[np.float64]] = []
    attempts = heralds = 0

    setting = world.link()
    if setting is not None:
        n, period, readout_time = _schedule(setting, duration)
        sampled = sample_attempts(setting.params, n, rng, setting.timing)
        heralded = sampled.heralded
        herald_attempts = sampled.attempt[heralded]
        # each herald delays later attempts by the readout element it triggers
        starts_all = np.arange(n, dtype=np.float64) * period
        if readout_time > 0 and len(herald_attempts):
            shift = np.searchsorted(herald_attempts, np.arange(n), side="left") * readout_time
            starts_all = starts_all + shift
        inside = starts_all + period <= duration
        n_played = int(np.count_nonzero(inside))
        attempts = n_played
        start = starts_all[sampled.attempt]
        keep_event = start + period <= duration
        heralds = int(np.count_nonzero(heralded & keep_event))
        windows = setting.attempt_element.windows
        # clicks: detector of each click, at its time in its round's window
        event = sampled.click_event
        round_window = np.array([w.start for w in windows] or [setting.window_open])
        window_start = round_window[np.minimum(sampled.click_round, len(round_window) - 1)]
        click_time = start[event] + window_start + sampled.click_time
        ok = keep_event[event]
        names = np.where(sampled.click_detector == DETECTOR_PLUS, inputs["herald_plus"],
                         inputs["herald_minus"])
        channels.append(names[ok])
        times.append(click_time[ok])
        # sync: every played attempt, or only those with clicks through the filter
        if _conditional_sync(world, inputs["sync"]):
            sync_times = start[keep_event] + setting.window_open
        else:
            sync_times = starts_all[inside] + setting.window_open
        channels.append(np.full(len(sync_times), inputs["sync"]))
        times.append(sync_times)
        if setting.readout_element is not None and setting.readout_directions is not None:
            _readout_tags(world, setting, sampled, start, keep_event, period, inputs,
                          channels, times, rng)
        windows_open = starts_all[inside] + setting.window_open
        window_length = setting.params.window
    else:
        windows_open, window_length = np.zeros(0), 0.0
    _free_running(world, duration, windows_open, window_length, inputs, channels, times, rng)

    return _finish(world, channels, times, attempts, heralds, duration)


def _free_running(world: World, duration: float, windows_open: NDArray[np.float64],
                  window: float, inputs: dict[str, int], channels: list[NDArray[np.int64]],
                  times: list[NDArray[np.float64]], rng: np.random.Generator) -> None:
    """Dark counts, noise and reference light outside the detection windows.

    Inside the windows the sampler already drew the dark and noise clicks, and
    the phase-reference light is time-multiplexed off there.
    """
    for index, name in enumerate(("herald_plus", "herald_minus")):
        detector = world.detector_at(index)
        if detector.bias == 0.0:
            continue
        rate = detector.dark_count_rate + detector.efficiency * (
            world.noise_rate_per_detector() + world.reference_flux_per_detector())
        stream = poisson_times(rate, duration, rng)
        if len(windows_open) and window > 0:
            owner = np.searchsorted(windows_open, stream, side="right") - 1
            inside = (owner >= 0) & (stream - windows_open[np.maximum(owner, 0)] <= window)
            stream = stream[~inside]
        channels.append(np.full(len(stream), inputs[name]))
        times.append(stream)


def _readout_tags(world: World, setting: LinkSetting, sampled: SampledAttempts,
                  start: NDArray[np.float64], keep_event: NDArray[np.bool_], period: float,
                  inputs: dict[str, int], channels: list[NDArray[np.int64]],
                  times: list[NDArray[np.float64]], rng: np.random.Generator) -> None:
    """Readout photons of both nodes after each herald (true spin projections)."""
    assert setting.readout_element is not None and setting.readout_directions is not None
    n = sampled.n_heralds
    if n == 0:
        return
    direction_a, direction_b = setting.readout_directions
    spin_a, spin_b = sample_outcomes(sampled, np.tile(direction_a, (n, 1)),
                                     np.tile(direction_b, (n, 1)), rng)
    herald_start = start[sampled.heralded]
    keep = keep_event[sampled.heralded]
    pulse = setting.readout_element.readouts[0]
    config = world.config
    for node, spin in zip(setting.nodes, (spin_a, spin_b), strict=True):
        mean = np.where(spin == 0, config.readout_photons_bright, config.readout_photons_dark)
        photons = rng.poisson(mean) * keep
        owner = np.repeat(np.arange(n), photons)
        t = herald_start[owner] + period + pulse.start + rng.uniform(
            0, pulse.duration, size=len(owner))
        channels.append(np.full(len(t), inputs[f"readout_{node}"]))
        times.append(t)


def _finish(world: World, channels: list[NDArray[np.int64]], times: list[NDArray[np.float64]],
            attempts: int, heralds: int, duration: float) -> Recording:
    """Apply input enables, delays and dead time; sort; convert to ps."""
    tagger = world.state.heralding.tagger
    if not channels:
        return Recording(np.zeros(0, np.uint8), np.zeros(0, np.int64), attempts, heralds)
    channel = np.concatenate(channels).astype(np.int64)
    time = np.concatenate(times)
    delay = np.zeros(channel.max(initial=0) + 1)
    active = np.zeros(channel.max(initial=0) + 1, dtype=bool)
    for number, setting in enumerate(tagger.inputs, start=1):
        if number < len(delay):
            delay[number] = setting.delay_ps * 1e-12
            active[number] = setting.enabled and setting.timetags_enabled
    keep = active[channel] & (time >= 0) & (time < duration)
    channel, time = channel[keep], time[keep] + delay[channel[keep]]
    order = np.lexsort((time, channel))
    channel, time = channel[order], time[order]
    dead = world.config.detector.dead_time
    mask = np.ones(len(time), dtype=bool)
    for number in np.unique(channel):
        members = np.flatnonzero(channel == number)
        mask[members] = apply_dead_time(time[members], dead)
    channel, time = channel[mask], time[mask]
    order = np.argsort(time, kind="stable")
    stamps = np.round(time[order] * 1e12).astype(np.int64)
    return Recording(channel[order].astype(np.uint8), np.maximum(stamps, 0), attempts, heralds)


def input_rate(world: World, number: int) -> float:
    """Average counts/s on tagger input ``number`` (for its counters)."""
    inputs = {**DEFAULT_INPUTS, **world.tagger_inputs}
    by_number = {v: k for k, v in inputs.items()}
    what = by_number.get(number)
    if what == "herald_plus":
        return world.snspd_count_rate(0)
    if what == "herald_minus":
        return world.snspd_count_rate(1)
    if what == "sync":
        return world.attempt_rate()
    if what is not None and what.startswith("readout_"):
        setting = world.link()
        if setting is None or setting.readout_element is None:
            return 0.0
        herald_rate = predict(setting.params).p_herald / setting.params.cycle_time
        return herald_rate * world.config.readout_photons_bright / 2
    return 0.0
