"""Named ports: an instrument's inputs or outputs by the names its ``wiring:`` gives them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from labctl.errors import LabctlError


@dataclass(frozen=True)
class NamedPorts:
    """``{name: port number}`` of one instrument, from the station file's ``wiring:``."""

    instrument: str
    ports: Mapping[str, int]

    @classmethod
    def parse(cls, instrument: str, wiring: Mapping[str, Any]) -> NamedPorts:
        """Check a ``{name: number}`` wiring; `ValueError` naming the bad entry."""
        ports: dict[str, int] = {}
        for name, value in wiring.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"wiring {name!r} must be a port number, got {value!r}")
            ports[str(name)] = value
        numbers = list(ports.values())
        if len(set(numbers)) != len(numbers):
            twice = sorted({n for n in numbers if numbers.count(n) > 1})
            raise ValueError(f"wiring gives port(s) {twice} more than one name")
        return cls(instrument, ports)

    def number(self, name: str) -> int:
        """The port wired as ``name``; `LabctlError` naming the instrument and the known names."""
        try:
            return self.ports[name]
        except KeyError:
            known = ", ".join(sorted(self.ports)) or "none"
            raise LabctlError(f"{self.instrument}: the station's wiring names no port "
                              f"{name!r} (wired: {known})") from None

    def numbers(self, names: Iterable[str]) -> tuple[int, ...]:
        return tuple(self.number(name) for name in names)

    def __contains__(self, name: object) -> bool:
        return name in self.ports
