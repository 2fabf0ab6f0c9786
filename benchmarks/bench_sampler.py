"""Monte-Carlo sampler speed: simulated attempts per wall-clock second, and the ratio to
real time for 5.5 µs attempts (goal: at least 1000x faster than the experiment).

Measured on the nv-short world (Humphreys 2018 numbers) with 10^9-attempt
blocks, the size the virtual lab asks for, heralds and outcomes included.
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks.harness import report
from labctl.physics.presets import preset
from labctl.physics.sampling import sample_attempts, sample_outcomes

ATTEMPT_TIME = 5.5e-6
BLOCK = 1_000_000_000
REPEATS = 5


def main() -> None:
    rng = np.random.default_rng(1)
    for world in ("nv-short", "nv-telecom-25km"):
        params = preset(world)
        sample_attempts(params, 1000, rng)  # warm-up
        start = time.perf_counter()
        heralds = 0
        for _ in range(REPEATS):
            sampled = sample_attempts(params, BLOCK, rng)
            bases = rng.choice(np.array(["X", "Y", "Z"]), size=sampled.n_heralds)
            sample_outcomes(sampled, bases, bases, rng)
            heralds += sampled.n_heralds
        elapsed = time.perf_counter() - start
        attempts_per_second = REPEATS * BLOCK / elapsed
        report(f"sampler_attempts_per_second_{world}", attempts_per_second, "attempts/s")
        report(f"sampler_heralds_per_second_{world}", heralds / elapsed, "heralds/s")
        report(f"sampler_vs_real_time_{world}",
               attempts_per_second * ATTEMPT_TIME, "x (5.5 us attempts)")


if __name__ == "__main__":
    main()
