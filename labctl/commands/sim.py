"""``labctl sim serve STATION``: run a station's simulator in the foreground.

Prints the VISA resource address of every instrument, one per line, then
serves until interrupted (Ctrl-C or SIGTERM). While it runs, a ``labctl``
command using the same station and profile connects to it — instead of
starting its own — when asked: ``--join`` (or ``join: true`` in the
profile); it says which lab it joined. Every ``--fault`` is checked before
anything is served.
"""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import Any

import yaml

from labctl import station as station_module
from labctl.commands.output import print_json
from labctl.errors import LabctlError
from labctl.simulation import discover, find_simulator


def register(commands: argparse._SubParsersAction[Any]) -> None:
    sim = commands.add_parser("sim", help="the virtual lab")
    sim_commands = sim.add_subparsers(dest="sim_command", required=True, metavar="SUBCOMMAND")
    serve = sim_commands.add_parser(
        "serve", help="serve a station's simulated instruments until interrupted")
    serve.add_argument("station", nargs="?", default=str(station_module.DEFAULT_STATION),
                       help="station YAML file (default: %(default)s)")
    serve.add_argument("--profile", default=station_module.DEFAULT_PROFILE,
                       help="a profile that names a simulator (default: %(default)s)")
    serve.add_argument("--fault", action="append", default=[], metavar="NAME:KIND[:VALUE]",
                       help="inject a fault at start: latency (s), drop, garbage, silent, "
                            "unlock (lasers), latch (SNSPD channel); repeatable")
    serve.add_argument("--json", action="store_true",
                       help="print the addresses as one JSON object instead")
    serve.set_defaults(handler=serve_station)
    lab = sim_commands.add_parser(
        "lab-profile", help="write a copy of the station file with a lab-style profile "
                            "pointing at the virtual lab now serving it (for rehearsing "
                            "`labctl station check --contact`)")
    lab.add_argument("station", nargs="?", default=str(station_module.DEFAULT_STATION),
                     help="station YAML file (default: %(default)s)")
    lab.add_argument("--profile", default=station_module.DEFAULT_PROFILE,
                     help="the profile being served (default: %(default)s)")
    lab.add_argument("--out", required=True, help="the station file to write")
    lab.add_argument("--name", default="loopback",
                     help="the new profile's name (default: %(default)s)")
    lab.set_defaults(handler=write_lab_profile)


def serve_station(args: argparse.Namespace) -> int:
    spec = station_module.read_spec(args.station, args.profile)
    if spec.simulator is None:
        raise LabctlError(f"{spec.path}: profile '{spec.profile}' names no simulator "
                          "(add 'simulator: virtual_lab' to it)")
    simulator = find_simulator(spec.simulator)
    serve = getattr(simulator, "serve", None)
    if serve is None:
        raise LabctlError(f"simulator '{spec.simulator}' cannot serve in the foreground")
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)

    def ready(addresses: Mapping[str, str], control_port: int) -> None:
        if args.json:
            print_json({"addresses": dict(addresses), "control_port": control_port})
        else:
            for name, address in addresses.items():
                print(f"{address}  {name}")
            print(f"# control port {control_port}; Ctrl-C to stop", flush=True)

    serve(station_module.simulated_station(spec), args.fault, ready, stop)
    return 0


def write_lab_profile(args: argparse.Namespace) -> int:
    """Write ``--out``: the station file plus a profile with the served loopback addresses."""
    spec = station_module.read_spec(args.station, args.profile)
    announcement = discover(station_module.simulated_station(spec))
    if announcement is None:
        raise LabctlError(f"no virtual lab serves {spec.path} profile '{spec.profile}' "
                          f"(start one with: labctl sim serve {spec.path} "
                          f"--profile {spec.profile})")
    document = yaml.safe_load(spec.path.read_text(encoding="utf-8"))
    instruments = {}
    for instrument in spec.instruments:
        address = announcement["addresses"].get(instrument.name)
        if address is None:
            continue
        init = {k: v for k, v in (instrument.qcodes_config.get("init") or {}).items()
                if k not in station_module.UNSIMULATED_INIT}
        entry: dict[str, Any] = {
            "type": f"{instrument.driver.__module__}.{instrument.driver.__qualname__}",
            "address": address,
            "init": {**init, **announcement.get("init", {}).get(instrument.name, {})}}
        if instrument.adapter is not None:
            entry["adapter"] = f"{instrument.adapter.__module__}.{instrument.adapter.__qualname__}"
        if instrument.wiring:
            entry["wiring"] = instrument.wiring
        instruments[instrument.name] = entry
    document.setdefault("profiles", {})[args.name] = {
        "description": f"lab-style: the instruments of profile '{spec.profile}' at the "
                       "loopback addresses of the virtual lab serving them",
        "instruments": instruments}
    out = Path(args.out)
    temporary = out.with_name(out.name + ".tmp")
    try:
        temporary.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        temporary.replace(out)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise LabctlError(f"--out {out}: cannot write it: {error.strerror or error}") from None
    print(f"{out}: profile '{args.name}' ({len(instruments)} instruments)")
    return 0
