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
  its readout pulse, in the basis its microwave pulses select;
- random settings: when the AWGs are in dynamic-jump mode, each node's
  random bit per herald picks the readout element, and the bit is recorded
  (a tag on the node's ``setting_<node>`` input when it is 1, as a lab
  time-tags its random-number generator's output).

Inputs are found by the names of the tagger's ``wiring:`` in the station
file (a signal whose input the wiring does not name is not cabled and not
recorded). What the tagger does with them comes from the world's
vendor-neutral `TaggerState`, which each tagger emulator keeps up to date:
input delays shift an input's tags, inputs not recorded give nothing, a
conditional sync filter keeps only the syncs of attempts with a click, and
hardware gates keep a detector's tags only inside detection windows.
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
from labctl.timetags.merge import merge_time_ordered
from sim_instruments.spin_shots import plan_shots
from sim_instruments.world import LinkSetting, World

#: A tagger input no signal reaches (a name the station's wiring does not give).
UNCABLED = 0
#: When a node's random-number generator output is tagged, s after its readout element starts.
SETTING_TAG_AT = 50e-9


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


def _inputs(world: World) -> dict[str, int]:
    """Tagger input of each signal, from the station's wiring (`UNCABLED` if not wired)."""
    names = ("herald_plus", "herald_minus", "sync", *(f"{kind}_{node}" for node in
                                                     world.state.nodes
                                                     for kind in ("readout", "setting")))
    return {name: int(world.tagger_inputs.get(name, UNCABLED)) for name in names}


def _conditional_sync(world: World, sync_input: int) -> bool:
    """Is the tagger set to record only the syncs of attempts with a click?"""
    sync_filter = world.state.heralding.tagger.sync_filter
    return sync_filter is not None and sync_filter[0] == sync_input


@dataclass(frozen=True)
class AttemptClock:
    """When attempt i starts: i periods, plus one readout element per earlier herald.

    Vectorised over any set of indices or times, without an array per attempt.
    """

    period: float
    readout_time: float
    herald_attempts: NDArray[np.int64]   # sorted indices of heralded attempts

    def start(self, index: NDArray[np.int64]) -> NDArray[np.float64]:
        earlier = np.searchsorted(self.herald_attempts, index, side="left")
        return index * self.period + earlier * self.readout_time

    def attempt_at(self, time: NDArray[np.float64], n: int) -> NDArray[np.int64]:
        """The last attempt started at or before each time (-1 before the first)."""
        low = np.full(len(time), -1, dtype=np.int64)
        high = np.full(len(time), n - 1, dtype=np.int64)
        while np.any(low < high):
            middle = (low + high + 1) // 2
            started = self.start(np.maximum(middle, 0)) <= time
            low = np.where(started, middle, low)
            high = np.where(started, high, middle - 1)
        return low

    def played(self, n: int, duration: float) -> int:
        """How many of the n scheduled attempts finish within ``duration``."""
        last = self.attempt_at(np.array([duration - self.period]), n)[0]
        return int(last + 1)


def record(world: World, duration: float) -> Recording:
    """Tags the tagger records in ``duration`` seconds of virtual time from now."""
    inputs = _inputs(world)
    rng = world.rng
    channels: list[NDArray[np.int64]] = []
    times: list[NDArray[np.float64]] = []
    attempts = heralds = 0
    gated = _gated_detectors(world, inputs)

    setting = world.link()
    clock: AttemptClock | None = None
    n_played = 0
    if setting is not None:
        n, period, readout_time = _schedule(setting, duration)
        sampled = sample_attempts(setting.params, n, rng, setting.timing)
        heralded = sampled.heralded
        clock = AttemptClock(period, readout_time, sampled.attempt[heralded])
        n_played = attempts = clock.played(n, duration)
        start = clock.start(sampled.attempt)
        keep_event = sampled.attempt < n_played
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
            sync_times = clock.start(np.arange(n_played)) + setting.window_open
        channels.append(np.full(len(sync_times), inputs["sync"]))
        times.append(sync_times)
        if setting.readout_element is not None and setting.readout_directions is not None:
            _readout_tags(world, setting, sampled, start, keep_event, period, inputs,
                          channels, times, rng)
    if not gated:
        _free_running(world, duration, setting, clock, n_played, inputs, channels, times, rng)
    _readout_shots(world, duration, inputs, channels, times)

    return _finish(world, channels, times, attempts, heralds, duration)


def _gated_detectors(world: World, inputs: dict[str, int]) -> bool:
    """Are both heralding inputs gated in hardware by the sync?

    Then only clicks inside detection windows reach the tag stream, and
    free-running counts between windows are never recorded.
    """
    gates = world.state.heralding.tagger.gates
    return all(gates.get(inputs[name], (None,))[0] == inputs["sync"]
               for name in ("herald_plus", "herald_minus"))


def _free_running(world: World, duration: float, setting: LinkSetting | None,
                  clock: AttemptClock | None, n_played: int, inputs: dict[str, int],
                  channels: list[NDArray[np.int64]], times: list[NDArray[np.float64]],
                  rng: np.random.Generator) -> None:
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
        if setting is not None and clock is not None and n_played:
            owner = clock.attempt_at(stream, n_played)
            since = stream - clock.start(np.maximum(owner, 0))
            inside = np.zeros(len(stream), dtype=bool)
            for opening in [w.start for w in setting.attempt_element.windows] or [
                    setting.window_open]:
                inside |= (since >= opening) & (since <= opening + setting.params.window)
            stream = stream[~(inside & (owner >= 0))]
        channels.append(np.full(len(stream), inputs[name]))
        times.append(stream)


def _readout_shots(world: World, duration: float, inputs: dict[str, int],
                   channels: list[NDArray[np.int64]], times: list[NDArray[np.float64]]
                   ) -> None:
    """Nodes playing readout shots (no heralding): photons per shot, and a sync per shot.

    The first such node's readout pulses are the shots' sync.
    """
    sync_done = False
    for name, node in world.state.nodes.items():
        sequence = world.sequence(name)
        if world.attempt_element(sequence) is not None:
            continue
        driven = node.microwave.output and node.microwave.iq_modulation
        plan = plan_shots(sequence, world.config.memory, world.rabi_hz(node),
                          world.spin_detuning_hz(node), driven)
        if plan is None or plan.pass_duration <= 0:
            continue
        n = int(duration / plan.pass_duration)
        own = world.node_rng(name)   # two nodes' scans are two independent memories
        bright = own.random(n) < plan.bright_probability
        mean = np.where(bright, world.config.readout_photons_bright,
                        world.config.readout_photons_dark)
        photons = own.poisson(mean)
        owner = np.repeat(np.arange(n), photons)
        shot_start = owner * plan.pass_duration + plan.readout_start
        key = f"readout_{name}"
        if inputs.get(key, UNCABLED) != UNCABLED:
            channels.append(np.full(len(owner), inputs[key]))
            times.append(shot_start + own.uniform(0.0, plan.readout_length, size=len(owner)))
        if not sync_done:
            syncs = (np.arange(n) * plan.pass_duration + plan.readout_start).astype(np.float64)
            channels.append(np.full(n, inputs["sync"]))
            times.append(syncs)
            sync_done = True


def _readout_tags(world: World, setting: LinkSetting, sampled: SampledAttempts,
                  start: NDArray[np.float64], keep_event: NDArray[np.bool_], period: float,
                  inputs: dict[str, int], channels: list[NDArray[np.int64]],
                  times: list[NDArray[np.float64]], rng: np.random.Generator) -> None:
    """Readout photons of both nodes after each herald (true spin projections).

    With random settings each node draws a bit per herald, measures along
    that bit's direction and, for bit 1, tags its ``setting_<node>`` input.
    """
    assert setting.readout_element is not None and setting.readout_directions is not None
    n = sampled.n_heralds
    if n == 0:
        return
    herald_start = start[sampled.heralded]
    keep = keep_event[sampled.heralded]
    readout_start = herald_start + period
    per_node = []
    for node, direction in zip(setting.nodes, setting.readout_directions, strict=True):
        if setting.random_settings:
            bits = rng.integers(0, 2, size=n)
            per_node.append(direction[bits])
            key = f"setting_{node}"
            if inputs.get(key, UNCABLED) != UNCABLED:
                tagged = bits.astype(bool) & keep
                channels.append(np.full(int(tagged.sum()), inputs[key]))
                times.append(readout_start[tagged] + SETTING_TAG_AT)
        else:
            per_node.append(np.tile(direction, (n, 1)))
    spin_a, spin_b = sample_outcomes(sampled, per_node[0], per_node[1], rng)
    pulse = setting.readout_element.readouts[0]
    config = world.config
    for node, spin in zip(setting.nodes, (spin_a, spin_b), strict=True):
        mean = np.where(spin == 0, config.readout_photons_bright, config.readout_photons_dark)
        photons = rng.poisson(mean) * keep
        owner = np.repeat(np.arange(n), photons)
        t = readout_start[owner] + pulse.start + rng.uniform(
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
    size = max(int(channel.max(initial=0)), len(tagger.inputs)) + 1
    delay = np.zeros(size)
    active = np.zeros(size, dtype=bool)
    dead_time = np.zeros(size)
    for number, setting in enumerate(tagger.inputs, start=1):
        delay[number] = setting.delay_ps * 1e-12
        active[number] = setting.recorded
        dead_time[number] = setting.dead_time_ps * 1e-12
    keep = active[channel] & (time >= 0) & (time < duration)
    channel, time = channel[keep], time[keep] + delay[channel[keep]]
    detector_dead = world.config.detector.dead_time
    # each input's tags in time order (ties as generated), its dead time applied
    grouping = np.argsort(channel.astype(np.uint8), kind="stable")   # a radix sort
    grouped = channel[grouping]
    edges = np.flatnonzero(np.diff(grouped)) + 1
    per_input: dict[int, NDArray[np.float64]] = {}
    for first, end in zip(np.r_[0, edges], np.r_[edges, len(grouped)], strict=True):
        if end == first:
            continue
        number = int(grouped[first])
        own = time[grouping[first:end]]
        own = own[np.argsort(own, kind="stable")]
        per_input[number] = own[apply_dead_time(own, max(detector_dead, dead_time[number]))]
    channels_out, merged = merge_time_ordered(per_input)
    stamps = np.maximum(np.round(merged * 1e12).astype(np.int64), 0)
    return Recording(channels_out, stamps, attempts, heralds)


def input_rate(world: World, number: int) -> float:
    """Average counts/s on tagger input ``number`` (for its counters)."""
    inputs = _inputs(world)
    by_number = {v: k for k, v in inputs.items() if v != UNCABLED}
    what = by_number.get(number)
    if what in ("herald_plus", "herald_minus"):
        channel = world.herald_channel(0 if what == "herald_plus" else 1)
        return world.snspd_count_rate(channel) if channel is not None else 0.0
    if what == "sync":
        return world.attempt_rate()
    if what is not None and what.startswith("readout_"):
        setting = world.link()
        if setting is None or setting.readout_element is None:
            return 0.0
        herald_rate = predict(setting.params).p_herald / setting.params.cycle_time
        return herald_rate * world.config.readout_photons_bright / 2
    return 0.0
