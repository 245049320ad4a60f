"""``export``: write what a run (or a filtered view of it) keeps in a fine-tuning format."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..formats import ExportOptions

# Options that shape only some formats' records: (flag, attribute, the formats that use it).
FORMAT_OPTIONS = (("--seed", "seed", {"gpt3"}), ("--max-instances", "max_instances", {"gpt3"}),
                  ("--system", "system", {"chat", "sharegpt"}))


def at_least_one(text: str) -> int:
    """An argparse type: an integer >= 1 (a cap of 0 would export nothing)."""
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def register(sub: argparse._SubParsersAction) -> None:
    from ..formats.catalog import FORMATS
    from .common import add_run_arg, add_workspace_arg

    p = sub.add_parser(
        "export", help="write a run's kept data as GPT-3, Alpaca, chat, ShareGPT, Hugging Face, CSV or seed files",
        description="Write exactly what a run keeps (or what a saved filtered view keeps) in a fine-tuning "
                    "format, atomically, with a manifest of counts and provenance beside it.",
    )
    add_workspace_arg(p)
    add_run_arg(p)
    p.add_argument("--view", metavar="NAME", help="a saved filtered view of the run (default: its stored verdicts)")
    p.add_argument("--responses", metavar="SETNAME",
                   help="use the outputs of this response set instead of the original outputs")
    p.add_argument("--format", "-f", required=True, metavar="FORMAT",
                   help="; ".join(f"{f.name}: {f.description}" for f in FORMATS.values()))
    p.add_argument("--out", "-o", required=True, metavar="PATH", help="output file (a folder for hf)")
    p.add_argument("--seed", type=int, help="shuffle and template seed of the gpt3 encoding (default: 42)")
    p.add_argument("--max-instances", type=at_least_one, metavar="N",
                   help="instances per task in the gpt3 encoding, at least 1 (default: 5)")
    p.add_argument("--system", help="system message for chat and sharegpt records (blank: none)")
    p.add_argument("--subsets", metavar="SIZES",
                   help="write nested random subsets into the folder --out instead: sizes (100,200,400) or "
                        "'doubling' (from the run's seed count up to the whole set); each holds the smaller ones")
    p.add_argument("--subset-seed", type=int, default=0, metavar="N",
                   help="with --subsets: the seed of the one random order the subsets are prefixes of (default: 0)")
    p.add_argument("--json", action="store_true", help="print the manifest as JSON (with --subsets: the index)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..formats import ExportOptions, export_run, resolve
    from .common import open_run, open_store

    fmt = resolve(args.format)
    if not args.out.strip():
        raise ValueError("export: --out is empty; give the file to write (a folder for --format hf)")
    given = {attr: getattr(args, attr) for _, attr, _ in FORMAT_OPTIONS if getattr(args, attr) is not None}
    for flag, attr, used in FORMAT_OPTIONS:
        if attr in given and fmt.name not in used:
            print(f"warning: {flag} only applies to --format {' and '.join(sorted(used))}; "
                  f"ignored for {fmt.name}", file=sys.stderr)
    if args.subsets:
        return run_subsets(args, fmt.name, ExportOptions(**given))
    with open_store(args) as store:
        info = open_run(store, args)
        result = export_run(store, info, fmt=fmt.name, out=args.out, view=args.view, responses=args.responses,
                            options=ExportOptions(**given))
    m = result.manifest
    if args.json:
        print(json.dumps(m, indent=2, ensure_ascii=False))
        return 0
    c = m["counts"]
    print(f"wrote {c['records']:,} {m['format']} record(s) from run {m['run']!r}"
          + (f" view {m['view']!r}" if m["view"] else "") + f" to {result.path}")
    print(f"  {c['instructions_exported']:,} instruction(s) with {c['instances_exported']:,} instance(s); "
          f"{c['instructions_without_instances']:,} left out with no kept instance")
    for key in ("instances_without_response", "instances_skipped_empty", "instructions_without_valid_instances",
                "csv_formula_cells_escaped"):
        if c.get(key):
            print(f"  {key.replace('_', ' ')}: {c[key]:,}")
    if c.get("instances_dropped_by_encoding"):
        print("  dropped by the encoding: " + ", ".join(f"{k} {v}" for k, v in c["instances_dropped_by_encoding"].items()))
    print(f"  manifest: {result.manifest_path}")
    return 0


def run_subsets(args: argparse.Namespace, fmt: str, options: ExportOptions) -> int:
    """``export --subsets``: the nested subsets, one file (and manifest) each, and their index."""
    from ..formats.subsets import export_subsets, subset_summary
    from .common import open_run, open_store

    with open_store(args) as store:
        info = open_run(store, args)
        result = export_subsets(store, info, fmt=fmt, out=args.out, sizes=args.subsets, seed=args.subset_seed,
                                view=args.view, responses=args.responses, options=options)
    if args.json:
        print(result.index_path.read_text(encoding="utf-8"), end="")
        return 0
    print(f"wrote {len(result.sizes)} nested {fmt} subset(s) of run {info.name!r} (seed {args.subset_seed}) "
          f"to {result.folder}")
    for row in subset_summary(result):
        print(f"  {row['size']:>8,} instructions  {row['records']:>8,} records  {row['path']}")
    print(f"  index: {result.index_path}")
    return 0
