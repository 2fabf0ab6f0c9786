"""Small seeded tag streams for the time-tag tests: syncs, two detectors, one other channel."""

from __future__ import annotations

import numpy as np

SYNC, D0, D1, OTHER = 1, 2, 3, 4


def random_stream(rng, n, sync_share=0.5, span=200):
    """A short stream of syncs, two detectors and an unrelated channel, with ties."""
    rest = (1 - sync_share) / 5
    ch = rng.choice([SYNC, D0, D1, OTHER], size=n,
                    p=[sync_share, 2 * rest, 2 * rest, rest]).astype(np.uint8)
    return ch, np.sort(rng.integers(0, span, n))


def attempt_stream(rng, attempts, period, offsets, window, click_rate, dark=0):
    """Syncs every ``period``; clicks around each round's window, edges included."""
    times = [np.arange(attempts, dtype=np.int64) * period]
    channels = [np.full(attempts, SYNC)]
    for offset in offsets:
        n = rng.binomial(attempts, click_rate)
        owner = rng.integers(0, attempts, n)
        delay = rng.choice([offset - 1, offset, offset + window, offset + window + 1], n)
        delay = np.where(rng.random(n) < 0.5, delay, offset + rng.integers(0, window + 1, n))
        times.append(owner * period + delay)
        channels.append(rng.choice([D0, D1], n))
    times.append(rng.integers(0, attempts * period, dark))
    channels.append(rng.choice([D0, D1, OTHER], dark))
    t = np.concatenate(times)
    order = np.argsort(t, kind="stable")
    return np.concatenate(channels)[order].astype(np.uint8), t[order]
