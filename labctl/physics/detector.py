"""Single-photon detectors: SNSPD efficiency and dark counts as functions of bias current.

The efficiency rises with bias as a logistic step to a plateau (the
saturation seen in SNSPD bias scans, Marsili et al., Nat. Photon. 7, 210
(2013)); the dark-count rate is a floor (blackbody and stray light) plus an
intrinsic part growing exponentially towards the switching current, above
which the nanowire latches. Defaults follow physics.md section 5: > 90 %
efficiency, ~1 cps dark counts at the operating point, 50 ps jitter, 40 ns
reset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from labctl.physics import checks


@dataclass(frozen=True)
class Detector:
    """An SNSPD at bias current ``bias`` (A)."""

    max_efficiency: float = 0.92
    half_efficiency_bias: float = 9.0e-6
    efficiency_width: float = 0.8e-6
    switching_current: float = 22.0e-6
    dark_count_floor: float = 1.0
    intrinsic_dark_rate: float = 1.0e5
    dark_count_slope: float = 0.6e-6
    jitter: float = 50e-12
    dead_time: float = 40e-9
    bias: float = 15.0e-6

    def __post_init__(self) -> None:
        checks.probability("max_efficiency", self.max_efficiency)
        checks.positive("half_efficiency_bias", self.half_efficiency_bias)
        checks.positive("efficiency_width", self.efficiency_width)
        checks.positive("switching_current", self.switching_current)
        checks.non_negative("dark_count_floor", self.dark_count_floor)
        checks.non_negative("intrinsic_dark_rate", self.intrinsic_dark_rate)
        checks.positive("dark_count_slope", self.dark_count_slope)
        checks.non_negative("jitter", self.jitter)
        checks.non_negative("dead_time", self.dead_time)
        checks.non_negative("bias", self.bias)

    def efficiency_at(self, bias: float) -> float:
        """Detection efficiency at bias current ``bias`` (0 when latched)."""
        bias = checks.non_negative("bias", bias)
        if self.latched_at(bias):
            return 0.0
        step = (bias - self.half_efficiency_bias) / self.efficiency_width
        return self.max_efficiency / (1.0 + math.exp(-step))

    def dark_count_rate_at(self, bias: float) -> float:
        """Dark-count rate at bias current ``bias``, Hz (0 when latched)."""
        bias = checks.non_negative("bias", bias)
        if self.latched_at(bias):
            return 0.0
        intrinsic = self.intrinsic_dark_rate * math.exp(
            (bias - self.switching_current) / self.dark_count_slope)
        return self.dark_count_floor + intrinsic

    def latched_at(self, bias: float) -> bool:
        """A bias at or above the switching current latches the nanowire (no counts)."""
        return bias >= self.switching_current

    @property
    def efficiency(self) -> float:
        """Efficiency at the operating bias."""
        return self.efficiency_at(self.bias)

    @property
    def dark_count_rate(self) -> float:
        """Dark-count rate at the operating bias, Hz."""
        return self.dark_count_rate_at(self.bias)


def dark_click_probability(rate: float, window: float) -> float:
    """p_dc = 1 - exp(-R Δt): at least one dark count in a window (physics.md section 2)."""
    checks.non_negative("dark count rate", rate)
    checks.non_negative("window", window)
    return -math.expm1(-rate * window)
