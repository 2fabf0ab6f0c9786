"""``labctl station show|check``: inspect a station file and its instruments."""

from __future__ import annotations

import argparse
from typing import Any

from labctl import station as station_module
from labctl.commands.output import format_value, print_json
from labctl.summary import station_summary


def add_station_options(parser: argparse.ArgumentParser, positional: bool = True) -> None:
    """``STATION`` (default: the two-node station), ``--profile`` (default: sim), ``--json``."""
    default = str(station_module.DEFAULT_STATION)
    if positional:
        parser.add_argument("station", nargs="?", default=default,
                            help="station YAML file (default: %(default)s)")
    else:
        parser.add_argument("--station", default=default,
                            help="station YAML file (default: %(default)s)")
    parser.add_argument("--profile", default=station_module.DEFAULT_PROFILE,
                        help="profile of the station file (default: %(default)s, "
                             "the simulated station)")
    parser.add_argument("--json", action="store_true", help="print JSON for machines")


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    station = commands.add_parser("station", help="inspect station files")
    station_commands = station.add_subparsers(dest="station_command", required=True,
                                              metavar="SUBCOMMAND")
    show = station_commands.add_parser(
        "show", help="connect to a station's instruments and print their snapshot summary")
    add_station_options(show)
    show.set_defaults(handler=show_station)
    check = station_commands.add_parser(
        "check", help="check a station file for one profile without contacting anything")
    add_station_options(check)
    check.set_defaults(handler=check_station)


def show_station(args: argparse.Namespace) -> int:
    with station_module.load(args.station, args.profile) as station:
        summary = station_summary(station)
    if args.json:
        print_json(summary)
    else:
        print(format_station(summary))
    return 0


def check_station(args: argparse.Namespace) -> int:
    spec = station_module.read_spec(args.station, args.profile)
    result = {"station": str(spec.path), "profile": spec.profile, "ok": True,
              "instruments": [s.name for s in spec.instruments]}
    if args.json:
        print_json(result)
    else:
        print(f"{spec.path}: profile '{spec.profile}' is valid "
              f"({len(spec.instruments)} instruments)")
    return 0


def format_station(summary: dict[str, Any]) -> str:
    """The station summary for a person: one block per instrument."""
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
                         f"{format_value(parameter['value'], parameter['unit'])}")
    return "\n".join(lines)
