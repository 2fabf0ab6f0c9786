"""The station clock: how experiments wait (wall time in the lab, virtual time in simulation)."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """What experiments and drivers use instead of `time.sleep` and `time.time`."""

    def now(self) -> float:
        """Seconds since an arbitrary, fixed origin."""

    def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass on this clock."""


class WallClock:
    """The lab's clock: real (monotonic) time."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"cannot sleep a negative time ({seconds} s)")
        time.sleep(seconds)
