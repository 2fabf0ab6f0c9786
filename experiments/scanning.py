"""Linear scans: configs with ``start``, ``stop`` and ``steps`` measure one block per point."""

from __future__ import annotations

import numpy as np


class LinearScan:
    """Mixin for frozen scan configs (declare ``start``, ``stop``, ``steps`` as fields)."""

    start: float
    stop: float
    steps: int

    @property
    def blocks(self) -> int:
        return self.steps

    def point(self, index: int) -> float:
        """The scanned value of block ``index``."""
        return float(np.linspace(self.start, self.stop, self.steps)[index])
