"""What a report shows of one archived run, gathered from the archive.

`collect_run` reads the run's record, re-runs its analysis (as ``labctl
show`` does), copies the PNG the engine saved next to the run's chunks into
the report folder — or draws it again through the experiment's ``plot`` if
it is missing or unreadable, without touching the archive — and summarises
the station snapshot. A run whose analysis or plot fails is still reported,
with the reason.
"""

from __future__ import annotations

import logging
import re
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qcodes.dataset import load_by_id
from qcodes.dataset.sqlite.database import connect

from labctl.data.archive import Archive, RunData, RunInfo
from labctl.engine.experiment import Experiment
from labctl.engine.registry import find_experiment
from labctl.errors import LabctlError
from labctl.report.snapshot_summary import InstrumentRow, station_roles, summarise_snapshot

log = logging.getLogger(__name__)

#: Where report folders keep their images.
PLOT_FOLDER = "plots"
#: The QCoDeS metadata tag in which the archive records the writing host
#: (see the ``labctl_*`` tags described in `labctl.data.archive`).
HOST_TAG = "labctl_hostname"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CODE_VERSION = re.compile(r"^labctl (?P<version>\S+)(?: \(git (?P<commit>[0-9a-fA-F]+)\))?$")
#: Errors an analysis or a plot may raise on data it cannot use.
_DATA_ERRORS: tuple[type[Exception], ...] = (LabctlError, ValueError, ArithmeticError,
                                             KeyError, IndexError, TypeError,
                                             NotImplementedError)


@dataclass(frozen=True)
class RunProvenance:
    """Which code, on which host, wrote the run (None: not recorded)."""

    code_version: str
    labctl_version: str | None
    git_commit: str | None
    host: str | None
    python: str | None


@dataclass(frozen=True)
class RunSection:
    """Everything a report shows of one run."""

    info: RunInfo
    result: Any | None
    analysis_error: str | None
    corrupt_blocks: tuple[int, ...]
    #: The PNG's path relative to the report folder, or None.
    plot: str | None
    #: Where the plot came from, or why there is none.
    plot_note: str
    instruments: tuple[InstrumentRow, ...]
    instruments_note: str | None
    provenance: RunProvenance


def collect_run(archive: Archive, info: RunInfo, folder: Path) -> RunSection:
    """Gather one run's section; its plot is written into ``folder``/plots."""
    data, experiment, problem = _load(archive, info)
    result, analysis_error = None, problem
    if data is not None and experiment is not None and problem is None:
        result, analysis_error = _analyze(experiment, data)
    plot, plot_note = _plot(archive, info, folder, experiment, data, result)
    roles = station_roles(info.station_path, info.profile)
    return RunSection(
        info=info, result=result, analysis_error=analysis_error,
        corrupt_blocks=tuple(data.corrupt) if data is not None else (),
        plot=plot, plot_note=plot_note,
        instruments=summarise_snapshot(archive.station_snapshot(info.run_id), roles),
        instruments_note=roles.note, provenance=_provenance(archive, info))


def parse_code_version(text: str) -> tuple[str | None, str | None]:
    """``labctl 0.1.0 (git 1a2b3c)`` → ``("0.1.0", "1a2b3c")``; Nones where absent."""
    match = _CODE_VERSION.match(text.strip())
    if match is None:
        return None, None
    return match["version"], match["commit"]


def _load(archive: Archive, info: RunInfo
          ) -> tuple[RunData | None, type[Experiment] | None, str | None]:
    try:
        data = archive.load(info.run_id)
    except LabctlError as error:
        return None, None, f"cannot load the run's data: {error}"
    try:
        experiment = find_experiment(info.experiment)
    except LabctlError as error:
        return data, None, f"cannot analyse: {error}"
    if data.blocks.size == 0:
        return data, experiment, "no blocks were recorded"
    return data, experiment, None


def _analyze(experiment: type[Experiment], data: RunData) -> tuple[Any | None, str | None]:
    try:
        return experiment.analyze(data), None
    except NotImplementedError:
        return None, f"{experiment.name} has no analysis"
    except _DATA_ERRORS as error:
        return None, _one_line(error)
    except Exception as error:  # one run's broken analysis must not stop the report
        log.exception("run %d: analysis failed", data.info.run_id)
        return None, _one_line(error)


def _plot(archive: Archive, info: RunInfo, folder: Path, experiment: type[Experiment] | None,
          data: RunData | None, result: Any | None) -> tuple[str | None, str]:
    relative = f"{PLOT_FOLDER}/run-{info.run_id}.png"
    destination = folder / relative
    saved = _saved_plot(archive, info)
    if saved is not None:
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(saved, destination)
        return relative, "saved by the run"
    if experiment is None or data is None or result is None:
        return None, "no plot (the run saved none, and without an analysis none can be drawn)"
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        drawn = experiment.plot(data, result, destination)
    except _DATA_ERRORS as error:
        destination.unlink(missing_ok=True)
        return None, f"no plot (drawing it failed: {_one_line(error)})"
    except Exception as error:  # one run's broken plot must not stop the report
        log.exception("run %d: plot failed", info.run_id)
        destination.unlink(missing_ok=True)
        return None, f"no plot (drawing it failed: {_one_line(error)})"
    if not drawn or not _is_png(destination):
        destination.unlink(missing_ok=True)
        return None, f"no plot ({info.experiment} draws none)"
    return relative, "drawn for this report (the run saved none)"


def _saved_plot(archive: Archive, info: RunInfo) -> Path | None:
    """The PNG the engine saved beside the run's chunks, if there is a readable one."""
    folder = archive.root / "raw" / f"run-{info.run_id}"
    preferred = folder / f"{info.experiment}.png"
    candidates = [preferred, *sorted(p for p in folder.glob("*.png") if p != preferred)]
    for candidate in candidates:
        if _is_png(candidate):
            return candidate
        if candidate.exists():
            log.warning("run %d: %s is not a readable PNG; ignoring it", info.run_id, candidate)
    return None


def _is_png(path: Path) -> bool:
    try:
        with path.open("rb") as stream:
            return stream.read(len(_PNG_SIGNATURE)) == _PNG_SIGNATURE
    except OSError:
        return False


def _provenance(archive: Archive, info: RunInfo) -> RunProvenance:
    version, commit = parse_code_version(info.code_version)
    return RunProvenance(code_version=info.code_version, labctl_version=version,
                         git_commit=commit, host=_recorded_host(archive, info.run_id),
                         python=None)


def _recorded_host(archive: Archive, run_id: int) -> str | None:
    """The host of the process that last wrote the run, from its QCoDeS metadata."""
    try:
        connection = connect(str(archive.database))
    except (sqlite3.Error, RuntimeError, OSError) as error:
        log.warning("run %d: cannot read its host: %s", run_id, _one_line(error))
        return None
    try:
        host = load_by_id(run_id, conn=connection).metadata.get(HOST_TAG)
    except (sqlite3.Error, RuntimeError, ValueError, KeyError) as error:
        log.warning("run %d: cannot read its host: %s", run_id, _one_line(error))
        return None
    finally:
        connection.close()
    return str(host) if host else None


def _one_line(error: BaseException) -> str:
    text = str(error) if isinstance(error, LabctlError) else (
        f"{type(error).__name__}: {error.args[0]}" if error.args else type(error).__name__)
    return " ".join(text.split())
