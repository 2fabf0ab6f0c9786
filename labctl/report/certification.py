"""A stage certification (``labctl certify --json``): checked on reading, rendered as HTML.

The JSON document::

    {"station": str, "profile": str, "stage": str,
     "scope": "link" | "network",                          # optional (older files: none)
     "note": str,                                          # optional, shown with the stage
     "stages": {STAGE: {"attained": true | false | null,    # null: not testable
                        "reason": str,
                        "parameters": {NAME: {"value": float, "low": float, "high": float}},
                        "thresholds": {NAME: float},
                        "margin": float | null,
                        "runs": [run id, ...],
                        "limiting": str | null}}}           # optional: the pair or node

``stage`` is the highest stage attained; a ``link`` scope (fewer than three
end nodes) is shown as a link-level stage. Stages are shown in the order of
`STAGE_ORDER` (the review's Table 1), any others after them in file order.
A document that does not follow the schema is refused with one line naming
the key.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any, NoReturn

from labctl.errors import LabctlError
from labctl.report.formatting import format_interval, format_number, format_signed

#: The stages labctl certifies, lowest first.
STAGE_ORDER: tuple[str, ...] = ("prepare_and_measure", "entanglement_distribution",
                                "quantum_memory")
_STAGE_TITLES: Mapping[str, str] = {
    "prepare_and_measure": "Prepare and measure",
    "entanglement_distribution": "Entanglement distribution",
    "quantum_memory": "Quantum memory",
}
_NO_STAGE = ("", "none", "null")


class CertificationError(LabctlError):
    """A certification file cannot be read or does not follow the schema."""


@dataclass(frozen=True)
class Estimate:
    """A measured parameter with its confidence interval."""

    value: float
    low: float
    high: float


@dataclass(frozen=True)
class StageResult:
    """Whether one stage is attained (None: not testable), why, and from what."""

    name: str
    attained: bool | None
    reason: str
    parameters: Mapping[str, Estimate]
    thresholds: Mapping[str, float]
    margin: float | None
    runs: tuple[int, ...]
    limiting: str | None = None


@dataclass(frozen=True)
class Certification:
    """Which stage a station's link attains, stage by stage."""

    station: str
    profile: str
    stage: str
    stages: tuple[StageResult, ...]
    scope: str = ""
    note: str = ""

    @property
    def run_ids(self) -> tuple[int, ...]:
        """Every run any stage is based on, in order of first mention."""
        return tuple(dict.fromkeys(run for stage in self.stages for run in stage.runs))


def stage_title(name: str) -> str:
    """``entanglement_distribution`` → ``Entanglement distribution``."""
    return _STAGE_TITLES.get(name, name.replace("_", " ").capitalize())


