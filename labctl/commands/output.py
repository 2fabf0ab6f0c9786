"""How commands print: JSON for machines, aligned text for people."""

from __future__ import annotations

import json
from typing import Any


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON (numpy scalars and other objects as strings)."""
    print(json.dumps(data, indent=2, default=_plain))


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def format_value(value: Any, unit: str = "") -> str:
    """A value for a person: 6 significant digits for floats, a dash for missing."""
    if isinstance(value, float):
        text = f"{value:.6g}"
    elif value is None:
        text = "—"
    else:
        text = str(value)
    return f"{text} {unit}".rstrip()


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A right-aligned text table."""
    cells = [[format_value(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)
