"""The engine's own overhead per block: a run whose blocks cost nothing to acquire.

Everything the engine does around an experiment's block — stopping rule,
durable archive write of the block's values and a small array, history,
progress — timed over many blocks on the simulated station.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from benchmarks.harness import report
from labctl import station as station_module
from labctl.data.archive import Archive
from labctl.engine.experiment import Block, Experiment, RunContext
from labctl.engine.runner import Engine

BLOCKS = 300


@dataclass(frozen=True)
class NothingConfig:
    blocks: int = BLOCKS
    tags: int = 0


class Nothing(Experiment):
    name: ClassVar[str] = "nothing"
    description: ClassVar[str] = "blocks that cost nothing"
    config_type: ClassVar[type] = NothingConfig
    value_names: ClassVar[tuple[str, ...]] = ("seconds", "counts")

    def acquire(self, context: RunContext, index: int) -> Block:
        tags = np.arange(self.config.tags, dtype=np.int64)
        arrays = {"timestamps_ps": tags} if self.config.tags else {}
        return Block(values={"seconds": 1.0, "counts": float(index)}, arrays=arrays)


def main() -> None:
    for tags in (0, 10_000):
        with tempfile.TemporaryDirectory() as folder:
            archive = Archive(Path(folder))
            engine = Engine(archive, progress=False)
            timings: list[float] = []
            engine.on_block = lambda index, timings=timings: timings.append(time.perf_counter())
            engine.start(Nothing(NothingConfig(tags=tags)), station_module.DEFAULT_STATION,
                         "sim")
            archive.close()
        per_block = np.diff(timings)
        what = "values only" if tags == 0 else f"{tags} tags"
        report(f"engine_overhead_per_block_{'values' if tags == 0 else 'with_chunk'}",
               float(np.median(per_block)) * 1e3, f"ms ({what}, median of {BLOCKS - 1})")


if __name__ == "__main__":
    main()
