"""Which capability each role of a station file needs, and how a driver provides it.

An instrument provides its role's capability through an adapter class: the
one its station entry names (``adapter: package.module.Class``, for drivers
labctl did not write, such as QCoDeS's own), else the one its driver class
declares (``capability_adapter``), else the driver class itself if it has the
capability's methods. The adapter is built as ``Adapter(instrument)`` around
the connected instrument (or its remote proxy). Whether a class provides a
capability is checked on the class, so a station file is checked before any
instrument is contacted.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from labctl.instruments.converter import FrequencyConverter
from labctl.instruments.detector import SinglePhotonDetectors
from labctl.instruments.laser import Laser
from labctl.instruments.microwave import MicrowaveSource
from labctl.instruments.ports import NamedPorts
from labctl.instruments.sequencer import PulseSequencer
from labctl.instruments.tagger import TimeTagger
from labctl.pulses.wiring import parse_wiring

#: The driver class attribute that names its adapter class.
ADAPTER_ATTRIBUTE = "capability_adapter"


@dataclass(frozen=True)
class Role:
    """A role's capability, what it is called in messages, and how its wiring is read."""

    capability: type
    description: str
    #: Checks the instrument's ``wiring:`` (raises `ValueError`) and returns it parsed.
    wiring: Callable[[str, Mapping[str, Any]], Any]


def _ports(instrument: str, wiring: Mapping[str, Any]) -> NamedPorts:
    return NamedPorts.parse(instrument, wiring)


def _awg(instrument: str, wiring: Mapping[str, Any]) -> Any:
    return parse_wiring(wiring)


def _none(instrument: str, wiring: Mapping[str, Any]) -> Mapping[str, Any]:
    return dict(wiring)


#: The roles a station file may give, by name.
ROLES: Mapping[str, Role] = {
    "time_tagger": Role(TimeTagger, "a time tagger", _ports),
    "awg": Role(PulseSequencer, "a pulse sequencer", _awg),
    "excitation_laser": Role(Laser, "a laser", _none),
    "phase_reference_laser": Role(Laser, "a laser", _none),
    "mw_source": Role(MicrowaveSource, "a microwave source", _none),
    "snspd": Role(SinglePhotonDetectors, "single-photon detectors", _ports),
    "frequency_converter": Role(FrequencyConverter, "a frequency converter", _none),
}


def protocol_members(protocol: type) -> tuple[str, ...]:
    """The method names a capability protocol declares (its own and inherited ones)."""
    names: dict[str, None] = {}
    for base in reversed(protocol.__mro__):
        if base in (object, Protocol) or base.__module__ == "typing":
            continue
        for name, value in vars(base).items():
            if not name.startswith("_") and inspect.isfunction(value):
                names[name] = None
    return tuple(names)


def missing_members(cls: type, protocol: type) -> tuple[str, ...]:
    """The capability's methods ``cls`` does not have (empty: it provides the capability)."""
    return tuple(name for name in protocol_members(protocol)
                 if not callable(getattr(cls, name, None)))


def adapter_class(driver: type, adapter: type | None = None) -> type:
    """The class that provides the driver's capability (see the module docstring)."""
    if adapter is not None:
        return adapter
    declared = getattr(driver, ADAPTER_ATTRIBUTE, None)
    return declared if isinstance(declared, type) else driver


def build_capability(instrument: object, adapter: type | None = None) -> object:
    """The capability object of a connected instrument (itself, or its adapter around it)."""
    cls = adapter_class(type(instrument), adapter)
    return instrument if isinstance(instrument, cls) else cls(instrument)
