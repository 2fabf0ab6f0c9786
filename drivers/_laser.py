"""What labctl's laser drivers share in their adapters: the same parameter names.

labctl's CW-laser drivers (TLB-6700, TSL-570) name their parameters alike —
``wavelength_nm`` (setpoint, nm), ``power`` (setpoint, W), ``power_actual``
(measured, W), ``output`` (emission) — and each has ``safe_state()``. An
adapter for such a driver only adds how the unit reports its wavelength and
its lock.
"""

from __future__ import annotations

from typing import Any

from labctl.instruments.adapter import Adapter
from labctl.instruments.laser import LaserStatus


class ParameterLaser(Adapter[Any]):
    """A `labctl.instruments.Laser` over a labctl laser driver's parameters."""

    def set_wavelength_nm(self, wavelength_nm: float) -> None:
        self.instrument.wavelength_nm(wavelength_nm)

    def wavelength_nm(self) -> float:
        return float(self.instrument.wavelength_nm())

    def set_power_w(self, power_w: float) -> None:
        self.instrument.power(power_w)

    def power_w(self) -> float:
        return float(self.instrument.power_actual())

    def set_emission(self, on: bool) -> None:
        self.instrument.output(on)

    def status(self) -> LaserStatus:
        """Emission as set; a unit without lock or alarm queries reports them clear."""
        return LaserStatus(emission=bool(self.instrument.output()), locked=True)

    def safe_state(self) -> None:
        self.instrument.safe_state()
