"""Herald rate of the single-click link: count heralds block by block.

Each block records ``block_seconds`` of attempts on the time tagger (with its
conditional filter, so only attempts with a click reach the stream), keeps
the raw tags in the archive, and counts the heralds: exactly one click in
an attempt's detection window. The analysis gives the rate with its Poisson
error, from the archived block values alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from experiments.bringup import (
    AttemptDesign,
    acquire,
    bring_up,
    gate_detectors,
    heralds,
    keep_only_heralded_syncs,
)
from labctl.data.archive import RunData
from labctl.engine.experiment import Block, Experiment, RunContext


@dataclass(frozen=True)
class HeraldRateConfig:
    """``alpha``: bright-state population; ``blocks`` of ``block_seconds`` each."""

    alpha: float = 0.1
    blocks: int = 10
    block_seconds: float = 10.0
    period: float = 5.5e-6
    conditional_filter: bool = True

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must be within (0, 1), got {self.alpha}")
        if self.blocks < 1:
            raise ValueError(f"blocks must be at least 1, got {self.blocks}")
        if not 0.0 < self.block_seconds <= 3600.0:
            raise ValueError(f"block_seconds must be within (0, 3600], got {self.block_seconds}")
        if not 1e-6 <= self.period <= 1e-3:
            raise ValueError(f"period must be within [1e-6, 1e-3] s, got {self.period}")


@dataclass(frozen=True)
class HeraldRateResult:
    herald_rate_hz: float
    herald_rate_err_hz: float
    heralds: int
    seconds: float
    blocks: int


class HeraldRate(Experiment[HeraldRateConfig]):
    """Heralded-entanglement attempts; counts heralds per block."""

    name: ClassVar[str] = "herald_rate"
    description: ClassVar[str] = "single-click attempts: herald rate with its Poisson error"
    config_type: ClassVar[type[Any]] = HeraldRateConfig
    value_names: ClassVar[tuple[str, ...]] = ("seconds", "attempts", "heralds", "clicks")

    def prepare(self, context: RunContext) -> None:
        config = self.config
        bring_up(context.station, AttemptDesign(alpha=config.alpha, period=config.period))
        if config.conditional_filter:
            keep_only_heralded_syncs(context.station)
            gate_detectors(context.station)

    def acquire(self, context: RunContext, index: int) -> Block:
        config = self.config
        channels, timestamps = acquire(context.station, config.block_seconds)
        found = heralds(context.station, channels, timestamps)
        return Block(
            values={"seconds": config.block_seconds,
                    "attempts": math.floor(config.block_seconds / config.period),
                    "heralds": found.count, "clicks": found.clicks_in_windows},
            arrays={"channels": channels.astype(np.uint8), "timestamps_ps": timestamps},
            progress={"heralds": found.count, "seconds": config.block_seconds})

    @classmethod
    def plot(cls, data: RunData, result: HeraldRateResult, path: object) -> bool:
        from labctl.report.run_plots import per_block

        rates = data.values["heralds"] / data.values["seconds"]
        per_block(path, {"herald rate (Hz)": rates.tolist()},  # type: ignore[arg-type]
                  title=f"run {data.info.run_id}: {result.herald_rate_hz:.2f} ± "
                        f"{result.herald_rate_err_hz:.2f} Hz")
        return True

    @classmethod
    def analyze(cls, data: RunData) -> HeraldRateResult:
        seconds = float(data.values["seconds"].sum())
        count = int(data.values["heralds"].sum())
        if seconds <= 0:
            raise ValueError("no measured time in this run")
        return HeraldRateResult(herald_rate_hz=count / seconds,
                                herald_rate_err_hz=math.sqrt(max(count, 1)) / seconds,
                                heralds=count, seconds=seconds, blocks=len(data.blocks))
