"""``labctl certify``: which stage of a quantum internet the station's link attains.

Runs a test battery (registered under ``labctl.batteries``, see
`labctl.certification`; the project's measures readout fidelities, prepare
and measure, heralded entanglement, a Bell test and each node's memory under
entangling attempts) — or reuses archived runs of it — and prints each stage's verdict
(`labctl.stages`) over all pairs of end nodes: attained / not attained / not
testable, the pair or node that limits it, its parameters with 95 % confidence
intervals, the thresholds and the margin. With fewer than three end nodes the
result is link-level and says so (``scope``: ``link`` or ``network``). Exit
status 0 whatever the verdict; bad input ends in one line and exit 2.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from labctl import station as station_module
from labctl.certification import BatteryContext, BatterySettings, find_battery, reusable_runs
from labctl.commands.options import add_data_dir_option, add_station_options
from labctl.commands.output import print_json
from labctl.data.archive import Archive
from labctl.data.location import data_root
from labctl.engine.experiment import MAX_SETTING_INT
from labctl.engine.runner import Engine
from labctl.errors import LabctlError
from labctl.stages import (
    DEFAULT_CIRCUIT_ROUNDS,
    DEFAULT_ROUNDS,
    LINK_NOTE,
    STAGES,
    Measurements,
    certify,
    end_nodes,
    highest_stage,
    scope,
)
from labctl.station import StationSpec


def register(commands: argparse._SubParsersAction[Any]) -> None:
    parser = commands.add_parser("certify", help="run the test battery and say which stage "
                                                 "of a quantum internet the link attains")
    add_station_options(parser)
    parser.add_argument("--battery", default=None, metavar="NAME",
                        help="the test battery (default: the only one installed)")
    parser.add_argument("--protocol", default="single-click",
                        choices=("single-click", "barrett-kok"),
                        help="entangling protocol of the battery (default: %(default)s)")
    parser.add_argument("--alpha", type=float, default=0.05,
                        help="bright-state population for single click (default: %(default)s)")
    parser.add_argument("--block-seconds", type=float, default=120.0,
                        help="seconds per block of the link experiments (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS,
                        help="rounds k the quantum-memory stage requires (default: %(default)s)")
    parser.add_argument("--circuit-rounds", type=float, default=DEFAULT_CIRCUIT_ROUNDS,
                        metavar="C_M",
                        help="C_m: pair-and-message rounds of the circuit the memory waits "
                             "for (default: %(default)s, a depth-one circuit)")
    parser.add_argument("--fibre-km", type=float, default=None,
                        help="node-to-node fibre, km (default: the simulated world's, else 0)")
    parser.add_argument("--reuse", type=int, nargs="+", default=[], metavar="RUN_ID",
                        help="archived runs to use instead of running those experiments")
    parser.add_argument("--reuse-hours", type=float, default=0.0,
                        help="reuse this station's completed runs from the last H hours")
    parser.add_argument("--report", metavar="DIR",
                        help="also write the HTML report of the certification into DIR")
    parser.add_argument("--json", action="store_true", help="print JSON for machines")
    add_data_dir_option(parser)
    parser.set_defaults(handler=run_certification)


def run_certification(args: argparse.Namespace) -> int:
    spec = station_module.read_spec(args.station, args.profile)   # a broken station: first
    if args.rounds < 1:
        raise LabctlError(f"--rounds must be at least 1, got {args.rounds}")
    if args.rounds > MAX_SETTING_INT:
        raise LabctlError(f"--rounds must be at most {MAX_SETTING_INT}, got {args.rounds}")
    if not (math.isfinite(args.circuit_rounds) and args.circuit_rounds >= 1):
        raise LabctlError(f"--circuit-rounds must be at least 1, got {args.circuit_rounds}")
    if not (math.isfinite(args.reuse_hours) and args.reuse_hours >= 0):
        raise LabctlError(f"--reuse-hours must be a non-negative number, got {args.reuse_hours}")
    fibre_km = args.fibre_km if args.fibre_km is not None else float(
        spec.world.get("fibre_km", 0.0))
    settings = BatterySettings(protocol=args.protocol, alpha=args.alpha,
                               block_seconds=args.block_seconds, fibre_km=fibre_km)
    find_battery(args.battery)   # an unknown battery: before the archive is touched
    archive = Archive(data_root(args.data_dir))
    try:
        archive.reconcile()
        progress = sys.stderr.isatty() and not args.json
        certification = certify_station(
            archive, spec, settings, Engine(archive, progress=progress), args.rounds,
            circuit_rounds=args.circuit_rounds, reuse=args.reuse, reuse_hours=args.reuse_hours,
            on_item=None if args.json else _announce, battery=args.battery)
        if args.report:
            certification["report"] = str(write_certification_report(
                archive, certification, Path(args.report)))
    finally:
        archive.close()
    if args.json:
        print_json(certification)
    else:
        print_certification(certification)
    return 0


def certify_station(archive: Archive, spec: StationSpec, settings: BatterySettings,
                    engine: Engine, rounds: int, reuse: Sequence[int] = (),
                    circuit_rounds: float = DEFAULT_CIRCUIT_ROUNDS,
                    reuse_hours: float = 0.0,
                    on_item: Callable[[str], None] | None = None,
                    battery: str | None = None) -> dict[str, Any]:
    """Run (or reuse) the battery and certify: the JSON document ``certify`` prints."""
    context = BatteryContext(archive, spec, settings, engine,
                             reusable_runs(archive, spec, reuse, reuse_hours), on_item)
    runner = find_battery(battery)(context)
    measured = runner.run()
    links = [measured] if isinstance(measured, Measurements) else list(measured)
    verdicts = certify(links, rounds, circuit_rounds)
    extent = scope(links)
    return {
        "station": str(spec.path), "profile": spec.profile,
        "stage": highest_stage(verdicts),
        "scope": extent, "end_nodes": list(end_nodes(links)),
        "pairs": [link.pair for link in links],
        "note": LINK_NOTE if extent == "link" else "network stage over all pairs of end nodes",
        "stages": {v.stage: v.to_dict() for v in verdicts},
        "rounds": rounds, "circuit_rounds": circuit_rounds,
        "battery": {"protocol": settings.protocol, "alpha": settings.alpha,
                    "block_seconds": settings.block_seconds, "fibre_km": settings.fibre_km,
                    "runs": runner.record.runs, "skipped": runner.record.skipped},
    }


def _announce(item: str) -> None:
    print(f"running {item}", file=sys.stderr)


def write_certification_report(archive: Archive, certification: dict[str, Any], out: Path,
                               extra_runs: Sequence[int] = (), force: bool = False) -> Path:
    """The HTML report of a certification and its runs (plus ``extra_runs``)."""
    from labctl.report.html import write_report

    run_ids = sorted({run for runs in certification["battery"]["runs"].values() for run in runs}
                     | set(extra_runs))
    return write_report(archive, run_ids, out, certification=certification, force=force)



def print_certification(certification: dict[str, Any]) -> None:
    """The verdicts for a person."""
    print(f"station {certification['station']} (profile {certification['profile']}), "
          f"end nodes {', '.join(certification.get('end_nodes', []))}")
    for name in STAGES:
        stage = certification["stages"][name]
        verdict = {True: "attained", False: "not attained", None: "not testable"}[
            stage["attained"]]
        margin = "" if stage["margin"] is None else f", margin {stage['margin']:+.3g}"
        limiting = f" (limited by {stage['limiting']})" if stage.get("limiting") and len(
            stage.get("parts", {})) > 1 else ""
        print(f"  {name}: {verdict}{margin}{limiting}")
        print(f"    {stage['reason']}")
        for key, value in stage["parameters"].items():
            print(f"    {key} = {value['value']:.4g}  [{value['low']:.4g}, {value['high']:.4g}]")
    if certification.get("scope") == "link":
        print(f"link-level stage attained: {certification['stage']} ({LINK_NOTE})")
    else:
        print(f"network stage attained: {certification['stage']}")
    if "report" in certification:
        print(f"report: {certification['report']}")
