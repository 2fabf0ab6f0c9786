"""Day one in a lab: contact every instrument of a station and say what each one is.

`contact_station` connects the instruments of one profile one at a time (a
unit that does not answer does not stop the others) and reads from each its
identity, its options (where the driver reads them), the limits its
parameters enforce (the station's safety limits applied) and its error queue
(where the driver has one). Each instrument ends up as a `ContactReport`:

- ``ok``: it answered, it is the model its driver drives, its queue is empty;
- ``wrong``: it answered, but as another model, or with errors queued;
- ``missing``: it could not be connected (the reason says why).

A driver says which units it drives with a class attribute
``expected_model``: a regular expression searched in the model field of the
``*IDN?`` reply (`qcodes.instrument.Instrument.get_idn`); an adapter may say
it for a driver labctl did not write.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol

from qcodes.instrument import Instrument, InstrumentBase
from qcodes.parameters import Parameter

from labctl.errors import LabctlError, StationError
from labctl.safety import numeric_range
from labctl.station import (
    InstrumentSpec,
    LabStation,
    connect_instrument,
    open_station,
    read_spec,
)

log = logging.getLogger(__name__)

ContactState = Literal["ok", "wrong", "missing"]


class DeclaresModel(Protocol):
    """A driver (or adapter) that says which units it drives."""

    #: A regular expression searched in the model field of the unit's identity.
    expected_model: ClassVar[str]


@dataclass(frozen=True)
class ContactReport:
    """What one instrument said when contacted."""

    name: str
    state: ContactState
    address: str
    identity: str = ""
    options: tuple[str, ...] = ()
    #: ``parameter -> (lower, upper, unit)`` of the station's safety-limited parameters.
    limits: tuple[tuple[str, float | None, float | None, str], ...] = ()
    #: The error-queue entries read (None: the driver reads no error queue).
    errors: tuple[str, ...] | None = None
    problem: str = ""

    def line(self, width: int = 0) -> str:
        """One line for a person: the name, the verdict, what it is, what is wrong."""
        head = f"{self.name:<{width}}  {self.state:<7}"
        if self.state == "missing":
            return f"{head}  {self.problem}"
        parts = [self.identity or "no identity"]
        if self.options:
            parts.append("options " + ",".join(self.options))
        for name, lower, upper, unit in self.limits:
            parts.append(f"{name} {_bound(lower)}..{_bound(upper)} {unit}".rstrip())
        if self.errors is not None:
            parts.append("error queue " + ("; ".join(self.errors) or "empty"))
        if self.problem:
            parts.append(self.problem)
        return f"{head}  " + "  ·  ".join(p for p in parts if p)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "state": self.state, "address": self.address,
                "identity": self.identity, "options": list(self.options),
                "limits": {n: [lo, hi, unit] for n, lo, hi, unit in self.limits},
                "errors": None if self.errors is None else list(self.errors),
                "problem": self.problem}


def contact_station(path: str, profile: str) -> list[ContactReport]:
    """Contact every instrument of ``profile``; one report each, in file order.

    The station file is checked first (a `StationError` before anything is
    contacted); after that no instrument's failure stops the others.
    """
    spec = read_spec(path, profile)
    station = open_station(spec)
    try:
        return [_contact(station, instrument) for instrument in station.spec.instruments]
    finally:
        station.close()


def contact_lines(reports: Iterable[ContactReport]) -> list[str]:
    reports = list(reports)
    width = max((len(r.name) for r in reports), default=0)
    return [report.line(width) for report in reports]


def _contact(station: LabStation, spec: InstrumentSpec) -> ContactReport:
    address = str(spec.remote.address if spec.remote is not None
                  else spec.qcodes_config.get("address", ""))
    try:
        connect_instrument(station, spec)
    except StationError as error:
        return ContactReport(spec.name, "missing", address, problem=error.message)
    except LabctlError as error:
        return ContactReport(spec.name, "missing", address, problem=_reason(error))
    instrument = station.components[spec.name]
    assert isinstance(instrument, Instrument)
    try:
        idn = instrument.get_idn()
    except Exception as error:  # a unit that connects but cannot say what it is
        log.warning("%s does not answer *IDN?", spec.name, exc_info=True)
        return ContactReport(spec.name, "missing", address,
                             problem=f"does not answer its identity query: {_reason(error)}")
    problems = []
    if not any(idn.get(k) for k in ("vendor", "serial", "firmware")) and \
            idn.get("model") == instrument.name:   # QCoDeS's stand-in for an unreadable reply
        idn = {}
        problems.append("its identity reply could not be read")
    identity = " ".join(str(idn[k]) for k in ("vendor", "model", "serial", "firmware")
                        if idn.get(k))
    expected = _expected_model(station, spec)
    if idn and expected is not None and not re.search(expected, str(idn.get("model") or "")):
        problems.append(f"answers as {identity or 'nothing'!r}, not the model "
                        f"{spec.driver.__name__} drives ({expected})")
    options, trouble = _read(instrument, "options", _options)
    problems.extend(trouble)
    errors: tuple[str, ...] | None = None
    if callable(getattr(instrument, "drain_error_queue", None)):
        errors, trouble = _read(instrument, "drain_error_queue", _errors)
        problems.extend(trouble)
    limits = tuple(_limit(instrument, limit.parameter) for limit in spec.safety_limits)
    state: ContactState = "wrong" if problems or errors else "ok"
    return ContactReport(spec.name, state, address, identity, options, limits, errors,
                         "; ".join(problems))


def _expected_model(station: LabStation, spec: InstrumentSpec) -> str | None:
    """`DeclaresModel.expected_model` of the driver, else of the station's adapter."""
    for source in (spec.driver, spec.adapter):
        pattern = getattr(source, "expected_model", None)
        if isinstance(pattern, str):
            return pattern
    return None


def _options(source: object) -> tuple[str, ...]:
    value: Any = source() if callable(source) else source
    if isinstance(value, str):
        value = [v for v in (p.strip() for p in value.split(",")) if v and v != "0"]
    return tuple(str(v) for v in value or ())


def _errors(source: object) -> tuple[str, ...]:
    assert callable(source)
    return tuple(str(entry) for entry in source())


def _read(instrument: Instrument, attribute: str,
          convert: Callable[[object], tuple[str, ...]]) -> tuple[tuple[str, ...], list[str]]:
    """What ``attribute`` of the driver gives (nothing if it has none) and any failure."""
    source = getattr(instrument, attribute, None)
    if source is None:
        return (), []
    try:
        return convert(source), []
    except Exception as error:  # reported on the instrument's line, not raised
        log.warning("%s: %s failed", instrument.name, attribute, exc_info=True)
        return (), [f"{attribute.replace('_', ' ')} failed: {_reason(error)}"]


def _limit(instrument: InstrumentBase,
           dotted: str) -> tuple[str, float | None, float | None, str]:
    """The range a safety-limited parameter allows now (all its validators together)."""
    node: Any = instrument
    for part in dotted.split("."):
        node = node.submodules.get(part) if part in getattr(node, "submodules", {}) \
            else node.parameters.get(part)
    if not isinstance(node, Parameter):
        return dotted, None, None, ""
    lower, upper = numeric_range(node)
    return dotted, _finite(lower), _finite(upper), node.unit


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _bound(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _reason(error: BaseException) -> str:
    text = str(error.args[0]) if error.args else type(error).__name__
    text = " ".join(text.split())
    return text if len(text) <= 200 else text[:197] + "..."


