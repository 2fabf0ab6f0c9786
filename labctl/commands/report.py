"""``labctl report``: a self-contained HTML page of archived runs and a certification.

Bad input — an unknown run id, ``--out`` naming a file or a non-empty
folder (without ``--force``), an unreadable or malformed certification —
ends with one line and exit status 2, and nothing is written.
"""

from __future__ import annotations

import argparse
from typing import Any

from labctl.commands.options import add_data_dir_option
from labctl.commands.output import print_json
from labctl.data.archive import Archive
from labctl.data.location import data_root
from labctl.errors import LabctlError
from labctl.report.certification import load_certification
from labctl.report.html import write_report


def register(commands: argparse._SubParsersAction[Any]) -> None:
    report = commands.add_parser(
        "report", help="write an HTML report of archived runs (and a certification)",
        description="Write DIR/index.html with its plots for archived runs and, with "
                    "--certification, a stage certification; the folder is self-contained.")
    report.add_argument("run_ids", nargs="*", type=int, metavar="RUN_ID",
                        help="runs to report, in this order")
    report.add_argument("--out", required=True, metavar="DIR",
                        help="the report folder (created; must not be a non-empty folder "
                             "unless --force)")
    report.add_argument("--certification", metavar="FILE.json",
                        help="a certification written by 'labctl certify --json'")
    report.add_argument("--force", action="store_true",
                        help="replace DIR if it holds an earlier report")
    report.add_argument("--json", action="store_true", help="print JSON for machines")
    add_data_dir_option(report)
    report.set_defaults(handler=make_report)


def make_report(args: argparse.Namespace) -> int:
    certification = (load_certification(args.certification)
                     if args.certification is not None else None)   # refuse it before anything
    if not args.run_ids and certification is None:   # before the archive is opened
        raise LabctlError("nothing to report: give run ids or a certification")
    archive = Archive(data_root(args.data_dir))
    try:
        archive.reconcile()
        index = write_report(archive, args.run_ids, args.out, certification, force=args.force)
    finally:
        archive.close()
    if args.json:
        print_json({"index": str(index), "runs": list(dict.fromkeys(args.run_ids)),
                    "certification": args.certification})
    else:
        print(index)
    return 0
