"""Self-contained HTML reports of archived runs and of a stage certification.

`write_report` writes ``DIR/index.html`` and the PNG plots it shows into
``DIR/plots/`` — relative links only, no scripts, no external resources —
so the folder can be zipped and mailed. It checks everything it can first
(the run ids exist, the certification follows its schema, ``DIR`` is not a
file and not a non-empty folder unless ``force``), writes into a folder
beside ``DIR`` and renames it into place: a failure leaves nothing behind.
`render_page` is the pure part, from gathered sections to the HTML text.
"""

from __future__ import annotations

import logging
import platform
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from labctl.data.archive import Archive, RunInfo
from labctl.errors import LabctlError
from labctl.provenance import code_version
from labctl.report.certification import (
    Certification,
    certification_html,
    load_certification,
    parse_certification,
    stage_title,
)
from labctl.report.run_collect import RunSection, collect_run
from labctl.report.run_html import run_anchor, run_section_html
from labctl.report.staging import staged_folder

log = logging.getLogger(__name__)

#: The page every report folder holds.
INDEX_NAME = "index.html"
#: Marks a page as a labctl report (``--force`` replaces only folders holding one).
GENERATOR = "labctl report"

#: Up to this many runs, the title names each run's experiment too.
_RUNS_NAMED_IN_TITLE = 3

CertificationInput = Certification | Mapping[str, Any] | str | Path


@dataclass(frozen=True)
class Generator:
    """Who wrote the report, and when."""

    code_version: str
    host: str
    python: str
    time: str

    @classmethod
    def here(cls) -> Generator:
        """This process: labctl's version and commit, the host, Python, the time (UTC)."""
        return cls(code_version=code_version(), host=socket.gethostname(),
                   python=f"{platform.python_implementation()} {platform.python_version()}",
                   time=datetime.now(UTC).isoformat(timespec="seconds"))


def write_report(archive: Archive, run_ids: Sequence[int], out_dir: str | Path,
                 certification: CertificationInput | None = None, *,
                 force: bool = False) -> Path:
    """Write the report of ``run_ids`` (and ``certification``) into ``out_dir``; its index.

    ``certification`` is a parsed `Certification`, the decoded JSON of
    ``labctl certify --json`` or the path of such a file. Every problem is a
    one-line `LabctlError`, raised before ``out_dir`` changes.
    """
    ids = _unique_ids(run_ids)
    checked = _certification(certification)
    if not ids and checked is None:
        raise LabctlError("nothing to report: give run ids or a certification")
    infos = [archive.info(run_id) for run_id in ids]
    target = Path(out_dir)
    try:
        with staged_folder(target, force=force, is_replaceable=is_report_folder) as folder:
            sections = [collect_run(archive, info, folder) for info in infos]
            page = render_page(sections, checked, Generator.here())
            (folder / INDEX_NAME).write_text(page, encoding="utf-8")
    except OSError as error:      # a full disk, a vanished folder: nothing was put in place
        reason = error.strerror or type(error).__name__
        raise LabctlError(f"cannot write the report {target}: {reason}") from None
    log.info("report of %d run(s) written to %s", len(sections), target)
    return target / INDEX_NAME


def is_report_folder(folder: Path) -> bool:
    """True if ``folder`` holds a report this module wrote (so ``force`` may replace it)."""
    try:
        head = (folder / INDEX_NAME).read_text(encoding="utf-8", errors="replace")[:2000]
    except OSError:
        return False
    return f'<meta name="generator" content="{GENERATOR}">' in head


def page_title(infos: Sequence[RunInfo], certification: Certification | None) -> str:
    """``labctl report: run 3 (herald_rate), run 4 (rabi)``, led by the certification."""
    parts = []
    if certification is not None:
        stage = certification.stage.strip()
        parts.append(f"certification of {certification.station} ({certification.profile}): "
                     + (stage_title(stage) if stage and stage.lower() != "none"
                        else "no stage attained"))
    if len(infos) <= _RUNS_NAMED_IN_TITLE:
        parts += [f"run {info.run_id} ({info.experiment})" for info in infos]
    else:
        parts.append(f"runs {', '.join(str(info.run_id) for info in infos)}")
    return "labctl report: " + "; ".join(parts)


