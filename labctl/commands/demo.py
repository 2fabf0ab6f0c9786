"""``labctl demo``: a whole simulated link bring-up, from calibrations to the certified stage.

Starts the station's virtual lab once (every run joins the same world, as
runs in a lab share one set of instruments; with ``--join``, the one ``labctl
sim serve`` already serves), then runs the steps of a plan
(`labctl.plans`; the project's ``demo`` plan: the calibrations, the α sweep,
heralded entanglement, the Bell test, the memory benchmarks), each through
the engine with its progress bar and archived; certifies the link
(`labctl certify`, reusing those runs where it can) and writes the HTML
report. It ends by printing the stage attained and where the report is.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from labctl import station as station_module
from labctl.certification import BatterySettings, find_battery
from labctl.commands.certify import certify_station, write_certification_report
from labctl.commands.options import add_data_dir_option, add_station_options
from labctl.data.archive import Archive
from labctl.data.location import data_root
from labctl.engine.runner import Engine
from labctl.errors import LabctlError
from labctl.plans import find_plan
from labctl.simulation import find_simulator, join_served, joining
from labctl.stages import DEFAULT_ROUNDS
from labctl.station import StationSpec

log = logging.getLogger(__name__)

def register(commands: argparse._SubParsersAction[Any]) -> None:
    parser = commands.add_parser("demo", help="bring a simulated link up end to end: "
                                              "calibrate, entangle, Bell test, memory, "
                                              "certify, report")
    add_station_options(parser)
    parser.add_argument("--plan", default=None, metavar="NAME",
                        help="the plan to run (default: the only one installed)")
    parser.add_argument("--battery", default=None, metavar="NAME",
                        help="the test battery that certifies (default: the only one installed)")
    parser.add_argument("--out", default="demo-report",
                        help="folder for the HTML report (default: %(default)s; an earlier "
                             "report there is replaced)")
    add_data_dir_option(parser)
    parser.set_defaults(handler=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    spec = station_module.read_spec(args.station, args.profile)
    if spec.simulator is None:
        raise LabctlError(f"the demo runs on a simulated station: profile '{spec.profile}' "
                          f"of {spec.path} names no simulator")
    plan = find_plan(args.plan)
    find_battery(args.battery)
    archive = Archive(data_root(args.data_dir))
    run_ids: list[int] = []
    try:
        archive.reconcile()
        engine = Engine(archive, progress=True)
        with (joined(spec) if args.join else served(spec)) as addresses, joining():
            _say(f"virtual two-node link up: {len(addresses)} instruments on loopback TCP "
                 f"({spec.path}, profile {spec.profile})")
            for step in plan.steps:
                _say(f"{step.purpose}: {step.experiment.name}")
                outcome = engine.start(step.experiment, spec.path, spec.profile)
                run_ids.append(outcome.run_id)
                _say(f"  run {outcome.run_id} {outcome.status}" + (
                    f": {outcome.reason}" if outcome.status != "completed" else "")
                    + (f"; analysis: {outcome.analysis_error}" if outcome.analysis_error
                       else ""))
            _say("certification: the test battery (reusing the runs above where it can)")
            settings = BatterySettings(fibre_km=float(spec.world.get("fibre_km", 0.0)))
            certification = certify_station(archive, spec, settings, engine, DEFAULT_ROUNDS,
                                            reuse=run_ids, on_item=_say,
                                            battery=args.battery)
        report = write_certification_report(archive, certification, Path(args.out),
                                            extra_runs=run_ids, force=True)
    finally:
        archive.close()
    _print_summary(certification, report)
    return 0


@contextmanager
def joined(spec: StationSpec) -> Iterator[Mapping[str, str]]:
    """The virtual lab another process serves for the station (``--join``)."""
    session = join_served(station_module.simulated_station(spec))
    try:
        yield session.addresses
    finally:
        session.close()


@contextmanager
def served(spec: StationSpec) -> Iterator[Mapping[str, str]]:
    """Serve the station's virtual lab from a background thread while the demo runs."""
    simulator = find_simulator(str(spec.simulator))
    serve = getattr(simulator, "serve", None)
    if serve is None:
        raise LabctlError(f"simulator '{spec.simulator}' cannot serve")
    stop = threading.Event()
    ready = threading.Event()
    addresses: dict[str, str] = {}
    failure: list[BaseException] = []

    def on_ready(served_addresses: Mapping[str, str], control_port: int) -> None:
        addresses.update(served_addresses)
        ready.set()

    def target() -> None:
        try:
            serve(station_module.simulated_station(spec), [], on_ready, stop)
        except (LabctlError, OSError, RuntimeError, ValueError) as error:  # to the caller
            failure.append(error)
            ready.set()

    thread = threading.Thread(target=target, name="virtual-lab", daemon=True)
    thread.start()
    ready.wait(timeout=60)
    if failure or not addresses:
        stop.set()
        raise LabctlError(f"the virtual lab did not start: {failure[0] if failure else 'timeout'}")
    try:
        yield addresses
    finally:
        stop.set()
        thread.join(timeout=30)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _print_summary(certification: dict[str, Any], report: Path) -> None:
    for name, stage in certification["stages"].items():
        verdict = {True: "attained", False: "not attained", None: "not testable"}[
            stage["attained"]]
        margin = "" if stage["margin"] is None else f" (margin {stage['margin']:+.3g})"
        print(f"{name}: {verdict}{margin}")
    scope = "link-level stage" if certification.get("scope") == "link" else "network stage"
    print(f"{scope}: {certification['stage']}")   # two end nodes: a link, not a network
    print(f"report: {report}")
