"""``labctl station show|check``: inspect a station file and its instruments."""

from __future__ import annotations

import argparse
from typing import Any

from labctl import contact
from labctl import station as station_module
from labctl.commands.options import add_join_option
from labctl.commands.output import format_value, print_json, table
from labctl.summary import station_summary


def add_station_options(parser: argparse.ArgumentParser, positional: bool = True) -> None:
    """``STATION`` (default: the two-node station), ``--profile`` (default: sim), ``--json``,
    ``--join``."""
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
    add_join_option(parser)


def register(commands: argparse._SubParsersAction[Any]) -> None:
    station = commands.add_parser("station", help="inspect station files")
    station_commands = station.add_subparsers(dest="station_command", required=True,
                                              metavar="SUBCOMMAND")
    show = station_commands.add_parser(
        "show", help="connect to a station's instruments and print their snapshot summary")
    add_station_options(show)
    show.set_defaults(handler=show_station)
    check = station_commands.add_parser(
        "check", help="check a station file for one profile (without contacting anything, "
                      "unless --contact)")
    add_station_options(check)
    check.add_argument("--contact", action="store_true",
                       help="also connect to every instrument and read its identity, "
                            "options, limits and error queue: one line per instrument")
    check.set_defaults(handler=check_station)


def show_station(args: argparse.Namespace) -> int:
    with station_module.load(args.station, args.profile) as station:
        summary = station_summary(station)
    if args.json:
        print_json(summary)
    else:
        print(format_station(summary))
    return 1 if any(i["error"] for i in summary["instruments"]) else 0


def check_station(args: argparse.Namespace) -> int:
    if args.contact:
        return contact_station(args)
    spec = station_module.read_spec(args.station, args.profile)
    result = {"station": str(spec.path), "profile": spec.profile, "ok": True,
              "instruments": [s.name for s in spec.instruments]}
    if args.json:
        print_json(result)
    else:
        print(f"{spec.path}: profile '{spec.profile}' is valid "
              f"({len(spec.instruments)} instruments)")
    return 0


def contact_station(args: argparse.Namespace) -> int:
    """``check --contact``: exit 1 when an instrument is missing or not what it should be."""
    reports = contact.contact_station(args.station, args.profile)
    if args.json:
        print_json({"station": args.station, "profile": args.profile,
                    "ok": all(r.state == "ok" for r in reports),
                    "instruments": [r.as_dict() for r in reports]})
    else:
        print("\n".join(contact.contact_lines(reports)))
    return 0 if all(r.state == "ok" for r in reports) else 1


def format_station(summary: dict[str, Any]) -> str:
    """The station summary for a person: one block per instrument, channels as tables."""
    lines = [f"station {summary['station']}  profile '{summary['profile']}'"]
    if summary["description"]:
        lines.append(f"  {summary['description']}")
    for instrument in summary["instruments"]:
        where = "/".join(p for p in (instrument["node"], instrument["role"]) if p)
        idn = instrument["idn"] or {}
        model = " ".join(str(idn.get(k)) for k in ("vendor", "model") if idn.get(k))
        lines.append("")
        lines.append(f"{instrument['name']}  [{where}]  {model}  at {instrument['address']}")
        if instrument["error"]:
            lines.append(f"    ! {instrument['error']}")
        for name, limit in instrument["safety_limits"].items():
            lines.append(f"    safety limit {name}: {limit}")
        lines.extend(_format_parameters(instrument["parameters"]))
    return "\n".join(lines)


def _format_parameters(parameters: dict[str, dict[str, Any]]) -> list[str]:
    """Top-level parameters a few per line; each channel group as a table."""
    top = {n: p for n, p in parameters.items() if "." not in n}
    groups: dict[str, dict[str, dict[str, Any]]] = {}
    for name, parameter in parameters.items():
        if "." in name:
            channel, _, leaf = name.rpartition(".")
            groups.setdefault(_group_name(channel), {}).setdefault(channel, {})[leaf] = parameter
    lines = []
    items = [f"{n} {format_value(p['value'], p['unit'])}" for n, p in top.items()]
    for start in range(0, len(items), 3):
        lines.append("    " + "  ·  ".join(items[start:start + 3]))
    for channels in groups.values():
        columns = list(dict.fromkeys(leaf for params in channels.values() for leaf in params))
        rows = [[channel, *(format_value(params[c]["value"], params[c]["unit"])
                            if c in params else "" for c in columns)]
                for channel, params in channels.items()]
        lines.extend("    " + line for line in table(["", *columns], rows).splitlines())
    return lines


def _group_name(channel: str) -> str:
    """``ch3`` -> ``ch``, ``input12`` -> ``input``: channels of one list share a table."""
    return channel.rstrip("0123456789") or channel
