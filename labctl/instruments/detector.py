"""The single-photon-detector capability: bias, count rate, latch and reset, per channel."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from labctl.instruments.ports import NamedPorts


@runtime_checkable
class SinglePhotonDetectors(Protocol):
    """A detector controller (e.g. an SNSPD driver) with numbered channels."""

    def detector_channels(self) -> tuple[int, ...]: ...
    def set_bias_a(self, channel: int, bias_a: float) -> None: ...
    def bias_a(self, channel: int) -> float: ...
    def set_bias_enabled(self, channel: int, on: bool) -> None: ...
    def count_rate_hz(self, channel: int) -> float: ...
    def is_latched(self, channel: int) -> bool: ...
    def reset_latch(self, channel: int) -> None: ...
    def safe_state(self) -> None: ...


class DetectorView:
    """The detectors by the names the station's wiring gives them (``herald_plus`` ...)."""

    def __init__(self, detectors: SinglePhotonDetectors, ports: NamedPorts) -> None:
        self.device = detectors
        self.ports = ports

    def names(self) -> tuple[str, ...]:
        return tuple(self.ports.ports)

    def set_bias_a(self, name: str, bias_a: float) -> None:
        self.device.set_bias_a(self.ports.number(name), bias_a)

    def bias_a(self, name: str) -> float:
        return self.device.bias_a(self.ports.number(name))

    def set_bias_enabled(self, name: str, on: bool) -> None:
        self.device.set_bias_enabled(self.ports.number(name), on)

    def count_rate_hz(self, name: str) -> float:
        return self.device.count_rate_hz(self.ports.number(name))

    def is_latched(self, name: str) -> bool:
        return self.device.is_latched(self.ports.number(name))

    def reset_latch(self, name: str) -> None:
        self.device.reset_latch(self.ports.number(name))

    def bias_all(self, bias_a: float) -> None:
        """Every wired detector biased at ``bias_a`` and on."""
        for name in self.names():
            self.set_bias_a(name, bias_a)
            self.set_bias_enabled(name, True)
