"""``charts``: write the analysis figures as interactive HTML (and PNG where kaleido is present)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    from .common import add_source_args

    p = sub.add_parser("charts", help="write the analysis charts (HTML, PNG where kaleido is available)")
    add_source_args(p)
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for the chart files")
    p.add_argument("--standalone", action="store_true", help="embed plotly.js in every HTML file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..analysis import full_report, lengths
    from ..charts import chart_folder, report_figures, write_charts
    from .common import load_source

    out = chart_folder(args.out)
    label, tasks, seeds, cache, _store, _run = load_source(args)
    report = full_report(tasks, seeds=seeds, cache=cache)
    figures = report_figures([report], [lengths(tasks)], names=[label])
    for path in write_charts(figures, out, standalone=args.standalone):
        print(path)
    return 0
