"""The ``labctl`` command: human-readable output by default, ``--json`` for machines.

Every command that takes a station defaults to ``stations/two_node.yaml`` and
the ``sim`` profile, so nothing touches hardware unless a lab profile is named;
it starts its own virtual lab unless told to join a served one (``--join``).
Bad input ends with a one-line reason on stderr and exit status 2, before
anything is created.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from labctl import __version__
from labctl.commands import certify, demo, keys, node, predict, report, runs, sim, station
from labctl.commands.options import check_join, check_run_ids
from labctl.errors import LabctlError
from labctl.simulation import joining

EXIT_BAD_INPUT = 2


class _OneLineErrorParser(argparse.ArgumentParser):
    """Usage mistakes end in one line (and exit 2), like every other bad input."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"labctl: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every ``labctl`` command."""
    parser = _OneLineErrorParser(
        prog="labctl",
        description="Run, simulate and certify quantum-network experiments.")
    parser.add_argument("--version", action="version", version=f"labctl {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log more (-v info, -vv debug)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     parser_class=_OneLineErrorParser)
    station.register(commands)
    predict.register(commands)
    sim.register(commands)
    runs.register(commands)
    certify.register(commands)
    demo.register(commands)
    report.register(commands)
    node.register(commands)
    keys.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``labctl`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        check_run_ids(args)
        check_join(args)
        with joining(getattr(args, "join", False)):
            return int(args.handler(args))
    except LabctlError as error:
        print(f"labctl: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # output piped into e.g. `head`, which has quit
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
