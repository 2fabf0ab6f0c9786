"""``labctl node serve|status``: serve a station's instruments to an orchestrator; ask a node.

``serve`` loads the station profile (connecting its instruments), binds the
node's ROUTER socket — loopback unless ``--keys`` gives CURVE keys — prints
the address and serves until interrupted (Ctrl-C or SIGTERM); a run still
armed then is put in safe state first. With ``--sim-lab STATION`` a
simulated node joins the virtual lab ``labctl sim serve STATION`` runs, so
several nodes share one world.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from labctl import station as station_module
from labctl.commands.output import print_json
from labctl.errors import LabctlError
from labctl.node.server import DEFAULT_BIND, DEFAULT_HEARTBEAT_TIMEOUT, NodeServer, ServerOptions
from labctl.remote.address import BadRemote, parse_remote
from labctl.remote.keys import ServerKeys
from labctl.remote.nodes import RemoteNodes
from labctl.remote.protocol import Limits
from labctl.simulation import announce, discover, joining, say_joined


def register(commands: argparse._SubParsersAction[Any]) -> None:
    node = commands.add_parser("node", help="serve a station's instruments to an orchestrator")
    node_commands = node.add_subparsers(dest="node_command", required=True,
                                        metavar="SUBCOMMAND")
    serve = node_commands.add_parser(
        "serve", help="serve a station's instruments over zmq until interrupted")
    serve.add_argument("--station", required=True, help="the node's station YAML file")
    serve.add_argument("--profile", default=station_module.DEFAULT_PROFILE,
                       help="station profile (default: %(default)s)")
    serve.add_argument("--bind", default=DEFAULT_BIND,
                       help="tcp://HOST:PORT to serve on; PORT '*' picks a free one; "
                            "anything but loopback needs --keys (default: %(default)s)")
    serve.add_argument("--keys", metavar="DIR",
                       help="CurveZMQ keys folder ('labctl keys generate DIR'): encrypt, and "
                            "accept only the clients in DIR/authorized_clients")
    serve.add_argument("--heartbeat-timeout", type=float, default=DEFAULT_HEARTBEAT_TIMEOUT,
                       metavar="S", help="safe state when an orchestrator that changed "
                                         "something is silent this long; orchestrators "
                                         "notice a dead node as fast (default: %(default)s s)")
    serve.add_argument("--max-message-mb", type=float, default=256.0, metavar="MB",
                       help="refuse larger requests (default: %(default)s MB)")
    serve.add_argument("--herald-bus", metavar="ADDR",
                       help="publish the heralds of each time-tagger recording on this "
                            "tcp://HOST:PORT (the heralding station)")
    serve.add_argument("--herald-source", metavar="ADDR",
                       help="subscribe to the herald bus at tcp://HOST:PORT (a node)")
    serve.add_argument("--herald-window-ns", type=float, default=25.0, metavar="NS",
                       help="detection window for --herald-bus (default: %(default)s ns)")
    serve.add_argument("--sim-lab", metavar="STATION",
                       help="(simulated profiles) join the virtual lab 'labctl sim serve "
                            "STATION' runs instead of starting one for this node alone")
    serve.add_argument("--json", action="store_true",
                       help="print the address etc. as one JSON object")
    serve.set_defaults(handler=serve_node)

    status = node_commands.add_parser("status", help="ask a node what it serves and does")
    status.add_argument("address", help="the node's tcp://HOST:PORT")
    status.add_argument("--keys", metavar="DIR", help="CurveZMQ keys folder of this PC")
    status.add_argument("--timeout", type=float, default=5.0, metavar="S",
                        help="give up after this long (default: %(default)s s)")
    status.add_argument("--json", action="store_true", help="print JSON for machines")
    status.set_defaults(handler=node_status)


def serve_node(args: argparse.Namespace) -> int:
    options = _options(args)
    spec = station_module.read_spec(args.station, args.profile)
    joined = _join_sim_lab(spec, args.sim_lab) if args.sim_lab else None
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        with joining(joined is not None), station_module.load(args.station,
                                                              args.profile) as station:
            server = NodeServer(station, options)
            try:
                server.start()
                _ready(server, args.json)
                server.serve(stop)
            finally:
                server.close()
    finally:
        if joined is not None:
            _unannounce(joined)
    return 0


def node_status(args: argparse.Namespace) -> int:
    if not (math.isfinite(args.timeout) and args.timeout > 0):
        raise LabctlError(f"--timeout must be a positive number of seconds, got {args.timeout}")
    try:
        remote = parse_remote({"address": args.address, **({"keys": args.keys}
                                                          if args.keys else {})}, Path.cwd())
    except BadRemote as error:
        raise LabctlError(f"{args.address}: {error}") from None
    nodes = RemoteNodes(call_timeout=args.timeout)
    try:
        client = nodes.client(remote, connect_timeout=args.timeout)
        status, _ = client.request("status")
        payload: dict[str, Any] = {"address": client.address, **client.hello, "status": status}
    finally:
        nodes.close()
    if args.json:
        print_json(payload)
    else:
        run = status.get("run")
        print(f"{payload['address']}  nodes {', '.join(payload.get('nodes', []))}  "
              f"clock {payload.get('clock', {}).get('kind')}")
        print(f"  instruments: {', '.join(payload.get('instruments', []))}")
        armed = "none" if run is None else f"{run['run_id']} ({run['state']})"
        print(f"  run: {armed}; sessions: {status.get('sessions')}")
        for entry in status.get("safe_states", []):
            print(f"  safe state ({'ok' if entry.get('ok') else 'FAILED'}): {entry['reason']}")
        if status.get("heralds") is not None:
            print(f"  heralds received: {json.dumps(status['heralds'])}")
    return 0


def _options(args: argparse.Namespace) -> ServerOptions:
    if not (math.isfinite(args.max_message_mb) and args.max_message_mb > 0):
        raise LabctlError(f"--max-message-mb must be positive, got {args.max_message_mb}")
    if not (math.isfinite(args.herald_window_ns) and args.herald_window_ns > 0):
        raise LabctlError(f"--herald-window-ns must be positive, got {args.herald_window_ns}")
    total = round(args.max_message_mb * 1024 * 1024)
    limits = Limits(max_message_bytes=total,
                    max_header_bytes=min(Limits().max_header_bytes, total))
    keys = ServerKeys.load(args.keys) if args.keys else None
    return ServerOptions(bind=args.bind, keys=keys, heartbeat_timeout=args.heartbeat_timeout,
                         limits=limits, herald_bus=args.herald_bus,
                         herald_source=args.herald_source,
                         herald_window_ps=round(args.herald_window_ns * 1000))


def _join_sim_lab(spec: station_module.StationSpec, lab_path: str) -> Path:
    """Point the node's simulated profile at the virtual lab serving ``lab_path``."""
    if spec.simulator is None:
        raise LabctlError(f"--sim-lab: profile '{spec.profile}' of {spec.path} names no "
                          "simulator")
    lab = station_module.simulated_station(station_module.read_spec(lab_path, spec.profile))
    announcement = discover(lab)
    if announcement is None:
        raise LabctlError(f"--sim-lab: no virtual lab serves {lab_path} (profile "
                          f"'{spec.profile}'); start 'labctl sim serve {lab_path}' first")
    addresses = dict(announcement["addresses"])
    missing = [s.name for s in spec.instruments if s.remote is None and s.name not in addresses]
    if missing:
        raise LabctlError(f"--sim-lab: the virtual lab of {lab_path} serves no "
                          f"{', '.join(missing)} (a node's instruments keep their names)")
    say_joined(announcement)
    return announce(station_module.simulated_station(spec), addresses,
                    int(announcement["control_port"]), announcement.get("init") or {})


def _unannounce(path: Path) -> None:
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def _ready(server: NodeServer, as_json: bool) -> None:
    names = list(server.catalogs)
    nodes = sorted({s.node for s in server.station.spec.instruments if s.node})
    if as_json:
        print_json({"endpoint": server.endpoint, "herald_bus": server.herald_endpoint,
                    "nodes": nodes, "instruments": names, "instance": server.instance,
                    "heartbeat_timeout": server.options.heartbeat_timeout,
                    "curve": server.options.keys is not None})
        sys.stdout.flush()
    else:
        print(f"{server.endpoint}  {', '.join(nodes) or 'node'}: {', '.join(names)}")
        if server.herald_endpoint:
            print(f"{server.herald_endpoint}  herald bus")
        print(f"# heartbeat timeout {server.options.heartbeat_timeout:g} s; "
              f"{'CURVE' if server.options.keys else 'no encryption (loopback)'}; "
              "Ctrl-C to stop", flush=True)

