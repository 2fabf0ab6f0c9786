"""Analysis results as HTML tables: errors folded into their values, fits marked as such.

A result is any frozen dataclass (or mapping) an experiment's ``analyze``
returns. Naming conventions of labctl results decide the layout:

- ``x_err`` is the uncertainty of ``x``, ``rate_err_hz`` that of ``rate_hz``,
  and a mapping ``correlator_errors`` holds those of ``correlators``;
- a mapping with a boolean ``converged`` is a fit (or a result built on
  one): a first row says "converged" or "not converged: <message>";
- a list of records (per-point or per-detector results) becomes a table.

Every piece of text goes through `html.escape`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from labctl.report.formatting import (
    format_quantity,
    format_scalar,
    format_uncertain,
    unit_of,
)


def plain(value: Any) -> Any:
    """Dataclasses as dicts, tuples as lists, numpy scalars as Python numbers (recursively)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return plain(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if hasattr(value, "item") and hasattr(value, "dtype") and getattr(value, "ndim", 1) == 0:
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def result_html(result: Any) -> str:
    """A run's analysis result as HTML (a table for mappings and dataclasses)."""
    value = plain(result)
    if isinstance(value, Mapping):
        return mapping_table(value, "result")
    return f"<p>{escape(format_scalar(value))}</p>"


def mapping_table(mapping: Mapping[str, Any], css_class: str = "values") -> str:
    """Label/value rows; a fit's status first, uncertainties next to their values."""
    rows: list[str] = []
    shown: Mapping[str, Any] = mapping
    converged = mapping.get("converged")
    if isinstance(converged, bool):
        rows.append(_status_row(converged, mapping.get("message")))
        shown = {k: v for k, v in mapping.items() if k not in ("converged", "message")}
    for key, value, error in pair_errors(shown):
        rows.append(f"<tr><th>{escape(key)}</th><td>{cell_html(key, value, error)}</td></tr>")
    if not rows:
        return '<p class="empty">(nothing)</p>'
    return f'<table class="{css_class}">' + "".join(rows) + "</table>"


def pair_errors(mapping: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(key, value, error)`` in the mapping's order, error keys folded into their value.

    ``error`` is None for a value without an uncertainty.
    """
    bases = {key: base for key in mapping if (base := _error_base(key, mapping)) is not None}
    errors = {base: mapping[key] for key, base in bases.items()}
    return [(key, value, errors.get(key)) for key, value in mapping.items()
            if key not in bases]


def cell_html(key: str, value: Any, error: Any = None) -> str:
    """One value (with its uncertainty, unit or nested structure) as HTML."""
    if isinstance(value, Mapping):
        if isinstance(error, Mapping):
            value = _merge_errors(value, error)
        return mapping_table(value, "nested")
    if isinstance(value, list):
        if value and all(isinstance(item, Mapping) for item in value):
            return records_table(value)
        return escape(", ".join(format_scalar(item) for item in value)) or "(none)"
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return escape(format_scalar(value))
    unit = unit_of(key)
    if unit:
        return escape(format_quantity(value, error, unit))
    return escape(format_uncertain(value, error))


def records_table(records: Sequence[Mapping[str, Any]]) -> str:
    """A list of like records (points of a sweep, detectors) as one table."""
    columns: list[str] = []
    for record in records:
        for key, _, _ in pair_errors(record):
            if key not in columns:
                columns.append(key)
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = []
    for record in records:
        paired = {key: (value, error) for key, value, error in pair_errors(record)}
        cells = "".join(
            f"<td>{cell_html(c, *paired[c]) if c in paired else '—'}</td>" for c in columns)
        body.append(f"<tr>{cells}</tr>")
    return f'<table class="records"><tr>{head}</tr>{"".join(body)}</table>'


def _status_row(converged: bool, message: Any) -> str:
    if converged:
        note = f" ({message})" if isinstance(message, str) and message not in ("", "fitted") \
            else ""
        return f'<tr class="converged"><th>status</th><td>converged{escape(note)}</td></tr>'
    reason = message if isinstance(message, str) and message else "no reason given"
    return ('<tr class="not-converged"><th>status</th><td><strong>not converged</strong>: '
            f'{escape(reason)}</td></tr>')


def _error_base(key: str, mapping: Mapping[str, Any]) -> str | None:
    """The key whose uncertainty ``key`` holds, if that key is in ``mapping``."""
    candidates: list[str] = []
    if key.endswith("_errors"):
        stem = key[: -len("_errors")]
        candidates += [f"{stem}s", stem]
    elif key.endswith("_err"):
        candidates.append(key[: -len("_err")])
    elif "_err_" in key:
        stem, _, unit = key.rpartition("_err_")
        candidates.append(f"{stem}_{unit}")
    return next((c for c in candidates if c and c in mapping and c != key), None)


def _merge_errors(values: Mapping[str, Any], errors: Mapping[str, Any]) -> dict[str, Any]:
    """``{k: v, k_err: e}`` from a mapping of values and one of their uncertainties."""
    merged: dict[str, Any] = {}
    for key, value in values.items():
        merged[key] = value
        if key in errors:
            merged[f"{key}_err"] = errors[key]
    return merged
