"""JSON-ready summaries of a station: each instrument's role, address and parameter values."""

from __future__ import annotations

from typing import Any

from qcodes.instrument import Instrument

from labctl.station import LabStation


def flatten_parameters(snapshot: dict[str, Any], prefix: str = "") -> dict[str, dict[str, Any]]:
    """``{'ch1.bias_current': {'value': .., 'unit': ..}, ...}`` from a QCoDeS snapshot."""
    flat: dict[str, dict[str, Any]] = {}
    for name, parameter in snapshot.get("parameters", {}).items():
        if name in ("IDN", "timeout"):
            continue
        flat[prefix + name] = {"value": parameter.get("value"),
                               "unit": parameter.get("unit", "")}
    submodules = snapshot.get("submodules", {})
    direct = {module.get("name") for module in submodules.values()}
    for name, submodule in submodules.items():
        if "parameters" in submodule or "submodules" in submodule:
            flat.update(flatten_parameters(submodule, f"{prefix}{name}."))
        elif "channels" in submodule:  # a ChannelList; its channels may also be submodules
            for full_name, channel in submodule["channels"].items():
                if full_name not in direct:
                    flat.update(flatten_parameters(channel, f"{prefix}{full_name}."))
    return flat


def instrument_summary(station: LabStation, instrument: Instrument) -> dict[str, Any]:
    """One instrument: what it is, where it is, and what its parameters read now."""
    spec = next(s for s in station.spec.instruments if s.name == instrument.name)
    snapshot = instrument.snapshot(update=True)
    return {
        "name": instrument.name,
        "node": spec.node,
        "role": spec.role,
        "driver": f"{spec.driver.__module__}.{spec.driver.__qualname__}",
        "address": spec.qcodes_config.get("address"),
        "idn": instrument.IDN.get() if "IDN" in instrument.parameters else None,
        "safety_limits": {limit.parameter: [limit.lower, limit.upper]
                          for limit in spec.safety_limits},
        "parameters": flatten_parameters(snapshot),
    }


def station_summary(station: LabStation) -> dict[str, Any]:
    """The whole station: file, profile and every instrument's summary."""
    return {
        "station": str(station.spec.path),
        "profile": station.profile,
        "description": station.spec.description,
        "instruments": [instrument_summary(station, instrument)
                        for instrument in station.loaded_instruments()],
    }
