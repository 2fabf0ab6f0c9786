"""The laser capability: wavelength, power, emission, and whether it is locked and alarm-free."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class LaserStatus:
    """What a laser reports about itself.

    ``locked``: the wavelength is locked (or stabilised) where the unit has a
    lock, else True; ``alarm``: the unit's alarm or interlock message, None
    when it reports none.
    """

    emission: bool
    locked: bool
    alarm: str | None = None

    @property
    def healthy(self) -> bool:
        return self.locked and self.alarm is None


@runtime_checkable
class Laser(Protocol):
    """A tunable CW laser (excitation or phase reference)."""

    def set_wavelength_nm(self, wavelength_nm: float) -> None: ...
    def wavelength_nm(self) -> float: ...
    def set_power_w(self, power_w: float) -> None: ...
    def power_w(self) -> float: ...
    def set_emission(self, on: bool) -> None: ...
    def status(self) -> LaserStatus: ...
    def safe_state(self) -> None: ...