def load_certification(path: str | Path) -> Certification:
    """Read and check a certification JSON file."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise CertificationError(f"cannot read the certification {source}: {reason}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise CertificationError(f"certification {source} is not valid JSON: {error.msg} "
                                 f"(line {error.lineno}, column {error.colno})") from None
    return parse_certification(document, str(source))


def parse_certification(document: Any, source: str = "certification") -> Certification:
    """Check a decoded certification document against the schema; one-line errors."""
    top = _mapping(source, "", document)
    stages = _mapping(source, "stages", top.get("stages"))
    parsed = [_stage(source, name, entry) for name, entry in stages.items()]
    known = [s for name in STAGE_ORDER for s in parsed if s.name == name]
    others = [s for s in parsed if s.name not in STAGE_ORDER]
    stage = top.get("stage")
    return Certification(station=_text(source, "station", top.get("station")),
                         profile=_text(source, "profile", top.get("profile")),
                         stage="" if stage is None else _text(source, "stage", stage),
                         stages=tuple(known + others),
                         scope=_text(source, "scope", top.get("scope", "")),
                         note=_text(source, "note", top.get("note", "")))


def certification_html(certification: Certification, reported_runs: Collection[int]) -> str:
    """The certification section: the highest stage, then a row per stage."""
    rows = "".join(_stage_row(stage, reported_runs) for stage in certification.stages)
    table = ('<table class="stages"><tr><th>stage</th><th>attained</th><th>margin</th>'
             '<th>parameters</th><th>thresholds</th><th>runs</th><th>reason</th></tr>'
             f'{rows}</table>') if rows else '<p class="empty">(no stages)</p>'
    return ('<section id="certification"><h2>Certification</h2>'
            f'<p class="where">station <code>{escape(certification.station)}</code>, profile '
            f'<code>{escape(certification.profile)}</code></p>'
            f'{highest_stage_html(certification)}{table}</section>')


def highest_stage_html(certification: Certification) -> str:
    """The banner naming the highest stage attained."""
    stage = certification.stage
    note = f' <span class="note">({escape(certification.note)})</span>' \
        if certification.note else ""
    if stage.strip().lower() in _NO_STAGE:
        return f'<p class="highest none">No stage attained{note}</p>'
    level = "link-level stage" if certification.scope == "link" else "stage"
    return (f'<p class="highest">Highest {level} attained: '
            f'<strong>{escape(stage_title(stage))}</strong> <code>{escape(stage)}</code>'
            f'{note}</p>')


def _stage_row(stage: StageResult, reported_runs: Collection[int]) -> str:
    attained = {True: ("attained", "attained"), False: ("not-attained", "not attained"),
                None: ("untestable", "not testable")}[stage.attained]
    parameters = "<br>".join(
        f"{escape(name)} = {escape(format_interval(e.value, e.low, e.high))}"
        for name, e in stage.parameters.items()) or "—"
    thresholds = "<br>".join(f"{escape(name)}: {escape(format_number(value))}"
                             for name, value in stage.thresholds.items()) or "—"
    runs = ", ".join(_run_link(run, reported_runs) for run in stage.runs) or "—"
    limiting = f'<br><span class="limiting">limited by {escape(stage.limiting)}</span>' \
        if stage.limiting else ""
    return (f'<tr class="{attained[0]}" id="stage-{escape(stage.name)}">'
            f'<th>{escape(stage_title(stage.name))}<br><code>{escape(stage.name)}</code></th>'
            f'<td class="verdict">{attained[1]}</td>'
            f'<td>{escape(format_signed(stage.margin))}</td>'
            f'<td>{parameters}</td><td>{thresholds}</td><td>{runs}</td>'
            f'<td>{escape(stage.reason)}{limiting}</td></tr>')


def _run_link(run: int, reported_runs: Collection[int]) -> str:
    if run in reported_runs:
        return f'<a href="#run-{run}">run {run}</a>'
    return f'<span class="absent" title="not in this report">run {run}</span>'


def _stage(source: str, name: str, entry: Any) -> StageResult:
    where = f"stages.{name}"
    stage = _mapping(source, where, entry)
    attained = stage.get("attained")
    if attained is not None and not isinstance(attained, bool):
        _refuse(source, f"{where}.attained", "must be true, false or null", attained)
    parameters = {parameter: _estimate(source, f"{where}.parameters.{parameter}", value)
                  for parameter, value in _mapping(source, f"{where}.parameters",
                                                   stage.get("parameters", {})).items()}
    thresholds = {threshold: _number(source, f"{where}.thresholds.{threshold}", value)
                  for threshold, value in _mapping(source, f"{where}.thresholds",
                                                   stage.get("thresholds", {})).items()}
    margin = stage.get("margin")
    limiting = stage.get("limiting")
    runs = stage.get("runs", [])
    if not isinstance(runs, list):
        _refuse(source, f"{where}.runs", "must be a list of run ids", runs)
    for run in runs:
        if isinstance(run, bool) or not isinstance(run, int):
            _refuse(source, f"{where}.runs", "must be a list of run ids", run)
    return StageResult(
        name=name, attained=attained, reason=_text(source, f"{where}.reason",
                                                   stage.get("reason", "")),
        parameters=parameters, thresholds=thresholds,
        margin=None if margin is None else _number(source, f"{where}.margin", margin),
        runs=tuple(runs),
        limiting=None if limiting is None else _text(source, f"{where}.limiting", limiting))


def _estimate(source: str, key: str, value: Any) -> Estimate:
    entry = _mapping(source, key, value)
    return Estimate(*(_number(source, f"{key}.{part}", entry.get(part))
                      for part in ("value", "low", "high")))


def _mapping(source: str, key: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        _refuse(source, key, "must be an object", value)
    return value


def _text(source: str, key: str, value: Any) -> str:
    if not isinstance(value, str):
        _refuse(source, key, "must be a string", value)
    return value


def _number(source: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        _refuse(source, key, "must be a number", value)
    return float(value)    # inf and NaN (JSON's Infinity, NaN) are shown as such


def _refuse(source: str, key: str, rule: str, value: Any) -> NoReturn:
    shown = json.dumps(value) if _is_json(value) else repr(value)
    if len(shown) > 40:
        shown = shown[:37] + "..."
    where = f"key '{key}'" if key else "the document"
    raise CertificationError(f"{source}: {where} {rule}, not {shown}")


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True
