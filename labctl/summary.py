"""JSON-ready summaries of a station: each instrument's role, address and parameter values."""

from __future__ import annotations

import logging
from typing import Any

from pyvisa.errors import VisaIOError
from qcodes.instrument import Instrument

from labctl.errors import TransportError
from labctl.station import LabStation

log = logging.getLogger(__name__)


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
    """One instrument: what it is, where it is, and what its parameters read now.

    An instrument that does not answer its identity query is summarised with
    ``error`` set and no parameters, instead of stopping the whole summary.
    """
    spec = next(s for s in station.spec.instruments if s.name == instrument.name)
    summary: dict[str, Any] = {
        "name": instrument.name,
        "node": spec.node,
        "role": spec.role,
        "driver": f"{spec.driver.__module__}.{spec.driver.__qualname__}",
        "address": spec.qcodes_config.get("address"),
        "idn": None,
        "error": None,
        "safety_limits": {limit.parameter: [limit.lower, limit.upper]
                          for limit in spec.safety_limits},
        "parameters": {},
    }
    try:
        _probe(instrument)  # a dead instrument costs one timeout, not one per parameter
    except (VisaIOError, OSError, UnicodeDecodeError, TransportError) as error:  # carry on
        log.warning("%s does not answer: %s", instrument.name, _first_line(error))
        summary["error"] = f"not answering: {_first_line(error)}"
        return summary
    idn = instrument.IDN.get()
    summary["idn"] = idn
    summary["parameters"] = flatten_parameters(instrument.snapshot(update=True))
    return summary


def _probe(instrument: Instrument) -> None:
    """Ask the unit who it is once: ``*IDN?`` where the driver talks text, else its
    own `get_idn` (a driver over a vendor library or a JSON protocol)."""
    if type(instrument).ask_raw is not Instrument.ask_raw:
        instrument.ask("*IDN?")
    else:
        instrument.get_idn()


def _first_line(error: BaseException) -> str:
    text = str(error.args[0]) if error.args else type(error).__name__
    return " ".join(text.split())


def station_summary(station: LabStation) -> dict[str, Any]:
    """The whole station: file, profile and every instrument's summary."""
    return {
        "station": str(station.spec.path),
        "profile": station.profile,
        "description": station.spec.description,
        "instruments": [instrument_summary(station, instrument)
                        for instrument in station.loaded_instruments()],
    }
