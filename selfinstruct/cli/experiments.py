"""The papers' experiments as ``evaluate`` subcommands.

``length-score``: do longer answers get better judge scores ("Instruction Tuning with GPT-4")?
``output-quality``: Self-Instruct's data-quality experiment, in one command: re-answer a run's kept
instances with a stronger model (the ``answer`` job, resumable and cached), then compare the new
outputs with the original ones (``compare``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .answer import add_job_args, announce, job_lm, open_job, positive_int, report, JobBar
from .common import add_lm_args, add_run_arg, add_workspace_arg, open_run, open_store


def register(ev: argparse._SubParsersAction) -> None:
    s = ev.add_parser("length-score", help="answer length against judge score: trend, correlations, bucket means")
    add_workspace_arg(s)
    add_run_arg(s)
    s.add_argument("--sets", metavar="A,B", help="response sets (default: every set the judge scored)")
    s.add_argument("--judge", required=True, help="the judge: its model as you named it (gpt-4o) or its full name")
    s.add_argument("--pairwise", action="store_true",
                   help="pairwise scores, both orders averaged per response (default: scores alone)")
    s.add_argument("--prompt-file", type=Path, metavar="FILE", help="only scores made with this prompt")
    s.add_argument("--buckets", type=positive_int, default=4,
                   help="length buckets: quantiles of the pooled lengths, equal counts (default 4: quartiles)")
    s.add_argument("--charts", type=Path, metavar="DIR", help="also write the three figures as HTML into DIR")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(func=run_length_score)

    s = ev.add_parser(
        "output-quality", help="Self-Instruct's data-quality experiment: re-answer with a stronger model, compare",
        description="Re-answer every kept instance of a run with a (stronger) model into a response set, then "
                    "compare the new outputs with the original ones: lengths, empty or refused answers and ROUGE-L "
                    "against the original. Resumable: run the same command again to go on.")
    add_workspace_arg(s)
    add_run_arg(s)
    s.add_argument("--name", required=True, help="response set of the new outputs, e.g. gpt4-outputs")
    s.add_argument("--system", metavar="TEXT", help="system text (chat mode), or put on top of the prompt")
    s.add_argument("--out", type=Path, metavar="FILE",
                   help="write the side-by-side JSONL (instruction, input, original, new, ROUGE-L)")
    s.add_argument("--charts", type=Path, metavar="DIR", help="write the comparison figures as HTML into DIR")
    add_job_args(s)
    add_lm_args(s)
    s.set_defaults(func=run_output_quality)


def _cell(value: float | None, fmt: str = ".3f") -> str:
    return "n/a" if value is None else format(value, fmt)


def run_length_score(args: argparse.Namespace) -> int:
    from ..evaluate.judge import resolve_judge
    from ..evaluate.length import ALL, bucket_label, length_vs_score
    from ..store.evals import judges
    from ..store.responses import response_set, response_sets
    from .evaluate import _names, _read_prompt, _table

    store = open_store(args)
    run = open_run(store, args)
    every = response_sets(store, run.id)
    names = _names(args.sets) if args.sets else [s.name for s in every]
    ids = [response_set(store, run.id, n).id for n in names]
    judge = resolve_judge(store, [s.id for s in every], args.judge, paired=args.pairwise)
    if not args.sets:  # only the sets this judge scored
        scored = {n for n, i in zip(names, ids) if any(j == judge for j, _, _ in judges(store, [i], paired=args.pairwise))}
        names = [n for n in names if n in scored] or names
    ls = length_vs_score(store, run, names, judge=judge, paired=args.pairwise,
                         template=_read_prompt(args.prompt_file), buckets=args.buckets)
    if args.charts:
        from ..charts import chart_folder, write_charts
        from ..evaluate.figures import length_score_figures

        for path in write_charts(length_score_figures(ls), chart_folder(args.charts)):
            print(path, file=sys.stderr)
    if args.json:
        print(json.dumps(ls.as_dict(), ensure_ascii=False))
        return 0
    if not ls.fits[ALL].n:
        print(f"no readable score of judge {judge} on {', '.join(names)}: run `evaluate judge` first", file=sys.stderr)
        return 0
    unit = ls.unit[:-1]
    print(f"judge {judge} ({'pairwise, both orders averaged' if ls.paired else 'scores alone'}); "
          f"length in {ls.unit}")
    print(_table(["set", "n", "Pearson r", "Spearman rho", f"slope per 100 {ls.unit}", f"score at 0 {ls.unit}"],
                 [[n, str(f.n), _cell(f.pearson), _cell(f.spearman),
                   _cell(None if f.slope is None else 100 * f.slope), _cell(f.intercept, ".2f")]
                  for n, f in ls.fits.items()]))
    print(f"\nmean score per length bucket (quantiles of the pooled lengths; [lo, hi) {unit}s, the last closed)")
    rows = []
    for k in range(len(ls.edges) - 1):
        cells = [f"{_cell(ls.buckets[n][k].mean_score, '.2f')} (n={ls.buckets[n][k].n})" for n in ls.buckets]
        rows.append([bucket_label(ls.buckets[ALL][k], last=k == len(ls.edges) - 2), *cells])
    print(_table(["length", *ls.buckets], rows))
    return 0


def run_output_quality(args: argparse.Namespace) -> int:
    from .. import compare
    from ..responses import AnswerSettings, answer_set, plan_answers
    from .evaluate import _table

    store, run_info, cfg, settings = open_job(args, lambda cfg: AnswerSettings(mode=cfg.api_mode, system=args.system))
    plan = plan_answers(store, run_info, cfg, name=args.name, settings=settings, view=args.view,
                        include_seeds=args.include_seeds, limit=args.limit)
    if announce(args, plan, f"output quality of run {run_info.name!r}: re-answering {len(plan.items):,} kept instances "
                            f"into response set {args.name!r} ({plan.done:,} already answered)"):
        return 0
    if plan.todo:
        with JobBar(len(plan.items), "answered", quiet=args.no_progress) as bar:
            lm, batch_size = job_lm(args, cfg, store, bar.note)
            result = answer_set(store, run_info, lm, cfg, name=args.name, settings=settings, items=plan.items,
                                max_cost=args.max_cost, batch_size=batch_size, on_progress=bar.update)
        if report(result, f"response set {args.name!r}"):
            return 1
    cmp = compare.compare_sets(store, run_info, [compare.ORIGINAL, args.name], with_verb_noun=False)
    if not cmp["n"]:
        print(f"nothing to compare: response set {args.name!r} answers no instance yet", file=sys.stderr)
        return 0
    unit = cmp["unit"]
    print(f"output quality of run {run_info.name!r}: {cmp['n']:,} instances, original outputs against "
          f"{args.name!r}; lengths in {unit}, ROUGE-L with the {cmp['tokenizer']} tokenizer")
    print(_table(["outputs", "n", "mean length", "median length", "empty", "refused", "ROUGE-L vs original"],
                 [[n, str(s["n"]), _cell(s["mean_length"], ".1f"), _cell(s["median_length"], ".1f"), str(s["empty"]),
                   str(s["refused"]), _cell(s["rouge_vs_original_mean"])] for n, s in cmp["summary"].items()]))
    if len(plan.items) > cmp["n"]:
        print(f"note: {len(plan.items) - cmp['n']:,} instances are not answered yet; run the command again to go on",
              file=sys.stderr)
    if args.out:
        from ..evaluate.pairs import write_jsonl
        from ..evaluate.rouge import rouge_scores

        rows = compare.side_by_side(store, run_info, [compare.ORIGINAL, args.name])
        for row in rows:  # as in the summary; None where the original output is empty
            score = rouge_scores([(row[compare.ORIGINAL], row[args.name])], tokenizer=cmp["tokenizer"])
            row["rouge_l"] = score[0] if score else None
        print(f"wrote {write_jsonl(args.out, rows):,} side-by-side rows to {args.out}", file=sys.stderr)
    if args.charts:
        from ..charts import chart_folder, write_charts

        for path in write_charts(compare.comparison_figures(cmp), chart_folder(args.charts)):
            print(path, file=sys.stderr)
    return 0
