"""Dark counts of the heralding detectors: their count rates on the tagger, lasers and pumps off."""

from dataclasses import dataclass
from typing import Any, ClassVar

from experiments.bringup import DETECTORS, HERALDING, NODES
from labctl.data.archive import RunData
from labctl.engine.experiment import Block, Experiment, RunContext


@dataclass(frozen=True)
class DarkCountsConfig:
    blocks: int = 5
    block_seconds: float = 10.0
    bias_a: float = 15e-6


class DarkCounts(Experiment[DarkCountsConfig]):
    name: ClassVar[str] = "dark_counts"
    description: ClassVar[str] = "heralding detectors' dark-count rates (lasers and pumps off)"
    config_type: ClassVar[type[Any]] = DarkCountsConfig
    value_names: ClassVar[tuple[str, ...]] = ("seconds", *DETECTORS)

    def prepare(self, context: RunContext) -> None:
        for node in NODES:
            context.station.sequencer(node).stop()
            context.station.converter(node).set_pump_emission(False)
        context.station.laser("phase_reference_laser", HERALDING).set_emission(False)
        context.station.detectors(HERALDING).bias_all(self.config.bias_a)

    def acquire(self, context: RunContext, index: int) -> Block:
        rates = context.station.tagger(HERALDING).count_rates_hz(DETECTORS,
                                                                 self.config.block_seconds)
        return Block(values={"seconds": self.config.block_seconds, **rates}, progress=rates)

    @classmethod
    def analyze(cls, data: RunData) -> dict[str, tuple[float, float]]:
        """Each detector's rate (Hz) and its Poisson error over the whole run."""
        seconds = float(data.values["seconds"].sum())
        counts = {d: float((data.values[d] * data.values["seconds"]).sum()) for d in DETECTORS}
        return {d: (n / seconds, max(n, 1.0) ** 0.5 / seconds) for d, n in counts.items()}
