"""``import``: bring a data set file into a workspace as a run to analyse, filter and re-export."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    from ..formats.catalog import FORMATS
    from .common import add_workspace_arg

    p = sub.add_parser(
        "import", help="bring an Alpaca, chat, ShareGPT, GPT-3, CSV, Parquet or seed file in as a run",
        description="Read a data set file whole; records with the same id (or, without one, the same instruction) "
                    "become one task. "
                    "Bad records are named by file and line and nothing is imported unless --skip-bad.",
    )
    add_workspace_arg(p)
    p.add_argument("--file", required=True, metavar="PATH", help="the file (or Hugging Face data set folder)")
    p.add_argument("--format", "-f", metavar="FORMAT",
                   help=f"one of {', '.join(FORMATS)} (also user-oriented); default: detected")
    p.add_argument("--name", metavar="RUNNAME", help="name of the new run (default: the file's name)")
    p.add_argument("--skip-bad", action="store_true", help="skip bad records (listed) instead of refusing the file")
    p.add_argument("--language", default="en", help="language code of the data (default: en)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..formats import read_file
    from ..formats.importing import store_import
    from .common import open_store

    parsed = read_file(args.file, args.format)  # a file that cannot be read makes no workspace
    with open_store(args, create=True) as store:
        result = store_import(store, parsed, name=args.name, skip_bad=args.skip_bad, language=args.language)
    p = result.parsed
    print(f"imported {p.records:,} {p.format} record(s) from {p.path} as run {result.run.name!r}: "
          f"{len(p.tasks):,} task(s), {p.instances:,} instance(s)")
    if p.bad:
        print(f"skipped {len(p.bad)} bad record(s):", file=sys.stderr)
        for b in p.bad:
            print(f"  {b}", file=sys.stderr)
    return 0