def render_page(sections: Sequence[RunSection], certification: Certification | None,
                generator: Generator) -> str:
    """The whole page, from gathered run sections and an optional certification."""
    title = page_title([s.info for s in sections], certification)
    reported = {s.info.run_id for s in sections}
    stages_of: dict[int, list[str]] = {}
    if certification is not None:
        for stage in certification.stages:
            for run in stage.runs:
                stages_of.setdefault(run, []).append(stage.name)
    body = [f"<h1>{escape(title)}</h1>", _generator_html(generator),
            _contents_html(sections, certification)]
    if certification is not None:
        body.append(certification_html(certification, reported))
    body += [run_section_html(s, stages_of.get(s.info.run_id, ())) for s in sections]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta name="generator" content="{GENERATOR}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{_STYLE}</style></head>\n<body>"
            + "\n".join(body) + "\n</body></html>\n")


def _generator_html(generator: Generator) -> str:
    return (f'<p class="generator">Written {escape(generator.time)} by '
            f'{escape(generator.code_version)} on {escape(generator.host)}, '
            f'{escape(generator.python)}.</p>')


def _contents_html(sections: Sequence[RunSection], certification: Certification | None) -> str:
    items = []
    if certification is not None:
        items.append('<li><a href="#certification">Certification</a></li>')
    items += [f'<li><a href="#{run_anchor(s.info.run_id)}">Run {s.info.run_id}: '
              f'{escape(s.info.experiment)}</a> ({escape(s.info.status)})</li>'
              for s in sections]
    return f'<nav><ul>{"".join(items)}</ul></nav>'


def _unique_ids(run_ids: Sequence[int]) -> list[int]:
    ids: list[int] = []
    for run_id in run_ids:
        if isinstance(run_id, bool) or not isinstance(run_id, int):
            raise LabctlError(f"a run id is a whole number, not {run_id!r}")
        if run_id not in ids:
            ids.append(run_id)
    return ids


def _certification(certification: CertificationInput | None) -> Certification | None:
    if certification is None or isinstance(certification, Certification):
        return certification
    if isinstance(certification, str | Path):
        return load_certification(certification)
    return parse_certification(certification)


_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 72em; padding: 0 1em; color: #1b1b1b; line-height: 1.4; }
h1 { font-size: 1.5em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; }
h3 { font-size: 1.05em; margin-bottom: .3em; }
table { border-collapse: collapse; margin: .3em 0 1em; }
th, td { border: 1px solid #ddd; padding: .25em .5em; text-align: left; vertical-align: top; }
th { background: #f5f5f5; font-weight: 600; }
table.nested th, table.nested td { border-color: #eee; font-size: .95em; }
td { font-variant-numeric: tabular-nums; }
code { font-size: .9em; }
.generator, .note, .where, figcaption { color: #555; font-size: .9em; }
.highest { font-size: 1.3em; padding: .5em .8em; background: #e8f5e9;
           border-left: 6px solid #2e7d32; }
.highest.none { background: #fff3e0; border-left-color: #ef6c00; }
tr.attained .verdict { color: #1b5e20; font-weight: 600; }
tr.not-attained .verdict { color: #b71c1c; font-weight: 600; }
tr.untestable .verdict { color: #666; font-style: italic; }
tr.not-converged td, .analysis-error { color: #b71c1c; }
tr.converged td { color: #1b5e20; }
.status { font-size: .6em; padding: .1em .5em; border-radius: .3em; vertical-align: middle;
          background: #eee; }
.status.completed { background: #c8e6c9; } .status.failed { background: #ffcdd2; }
.status.interrupted, .status.running { background: #fff9c4; }
.absent { color: #777; }
img { max-width: 100%; border: 1px solid #ddd; }
figure { margin: 0; }
"""
