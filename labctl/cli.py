"""The ``labctl`` command: human-readable output by default, ``--json`` for machines.

Every command that takes a station defaults to ``stations/two_node.yaml`` and
the ``sim`` profile, so nothing touches hardware unless a lab profile is named.
Bad input ends with a one-line reason on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

from labctl import __version__
from labctl import station as station_module
from labctl.errors import LabctlError
from labctl.summary import station_summary

log = logging.getLogger(__name__)

EXIT_BAD_INPUT = 2


def _add_station_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("station", nargs="?", default=str(station_module.DEFAULT_STATION),
                        help="station YAML file (default: %(default)s)")
    parser.add_argument("--profile", default=station_module.DEFAULT_PROFILE,
                        help="profile of the station file (default: %(default)s, "
                             "the simulated station)")
    parser.add_argument("--json", action="store_true", help="print JSON for machines")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every ``labctl`` command."""
    parser = argparse.ArgumentParser(
        prog="labctl",
        description="Run, simulate and certify quantum-network experiments.")
    parser.add_argument("--version", action="version", version=f"labctl {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log more (-v info, -vv debug)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    station = commands.add_parser("station", help="inspect station files")
    station_commands = station.add_subparsers(dest="station_command", required=True,
                                              metavar="SUBCOMMAND")
    show = station_commands.add_parser(
        "show", help="connect to a station's instruments and print their snapshot summary")
    _add_station_options(show)
    show.set_defaults(handler=_station_show)
    check = station_commands.add_parser(
        "check", help="check a station file for one profile without contacting anything")
    _add_station_options(check)
    check.set_defaults(handler=_station_check)
    return parser


def _station_show(args: argparse.Namespace) -> int:
    with station_module.load(args.station, args.profile) as station:
        summary = station_summary(station)
    if args.json:
        _print_json(summary)
    else:
        print(_format_station(summary))
    return 0


def _station_check(args: argparse.Namespace) -> int:
    spec = station_module.read_spec(args.station, args.profile)
    result = {"station": str(spec.path), "profile": spec.profile, "ok": True,
              "instruments": [s.name for s in spec.instruments]}
    if args.json:
        _print_json(result)
    else:
        print(f"{spec.path}: profile '{spec.profile}' is valid "
              f"({len(spec.instruments)} instruments)")
    return 0


def _format_value(value: Any, unit: str) -> str:
    if isinstance(value, float):
        text = f"{value:.6g}"
    elif value is None:
        text = "—"
    else:
        text = str(value)
    return f"{text} {unit}".rstrip()


def _format_station(summary: dict[str, Any]) -> str:
    lines = [f"station {summary['station']}  profile '{summary['profile']}'"]
    if summary["description"]:
        lines.append(f"  {summary['description']}")
    for instrument in summary["instruments"]:
        where = "/".join(p for p in (instrument["node"], instrument["role"]) if p)
        idn = instrument["idn"] or {}
        model = " ".join(str(idn.get(k)) for k in ("vendor", "model") if idn.get(k))
        lines.append("")
        lines.append(f"{instrument['name']}  [{where}]  {model}  at {instrument['address']}")
        for name, limit in instrument["safety_limits"].items():
            lines.append(f"    safety limit {name}: {limit}")
        width = max((len(n) for n in instrument["parameters"]), default=0)
        for name, parameter in instrument["parameters"].items():
            lines.append(f"    {name:<{width}}  "
                         f"{_format_value(parameter['value'], parameter['unit'])}")
    return "\n".join(lines)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``labctl`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.handler(args))
    except LabctlError as error:
        print(f"labctl: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
