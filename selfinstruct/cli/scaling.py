"""``scaling``: the data-size experiment's chart, a per-subset metric against the subset size
on a log axis (Self-Instruct's figure), from a metrics file or computed on the nested subsets."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    from .common import add_run_arg

    p = sub.add_parser(
        "scaling", help="chart a metric against the size of the nested subsets (export --subsets), log x axis",
        description="Plot per-subset metrics against the subset size, as the Self-Instruct paper's data-size "
                    "figure: from a CSV/JSON file of size and metric columns (ROUGE-L on the user-oriented set, "
                    "judge scores of models tuned on each subset), or, with --workspace and --subsets, the "
                    "diversity of the very subsets export --subsets writes (Vendi score, distinct-1/2/3).")
    p.add_argument("metrics", nargs="?", type=Path, metavar="METRICS",
                   help="CSV (header: size, then metric columns) or JSON ([{size, metric...}], {size: value} or "
                        "{metric: {size: value}})")
    p.add_argument("--workspace", "-w", metavar="FILE", help="compute the subsets' diversity from this workspace")
    add_run_arg(p)
    p.add_argument("--view", metavar="NAME", help="with --workspace: a saved filtered view of the run")
    p.add_argument("--subsets", metavar="SIZES", help="with --workspace: the sizes, as for export --subsets")
    p.add_argument("--subset-seed", type=int, default=0, metavar="N",
                   help="with --workspace: the seed of the subsets, as for export (default: 0)")
    p.add_argument("--metric", action="append", metavar="NAME", help="only this metric (repeat for several)")
    p.add_argument("--title", default="Data-size scaling", help="the chart's title")
    p.add_argument("--chart", type=Path, metavar="FILE.html|FILE.png", help="write the chart")
    p.add_argument("--json", action="store_true", help="print the table as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..scaling import DATA_METRICS, read_metrics, scaling_chart, subset_metrics

    if (args.metrics is None) == (args.workspace is None):
        raise ValueError("scaling: give a metrics file, or --workspace with --subsets (not both)")
    labels: dict[str, str] = {}
    if args.metrics is not None:
        table, source = read_metrics(args.metrics), args.metrics.name
    else:
        if not args.subsets:
            raise ValueError("scaling: --workspace needs --subsets (sizes, or doubling)")
        from ..filter_views import view_tasks
        from ..formats.subsets import subset_sizes
        from .common import open_run, open_store

        with open_store(args) as store:
            info = open_run(store, args)
            tasks = [t for t in view_tasks(store, info, args.view) if t.instances]
            sizes = subset_sizes(args.subsets, len(tasks), len(store.tasks(info.id, origin="seed")))
            table = subset_metrics(tasks, sizes, args.subset_seed, cache=store)
        labels, source = DATA_METRICS, f"run {info.name!r}, seed {args.subset_seed}"
    if args.metric:
        missing = [m for m in args.metric if m not in table]
        if missing:
            raise ValueError(f"scaling: no metric {', '.join(map(repr, missing))}; there are {', '.join(table)}")
        table = {m: table[m] for m in args.metric}
    if args.json:
        print(json.dumps({m: [{"size": s, "value": v} for s, v in pts] for m, pts in table.items()}))
    else:
        print(f"metrics per subset size ({source})")
        for metric, points in table.items():
            print(f"  {labels.get(metric, metric)}: " + ", ".join(f"{s:,} → {v:.4g}" for s, v in points))
    if args.chart is not None:
        from ..charts import write_figure

        print(f"chart: {write_figure(scaling_chart(table, title=args.title, labels=labels), args.chart)}")
    return 0
