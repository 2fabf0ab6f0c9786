"""Time-tag processing speed: tags per second for herald extraction and coincidence counting,
and the ratio to a Time Tagger X streaming 90 M tags/s over USB 3 (goal: at least 100 M tags/s).

The streams are generated (seeded), only the processing is timed (best of
`REPEATS`). The entanglement stream is what a heralding station records: one
sync per 5.5 µs attempt (channel 1), clicks of the two heralding detectors
(channels 2, 3) in two detection rounds per attempt with probability
`CLICK_PROBABILITY` each, dark counts at `DARK_COUNT_RATE` per detector, and
sparse readout photons on channel 4 — about 10^8 tags, 550 s of attempts.
The dense stream has every tag on one of the two detectors (MHz rates,
correlated pairs), the worst case for coincidence counting: timed once on
the stream (channel separation included) and once on the two channels'
times already separated (``search_only``, `count_coincidences`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from benchmarks.harness import report
from labctl.timetags.coincidences import (
    channel_pair_times,
    count_coincidences,
    count_coincidences_in_stream,
)
from labctl.timetags.heralds import (
    Heralds,
    extract_barrett_kok_heralds,
    extract_heralds,
    stream_heralds,
)

TIME_TAGGER_X_TAGS_PER_S = 90e6
REPEATS = 3
ATTEMPTS = 100_000_000
ATTEMPT_PS = 5_500_000
ROUND_OFFSETS_PS = (100_000, 2_600_000)
WINDOW_PS = 40_000
CLICK_PROBABILITY = 5e-4
DARK_COUNT_RATE = 100.0
READOUT_RATE = 1000.0
LIFETIME_PS = 12_000.0
JITTER_PS = 50.0
COINCIDENCE_WINDOW_PS = 1_000
DENSE_TAGS = 20_000_000
DENSE_RATE = 5e6
STREAM_BLOCK = 10_000_000


def entanglement_stream(rng: np.random.Generator, attempts: int = ATTEMPTS
                        ) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """Syncs every attempt, round clicks, dark counts and readout photons, sorted by time."""
    duration_ps = attempts * ATTEMPT_PS
    times, channels = [], []
    for offset in ROUND_OFFSETS_PS:
        clicked = np.flatnonzero(rng.random(attempts, dtype=np.float32) < CLICK_PROBABILITY)
        delay = offset + rng.exponential(LIFETIME_PS, len(clicked)) \
            + rng.normal(0.0, JITTER_PS, len(clicked))
        times.append(clicked * ATTEMPT_PS + delay.astype(np.int64))
        channels.append(rng.integers(2, 4, len(clicked)))
    for channel, rate in ((2, DARK_COUNT_RATE), (3, DARK_COUNT_RATE), (4, READOUT_RATE)):
        count = rng.poisson(rate * duration_ps * 1e-12)
        times.append(rng.integers(0, duration_ps, count))
        channels.append(np.full(count, channel))
    other_times = np.concatenate(times)
    order = np.argsort(other_times, kind="stable")
    other_times = other_times[order]
    other_channels = np.concatenate(channels)[order].astype(np.uint8)
    syncs = np.arange(attempts, dtype=np.int64) * ATTEMPT_PS
    at = np.searchsorted(syncs, other_times, side="right")
    timestamps = np.insert(syncs, at, other_times)
    del syncs
    sync_channels = np.ones(attempts, dtype=np.uint8)
    return np.insert(sync_channels, at, other_channels), timestamps


def dense_stream(rng: np.random.Generator) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """Two detectors at `DENSE_RATE` each, a tenth of the clicks in correlated pairs."""
    duration_ps = int(DENSE_TAGS / (2 * DENSE_RATE) * 1e12)
    times = rng.integers(0, duration_ps, DENSE_TAGS)
    channels = rng.integers(2, 4, DENSE_TAGS).astype(np.uint8)
    partner = np.flatnonzero(rng.random(DENSE_TAGS) < 0.05)
    times[partner[1::2]] = times[partner[0::2][: len(partner[1::2])]] \
        + rng.integers(-500, 500, len(partner[1::2]))
    order = np.argsort(times, kind="stable")
    return channels[order], np.maximum(times[order], 0)


def best_seconds(operation: Callable[[], object]) -> float:
    """Shortest wall-clock time of `REPEATS` runs of ``operation``."""
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        operation()
        best = min(best, time.perf_counter() - start)
    return best


def throughput(name: str, tags: int, seconds: float) -> None:
    report(f"{name}_throughput", tags / seconds, "tags/s")
    report(f"{name}_vs_time_tagger_x", tags / seconds / TIME_TAGGER_X_TAGS_PER_S,
           "x (90 M tags/s)")


def main() -> None:
    rng = np.random.default_rng(7)
    channels, timestamps = entanglement_stream(rng)
    tags = len(timestamps)
    report("timetags_stream_tags", tags, "tags")

    def single_click() -> Heralds:
        return extract_heralds(channels, timestamps, 1, (2, 3), WINDOW_PS, ROUND_OFFSETS_PS[0])

    throughput("herald_extraction", tags, best_seconds(single_click))
    report("herald_extraction_heralds", single_click().count, "heralds")
    throughput("barrett_kok_extraction", tags, best_seconds(
        lambda: extract_barrett_kok_heralds(channels, timestamps, 1, (2, 3), WINDOW_PS,
                                            ROUND_OFFSETS_PS)))

    def streamed() -> Heralds:
        blocks = ((channels[i:i + STREAM_BLOCK], timestamps[i:i + STREAM_BLOCK])
                  for i in range(0, tags, STREAM_BLOCK))
        return Heralds.concatenate(stream_heralds(blocks, 1, (2, 3), WINDOW_PS,
                                                  ROUND_OFFSETS_PS[0]))

    throughput("herald_streaming", tags, best_seconds(streamed))
    throughput("coincidence_counting", tags, best_seconds(
        lambda: count_coincidences_in_stream(channels, timestamps, 2, 3,
                                             COINCIDENCE_WINDOW_PS)))
    del channels, timestamps

    channels, timestamps = dense_stream(rng)

    def dense_in_stream() -> int:
        return count_coincidences_in_stream(channels, timestamps, 2, 3, COINCIDENCE_WINDOW_PS)

    throughput("coincidence_counting_dense", len(timestamps), best_seconds(dense_in_stream))
    report("coincidence_counting_dense_pairs", dense_in_stream(), "pairs")
    times_a, times_b = channel_pair_times(channels, timestamps, 2, 3)
    search_only = len(timestamps) / best_seconds(
        lambda: count_coincidences(times_a, times_b, COINCIDENCE_WINDOW_PS))
    report("coincidence_counting_dense_search_only", search_only, "tags/s")
    report("coincidence_counting_dense_search_only_vs_time_tagger_x",
           search_only / TIME_TAGGER_X_TAGS_PER_S, "x (90 M tags/s)")


if __name__ == "__main__":
    main()
