"""A run's station snapshot, summarised per instrument for a report.

The snapshot the engine archives is QCoDeS's: drivers, addresses and every
parameter value when the run started. Nodes and roles are labctl's and live
only in the station file, so they are read from it (as it is now, without
contacting anything); when it cannot be read the summary says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labctl import station as station_module
from labctl.errors import LabctlError
from labctl.report.formatting import format_scalar
from labctl.summary import flatten_parameters

#: Words that make a parameter a "key" value, shown without unfolding the full list.
KEY_WORDS: tuple[str, ...] = ("output", "power", "wavelength", "frequency", "bias",
                              "temperature", "state", "status", "emission", "sample_rate")
#: At most this many key values per instrument.
MAX_KEY_VALUES = 8


@dataclass(frozen=True)
class InstrumentRow:
    """One instrument as the snapshot (and the station file) describe it."""

    name: str
    driver: str
    node: str | None
    role: str | None
    identity: str
    address: str | None
    #: ``(parameter, "value unit")`` of the key parameters.
    key_values: tuple[tuple[str, str], ...]
    #: ``(parameter, "value unit")`` of every parameter.
    parameters: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class StationRoles:
    """Node and role of each instrument by name, or why they are unknown."""

    roles: Mapping[str, tuple[str | None, str | None]]
    note: str | None = None


def station_roles(station_path: str, profile: str) -> StationRoles:
    """Nodes and roles from the station file the run used, read without connecting."""
    if not station_path:
        return StationRoles({}, "the run did not record its station file")
    try:
        spec = station_module.read_spec(Path(station_path), profile)
    except LabctlError as error:
        return StationRoles({}, f"nodes and roles unknown: {error}")
    return StationRoles({s.name: (s.node, s.role) for s in spec.instruments},
                        f"nodes and roles from {station_path} as it is now")


def summarise_snapshot(snapshot: Mapping[str, Any],
                       roles: StationRoles) -> tuple[InstrumentRow, ...]:
    """Every instrument of a station snapshot, in the snapshot's order."""
    instruments = snapshot.get("instruments", {})
    if not isinstance(instruments, Mapping):
        return ()
    return tuple(_instrument(name, entry, roles.roles.get(name, (None, None)))
                 for name, entry in instruments.items() if isinstance(entry, Mapping))


def _instrument(name: str, entry: Mapping[str, Any],
                node_role: tuple[str | None, str | None]) -> InstrumentRow:
    flat = flatten_parameters(dict(entry))
    parameters = tuple((parameter, _value_text(reading)) for parameter, reading in flat.items())
    key_values = tuple((parameter, text) for parameter, text in parameters
                       if _is_key(parameter) and flat[parameter].get("value") is not None)
    address = entry.get("address")
    return InstrumentRow(
        name=str(name), driver=str(entry.get("__class__", "")), node=node_role[0],
        role=node_role[1], identity=_identity(entry), address=None if address is None
        else str(address), key_values=key_values[:MAX_KEY_VALUES], parameters=parameters)


def _identity(entry: Mapping[str, Any]) -> str:
    idn = entry.get("parameters", {}).get("IDN", {}).get("value")
    if not isinstance(idn, Mapping):
        return ""
    parts = [str(idn[key]) for key in ("vendor", "model") if idn.get(key)]
    if idn.get("serial"):
        parts.append(f"s/n {idn['serial']}")
    if idn.get("firmware"):
        parts.append(f"fw {idn['firmware']}")
    return " ".join(parts)


def _is_key(parameter: str) -> bool:
    leaf = parameter.rsplit(".", 1)[-1].lower()
    return any(word in leaf for word in KEY_WORDS)


def _value_text(reading: Mapping[str, Any]) -> str:
    text = format_scalar(reading.get("value"))
    unit = reading.get("unit") or ""
    return f"{text} {unit}" if unit and reading.get("value") is not None else text
