"""``stats``: the paper's Table 1 and section-3 analysis of a data set."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    from ..cluster import add_ray_arg
    from .common import add_source_args

    p = sub.add_parser("stats", help="Table 1 statistics, verb-noun structure, lengths and ROUGE-L overlap")
    add_source_args(p)
    add_ray_arg(p)  # the verb-noun parse and the ROUGE-L distributions on the cluster
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def build_report(args: argparse.Namespace) -> dict:
    from ..analysis import full_report
    from .common import load_source

    label, tasks, seeds, cache, store, run = load_source(args)
    report = {"source": label, **full_report(tasks, seeds=seeds, cache=cache, ray=args.ray)}
    if store is not None and run is not None:
        from ..compare import response_set_stats
        from ..evaluate.length import length_score_summary

        report["response_sets"] = response_set_stats(store, run)
        report["length_vs_score"] = length_score_summary(store, run)
    return report


def run(args: argparse.Namespace) -> int:
    from ..analysis import format_table1

    report = build_report(args)
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
        return 0
    print(format_table1(report, names=[report["source"]]))
    print(f"\nverb-noun parsed: {report['verb_noun_parsed']:,} / {report['verb_noun_total']:,} instructions")
    for v in report["top_verbs"][:20]:
        nouns = ", ".join(f"{n['noun']} {n['count']}" for n in v["nouns"])
        print(f"  {v['verb']:<12} {v['count']:>6}   {nouns}")
    if report["rouge_vs_seeds_mean"] is not None:
        print(f"\nROUGE-L vs most similar seed: mean {report['rouge_vs_seeds_mean']:.3f},"
              f" median {report['rouge_vs_seeds_median']:.3f}")
    if report["rouge_within_mean"] is not None:
        print(f"ROUGE-L vs most similar other instruction: mean {report['rouge_within_mean']:.3f}")
    for name, s in (report.get("response_sets") or {}).items():
        print(f"response set {name}: " + ", ".join(f"{k} {v}" for k, v in s.items() if not isinstance(v, (list, dict))))
    for f in report.get("length_vs_score") or []:
        r, rho = (("n/a" if v is None else f"{v:.2f}") for v in (f["pearson"], f["spearman"]))
        print(f"length vs score, judge {f['judge']} ({'pairwise' if f['paired'] else 'alone'}, n={f['n']:,} in "
              f"{', '.join(f['sets'])}): Pearson r {r}, Spearman rho {rho}; details: evaluate length-score")
    return 0
