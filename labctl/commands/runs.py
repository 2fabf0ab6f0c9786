"""``labctl run|resume|runs|show|experiments``: running experiments and reading the archive.

``run`` checks the experiment name and every ``--set`` before anything is
started or archived (bad input: one line, exit 2). Exit status of ``run``
and ``resume``: 0 completed, 1 failed, 130 interrupted.

``runs``, ``show`` and ``export`` only read: they open the archive read-only
(so they work on a read-only copy or mount, and never wait for a writer's
lock); ``run``, ``resume`` and ``fit`` write, and on a read-only archive are
refused in one line before anything starts.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from labctl import station as station_module
from labctl.commands.options import (
    add_data_dir_option,
    add_join_option,
    add_station_options,
    check_join_station,
)
from labctl.commands.output import print_json, table
from labctl.data.archive import Archive, RunInfo
from labctl.data.location import data_root
from labctl.engine.experiment import parse_settings, settable_keys
from labctl.engine.registry import experiment_names, find_experiment
from labctl.engine.runner import Engine, RunOutcome, analyze_run, save_plot
from labctl.errors import LabctlError

EXIT_STATUS = {"completed": 0, "failed": 1, "interrupted": 130, "running": 1}


def register(commands: argparse._SubParsersAction[Any]) -> None:
    run = commands.add_parser("run", help="run an experiment")
    run.add_argument("experiment", help="experiment name (see 'labctl experiments')")
    add_station_options(run)
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     dest="settings", help="a config value of the experiment; repeatable")
    run.add_argument("--retries", type=int, default=3,
                     help="reconnect-and-retry attempts per block (default: %(default)s)")
    run.add_argument("--json", action="store_true", help="print JSON for machines")
    add_data_dir_option(run)
    run.set_defaults(handler=run_experiment)

    resume = commands.add_parser("resume", help="continue a run that died from its last block")
    resume.add_argument("run_id", type=int)
    resume.add_argument("--retries", type=int, default=3)
    resume.add_argument("--json", action="store_true")
    add_join_option(resume)
    add_data_dir_option(resume)
    resume.set_defaults(handler=resume_run)

    runs = commands.add_parser("runs", help="list the archived runs, oldest first")
    runs.add_argument("--json", action="store_true")
    add_data_dir_option(runs)
    runs.set_defaults(handler=list_runs)

    show = commands.add_parser("show", help="one archived run: metadata and its analysis")
    show.add_argument("run_id", type=int)
    show.add_argument("--json", action="store_true")
    add_data_dir_option(show)
    show.set_defaults(handler=show_run)

    fit = commands.add_parser("fit", help="re-run the analysis of an archived run and plot it")
    fit.add_argument("run_id", type=int)
    fit.add_argument("--json", action="store_true")
    add_data_dir_option(fit)
    fit.set_defaults(handler=fit_run)

    export = commands.add_parser("export", help="write a run as netCDF (xarray-readable)")
    export.add_argument("run_id", type=int)
    export.add_argument("path", help="the .nc file (or a folder for run-<id>.nc)")
    export.add_argument("--no-arrays", action="store_true",
                        help="block values only, without the raw arrays")
    export.add_argument("--force", action="store_true",
                        help="replace the file if it exists (else it is refused)")
    add_data_dir_option(export)
    export.set_defaults(handler=export_run)

    experiments = commands.add_parser("experiments", help="the experiments labctl can run")
    experiments.add_argument("--json", action="store_true")
    experiments.set_defaults(handler=list_experiments)


def run_experiment(args: argparse.Namespace) -> int:
    experiment_type = find_experiment(args.experiment)
    config = parse_settings(experiment_type.config_type, args.settings)
    experiment = experiment_type(config)
    # a broken station file or a setting it cannot take: refused before anything is created
    experiment.check_station(station_module.read_spec(args.station, args.profile))
    if args.retries < 0:
        raise LabctlError(f"--retries must not be negative, got {args.retries}")
    archive = Archive(data_root(args.data_dir))
    try:
        archive.check_writable("cannot start a run")
        outcome = Engine(archive, retries=args.retries).start(
            experiment, args.station, args.profile)
    finally:
        archive.close()
    return _report(outcome, args.json)


def resume_run(args: argparse.Namespace) -> int:
    archive = Archive(data_root(args.data_dir))
    try:
        archive.check_writable(f"cannot resume run {args.run_id}")
        if args.join:   # the run's own station and profile must be served now
            info = archive.info(args.run_id)
            check_join_station(info.station_path, info.profile)
        archive.reconcile()
        outcome = Engine(archive, retries=args.retries).resume(args.run_id)
    finally:
        archive.close()
    return _report(outcome, args.json)


def list_runs(args: argparse.Namespace) -> int:
    archive = Archive(data_root(args.data_dir), read_only=True)
    try:
        runs = archive.runs()
    finally:
        archive.close()
    if args.json:
        print_json([_run_row(info) for info in runs])
    else:
        rows = [[i.run_id, i.experiment, i.status, i.blocks, i.started, i.profile]
                for i in runs]
        print(table(["run", "experiment", "status", "blocks", "started", "profile"], rows)
              if rows else "no runs archived yet")
    return 0


def show_run(args: argparse.Namespace) -> int:
    archive = Archive(data_root(args.data_dir), read_only=True)
    try:
        info = archive.info(args.run_id)
        try:
            data, result = analyze_run(archive, args.run_id)
            corrupt, analysis = list(data.corrupt), _plain(result)
        except (LabctlError, ValueError) as error:
            corrupt, analysis = [], {"error": str(error)}
    finally:
        archive.close()
    payload = {**_run_row(info), "ended": info.ended, "reason": info.reason,
               "config": info.config, "station": info.station_path,
               "profile": info.profile, "code_version": info.code_version,
               "corrupt_blocks": corrupt, "result": analysis}
    if args.json:
        print_json(payload)
    else:
        for key, value in payload.items():
            print(f"{key:>14}  {value}")
    return 0


def fit_run(args: argparse.Namespace) -> int:
    archive = Archive(data_root(args.data_dir))
    try:
        archive.check_writable(f"cannot save the plot of run {args.run_id}")
        data, result = analyze_run(archive, args.run_id)
        plot = save_plot(find_experiment(data.info.experiment), archive, data, result)
    except (ValueError, ZeroDivisionError) as error:
        raise LabctlError(f"run {args.run_id}: {error}") from None
    finally:
        archive.close()
    payload = {"run_id": args.run_id, "experiment": data.info.experiment,
               "corrupt_blocks": list(data.corrupt), "plot": plot, **_plain(result)}
    if args.json:
        print_json(payload)
    else:
        for key, value in payload.items():
            print(f"{key:>22}  {value}")
    return 0


def export_run(args: argparse.Namespace) -> int:
    archive = Archive(data_root(args.data_dir), read_only=True)
    try:
        written = archive.export_netcdf(args.run_id, Path(args.path),
                                        include_arrays=not args.no_arrays,
                                        overwrite=args.force)
    finally:
        archive.close()
    print(written)
    return 0


def list_experiments(args: argparse.Namespace) -> int:
    rows: list[dict[str, Any]] = []
    for name in experiment_names():
        experiment = find_experiment(name)
        rows.append({"name": name, "description": experiment.description,
                     "settings": settable_keys(experiment.config_type)})
    if args.json:
        print_json(rows)
    else:
        for row in rows:
            keys = ", ".join(f"{k}:{t}" for k, t in row["settings"].items())
            print(f"{row['name']:<24} {row['description']}\n{'':<24} --set {keys}")
    return 0


def _run_row(info: RunInfo) -> dict[str, Any]:
    return {"run_id": info.run_id, "experiment": info.experiment, "status": info.status,
            "blocks": info.blocks, "started": info.started}


def _plain(result: Any) -> Any:
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        return dataclasses.asdict(result)
    return result


def _report(outcome: RunOutcome, as_json: bool) -> int:
    payload: dict[str, Any] = {"run_id": outcome.run_id, "experiment": outcome.experiment,
                               "status": outcome.status, "blocks": outcome.blocks,
                               "reason": outcome.reason}
    if outcome.result is not None:
        payload.update(_plain(outcome.result))
    if outcome.analysis_error:
        payload["analysis_error"] = outcome.analysis_error
    if outcome.plot:
        payload["plot"] = outcome.plot
    if as_json:
        print_json(payload)
    else:
        print(f"run {outcome.run_id} {outcome.experiment}: {outcome.status} after "
              f"{outcome.blocks} blocks ({outcome.reason})")
        if outcome.result is not None:
            for key, value in _plain(outcome.result).items():
                print(f"  {key:<22} {value}")
    return EXIT_STATUS[outcome.status]
