"""``labctl keys generate DIR``: a CurveZMQ key set for nodes and their orchestrator."""

from __future__ import annotations

import argparse
from typing import Any

from labctl.commands.output import print_json
from labctl.remote.keys import generate


def register(commands: argparse._SubParsersAction[Any]) -> None:
    keys = commands.add_parser("keys", help="CurveZMQ keys for remote nodes")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True,
                                        metavar="SUBCOMMAND")
    make = keys_commands.add_parser(
        "generate", help="write a node and an orchestrator key pair; authorise the latter")
    make.add_argument("directory", metavar="DIR", help="folder to write (never overwritten)")
    make.add_argument("--json", action="store_true", help="print the files as JSON")
    make.set_defaults(handler=generate_keys)


def generate_keys(args: argparse.Namespace) -> int:
    written = [str(path) for path in generate(args.directory)]
    if args.json:
        print_json({"files": written})
    else:
        for path in written:
            print(path)
        print(f"# node: labctl node serve --keys {args.directory} ...; orchestrator: "
              f"remote: {{address: .., keys: {args.directory}}} (only *.key_secret files are "
              "secret)")
    return 0
