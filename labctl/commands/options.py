"""Options several ``labctl`` commands share: the station and profile, the archive folder."""

from __future__ import annotations

import argparse

from labctl import station as station_module


def add_station_options(parser: argparse.ArgumentParser) -> None:
    """``--station`` (default: the default station) and ``--profile`` (default: sim)."""
    parser.add_argument("--station", default=str(station_module.DEFAULT_STATION),
                        help="station YAML file (default: %(default)s)")
    parser.add_argument("--profile", default=station_module.DEFAULT_PROFILE,
                        help="station profile (default: %(default)s, the simulated station)")


def add_data_dir_option(parser: argparse.ArgumentParser) -> None:
    """``--data-dir``: the archive folder."""
    parser.add_argument("--data-dir", help="archive folder (default: $LABCTL_DATA_DIR or the "
                                           "user data directory)")
