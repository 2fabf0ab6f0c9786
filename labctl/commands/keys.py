"""``labctl keys generate DIR``: a CurveZMQ key set for nodes and their orchestrator."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from labctl.commands.output import print_json
from labctl.errors import LabctlError
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
    folder = _writable_folder(args.directory)
    try:
        written = [str(path) for path in generate(folder)]
    except OSError as error:   # e.g. a disk that filled up under us
        raise LabctlError(f"cannot write keys into {args.directory}: "
                          f"{error.strerror or error}") from None
    if args.json:
        print_json({"files": written})
    else:
        for path in written:
            print(path)
        print(f"# node: labctl node serve --keys {args.directory} ...; orchestrator: "
              f"remote: {{address: .., keys: {args.directory}}} (only *.key_secret files are "
              "secret)")
    return 0


def _writable_folder(directory: str) -> Path:
    """``directory`` if keys can be written there: a folder, or one that can be made in
    the nearest existing folder above it; `LabctlError` saying why not, before anything."""
    folder = Path(directory)
    if folder.exists() and not folder.is_dir():
        raise LabctlError(f"keys folder {directory}: exists and is not a folder")
    existing = next(p for p in (folder.absolute(), *folder.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise LabctlError(f"keys folder {directory}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise LabctlError(f"keys folder {directory}: {existing} is not writable")
    return folder

