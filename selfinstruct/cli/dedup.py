"""``dedup``: the paper's ROUGE-L filter over any data set file, without a workspace."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from ..cluster import add_ray_arg
    from ..formats.catalog import FORMATS
    from ..novelty import TOKENIZERS

    p = sub.add_parser(
        "dedup", help="drop near-duplicate instructions (ROUGE-L > threshold) from any data set file",
        description="Read a data set file in any import format whole (bad records are named by file and line, "
                    "and nothing is written); in file order, drop every task whose instruction has ROUGE-L above "
                    "--threshold with a task kept before it or an --against task; write the kept records in the "
                    "same format, and a report of each dropped record with its score and the record that blocked it.",
    )
    p.add_argument("file", metavar="FILE", help="the data set file (or Hugging Face data set folder)")
    p.add_argument("--out", "-o", metavar="OUT", help="where the kept records go (default: FILE's name + .dedup)")
    p.add_argument("--format", "-f", metavar="FORMAT",
                   help=f"one of {', '.join(FORMATS)} (also user-oriented); default: detected")
    p.add_argument("--report", metavar="FILE",
                   help="the dropped records, JSONL (or CSV when FILE ends in .csv); default: OUT.report.jsonl")
    p.add_argument("--threshold", type=float, default=0.7, help="drop above this ROUGE-L F (default 0.7, the paper's)")
    p.add_argument("--against", metavar="FILE",
                   help="tasks that are never dropped but block similar ones (e.g. the seed tasks), any format")
    p.add_argument("--tokenizer", choices=TOKENIZERS, default="rouge",
                   help="rouge (rouge-score's, the paper's) or unicode (words of any script, CJK by character)")
    add_ray_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..dedup import dedup_file

    result = dedup_file(args.file, args.out, fmt=args.format, report=args.report, threshold=args.threshold,
                        against=args.against, tokenizer=args.tokenizer, ray=args.ray)
    print(result.summary())
    return 0
