"""Options several ``labctl`` commands share: the station and profile, joining a served
virtual lab, the archive folder; and the one check of a run id."""

from __future__ import annotations

import argparse
from typing import Any

from labctl import station as station_module
from labctl.errors import LabctlError, ParameterError
from labctl.simulation import served_announcement

#: Largest run id: the archive's run ids are SQLite's 64-bit signed integers.
MAX_RUN_ID = 2**63 - 1


def add_station_options(parser: argparse.ArgumentParser) -> None:
    """``--station`` (default: the default station), ``--profile`` (default: sim), ``--join``."""
    parser.add_argument("--station", default=str(station_module.DEFAULT_STATION),
                        help="station YAML file (default: %(default)s)")
    parser.add_argument("--profile", default=station_module.DEFAULT_PROFILE,
                        help="station profile (default: %(default)s, the simulated station)")
    add_join_option(parser)


def add_join_option(parser: argparse.ArgumentParser) -> None:
    """``--join``: use the virtual lab ``labctl sim serve`` serves for the station."""
    parser.add_argument("--join", action="store_true",
                        help="(simulated profiles) use the virtual lab 'labctl sim serve' "
                             "already serves for this station and profile, saying which, "
                             "instead of starting one's own (as 'join: true' in the profile)")


def check_join(args: argparse.Namespace) -> None:
    """With ``--join``, a virtual lab serves the command's station and profile now;
    `LabctlError` saying how to start one otherwise (before anything is created)."""
    if getattr(args, "join", False) and hasattr(args, "station"):
        check_join_station(args.station, args.profile)


def check_join_station(station: str, profile: str) -> None:
    """A virtual lab serves ``station`` and ``profile`` now (``--join``); `LabctlError` if not."""
    spec = station_module.read_spec(station, profile)
    if spec.simulator is None:
        raise LabctlError(f"--join: profile '{spec.profile}' of {spec.path} names no "
                          "simulator (there is no virtual lab to join)")
    try:
        served_announcement(station_module.simulated_station(spec))
    except LabctlError as error:
        raise LabctlError(f"--join: {error}") from None


def check_run_ids(args: argparse.Namespace) -> None:
    """Every run id a command was given (``run_id``, ``run_ids``, ``--reuse``) is a
    positive integer that fits the archive; `ParameterError` naming the first that is not."""
    given: list[Any] = []
    for name in ("run_id", "run_ids", "reuse"):
        value = getattr(args, name, None)
        if isinstance(value, int):
            given.append(value)
        elif isinstance(value, list):
            given.extend(value)
    for run_id in given:
        if not 1 <= run_id <= MAX_RUN_ID:
            raise ParameterError(f"run id {run_id} is not a run id (a positive integer up to "
                                 f"{MAX_RUN_ID})")


def add_data_dir_option(parser: argparse.ArgumentParser) -> None:
    """``--data-dir``: the archive folder."""
    parser.add_argument("--data-dir", help="archive folder (default: $LABCTL_DATA_DIR or the "
                                           "user data directory)")
