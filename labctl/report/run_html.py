"""One run's section of an HTML report: record, config, analysis, plot, station, provenance.

Pure rendering of a `RunSection` (see `labctl.report.run_collect`); every
piece of text is escaped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from labctl.report.certification import stage_title
from labctl.report.formatting import MISSING
from labctl.report.results_html import plain, result_html
from labctl.report.run_collect import RunProvenance, RunSection
from labctl.report.snapshot_summary import InstrumentRow


def run_anchor(run_id: int) -> str:
    """The fragment id of a run's section (``#run-3``)."""
    return f"run-{run_id}"


def run_section_html(section: RunSection, stages: Sequence[str] = ()) -> str:
    """The ``<section>`` of one run; ``stages`` names the certified stages that used it."""
    info = section.info
    title = f"Run {info.run_id}: {info.experiment}"
    used_by = ""
    if stages:
        links = ", ".join(f'<a href="#stage-{escape(s)}">{escape(stage_title(s))}</a>'
                          for s in stages)
        used_by = f'<p class="used-by">Used by the certification of {links}.</p>'
    return (f'<section class="run" id="{run_anchor(info.run_id)}">'
            f'<h2>{escape(title)} <span class="status {escape(info.status)}">'
            f'{escape(info.status)}</span></h2>{used_by}'
            f'{_record_html(section)}'
            f'<h3>Analysis</h3>{_analysis_html(section)}'
            f'<h3>Plot</h3>{_plot_html(section)}'
            f'<h3>Config</h3>{_config_html(info.config)}'
            f'<h3>Station</h3>{_station_html(section)}'
            f'<h3>Provenance</h3>{_provenance_html(section.provenance)}'
            '</section>')


def _record_html(section: RunSection) -> str:
    info = section.info
    planned = "" if info.planned_blocks is None else f" of {info.planned_blocks} planned"
    corrupt = ", ".join(str(b) for b in section.corrupt_blocks) or "none"
    rows = [("run id", str(info.run_id)), ("experiment", info.experiment),
            ("status", info.status), ("reason", info.reason or MISSING),
            ("started", info.started or MISSING), ("ended", info.ended or MISSING),
            ("blocks", f"{info.blocks}{planned}"), ("corrupt blocks", corrupt),
            ("station", f"{info.station_path} (profile {info.profile})"),
            ("QCoDeS datasets", ", ".join(str(s) for s in info.segments))]
    return _rows_table(rows, "record")


def _analysis_html(section: RunSection) -> str:
    if section.analysis_error is not None:
        return (f'<p class="analysis-error">No analysis: '
                f'{escape(section.analysis_error)}</p>')
    if section.result is None:
        return '<p class="empty">No analysis result.</p>'
    return result_html(section.result)


def _plot_html(section: RunSection) -> str:
    if section.plot is None:
        return f'<p class="no-plot">{escape(section.plot_note)}</p>'
    alt = f"plot of run {section.info.run_id} ({section.info.experiment})"
    return (f'<figure><img src="{escape(section.plot)}" alt="{escape(alt)}">'
            f'<figcaption>{escape(section.plot_note)}</figcaption></figure>')


def _config_html(config: Mapping[str, Any]) -> str:
    if not config:
        return '<p class="empty">(no settings)</p>'
    rows = [(str(key), _exact(value)) for key, value in plain(config).items()]
    return _rows_table(rows, "config")


def _exact(value: Any) -> str:
    """A config value as it was set: JSON's shortest exact text, strings bare."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def _station_html(section: RunSection) -> str:
    note = (f'<p class="note">{escape(section.instruments_note)}</p>'
            if section.instruments_note else "")
    if not section.instruments:
        return note + '<p class="empty">The run recorded no station snapshot.</p>'
    head = ("<tr><th>instrument</th><th>node</th><th>role</th><th>driver, identity, address</th>"
            "<th>key values</th><th>all parameters</th></tr>")
    return (note + '<table class="station">' + head
            + "".join(_instrument_row(row) for row in section.instruments) + "</table>")


def _instrument_row(row: InstrumentRow) -> str:
    key_values = "<br>".join(f"{escape(name)} = {escape(text)}"
                             for name, text in row.key_values) or MISSING
    parameters = "".join(f"<tr><th>{escape(name)}</th><td>{escape(text)}</td></tr>"
                         for name, text in row.parameters)
    folded = (f'<details><summary>{len(row.parameters)} parameters</summary>'
              f'<table class="nested">{parameters}</table></details>') if parameters else MISSING
    described = "<br>".join([f"<code>{escape(row.driver)}</code>"]
                            + ([escape(row.identity)] if row.identity else [])
                            + ([f"<code>{escape(row.address)}</code>"] if row.address else []))
    return (f"<tr><th>{escape(row.name)}</th><td>{escape(row.node or MISSING)}</td>"
            f"<td>{escape(row.role or MISSING)}</td><td>{described}</td><td>{key_values}</td>"
            f"<td>{folded}</td></tr>")


def _provenance_html(provenance: RunProvenance) -> str:
    not_recorded = "not recorded with the run"
    rows = [("labctl", provenance.labctl_version or not_recorded),
            ("git commit", provenance.git_commit or not_recorded),
            ("code version", provenance.code_version or not_recorded),
            ("host", provenance.host or not_recorded),
            ("python", provenance.python or not_recorded)]
    return _rows_table(rows, "provenance")


def _rows_table(rows: Sequence[tuple[str, str]], css_class: str) -> str:
    body = "".join(f"<tr><th>{escape(label)}</th><td>{escape(text)}</td></tr>"
                   for label, text in rows)
    return f'<table class="{css_class}">{body}</table>'


__all__ = ["run_anchor", "run_section_html"]
