"""``evaluate``: measure a data set and the models trained on it.

Subcommands: ``rouge`` (ROUGE-L against references), ``import-set`` (an
evaluation set as a run), ``import-predictions`` (prediction files as response
sets), ``judge`` / ``scores`` (LLM-as-judge and its totals), ``review`` /
``judge-review`` / ``review-summary`` (the four quality questions),
``ratings-summary`` (blind A-D ratings made on the page), ``reward-pairs``,
``hhh`` / ``judge-hhh`` / ``hhh-summary`` (two sets compared blind on helpful, honest, harmless),
``length-score`` (answer length against judge score) and ``output-quality`` (re-answer with a stronger
model, then compare).
Responses of any model are generated with the ``answer`` command.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..novelty.tokens import TOKENIZERS
from .answer import positive_int
from .common import (
    ONE_BATCH,
    add_batch_args,
    add_lm_args,
    add_run_arg,
    add_workspace_arg,
    ask,
    lm_config_from_args,
    make_batch_lm,
    make_lm,
    open_for_reading,
    open_run,
    open_store,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="ROUGE-L, quality review, ratings, LLM judge and reward pairs",
                       description=__doc__.split("\n\n", 1)[1].replace("``", ""))
    ev = p.add_subparsers(dest="evaluate_command", required=True, metavar="SUBCOMMAND")

    s = ev.add_parser("rouge", help="mean ROUGE-L F of predictions against references, one row per model")
    src = s.add_mutually_exclusive_group(required=True)
    src.add_argument("--predictions", nargs="+", type=Path, metavar="FILE",
                     help="JSONL files (or JSON arrays) with instruction, input, response, target")
    src.add_argument("--workspace", "-w", metavar="FILE", help="score response sets of a workspace run instead")
    s.add_argument("--run", metavar="NAME", help="with --workspace: the run (default: the newest)")
    s.add_argument("--sets", metavar="A,B", help="with --workspace: response sets (default: all but 'reference')")
    s.add_argument("--no-stem", action="store_true", help="no Porter stemming (the paper's evaluation stems)")
    s.add_argument("--tokenizer", choices=TOKENIZERS,
                   help="rouge: rouge-score's, ASCII words only (paper-compatible; the default for files and "
                        "English runs); unicode: words of any script, one token per CJK/Thai character "
                        "(the default for a workspace run in another language)")
    s.add_argument("--json", action="store_true", help="print JSON lines")
    s.set_defaults(func=run_rouge)

    s = ev.add_parser("import-set", help="bring an evaluation set (user-oriented 252, Vicuna 80, your own) in as a run")
    add_workspace_arg(s)
    s.add_argument("file", type=Path, help="JSONL or a JSON array: tasks (instruction+instances), Vicuna questions, "
                                           "or instruction/input/output")
    s.add_argument("--name", help="run name (default: the file's stem)")
    s.add_argument("--format", default="auto", choices=("auto", "tasks", "vicuna", "flat"))
    s.set_defaults(func=run_import_set)

    s = ev.add_parser("import-predictions", help="store prediction files as response sets of an evaluation run")
    add_workspace_arg(s)
    add_run_arg(s)
    s.add_argument("--predictions", nargs="+", type=Path, required=True, metavar="FILE")
    s.add_argument("--name", help="response set name (one file only; default: the file's stem)")
    s.add_argument("--replace", action="store_true",
                   help="replace an earlier import of the same name, dropping its judge scores and ratings "
                        "(never the 'reference' set)")
    s.set_defaults(func=run_import_predictions)

    s = ev.add_parser("judge", help="a judge model scores response sets 1-10, alone or pairwise in both orders")
    add_workspace_arg(s)
    add_run_arg(s)
    s.add_argument("--sets", required=True, metavar="A,B", help="response sets to judge")
    s.add_argument("--pairwise", action="store_true",
                   help="judge each set beside the reference, both orders (default: each response alone)")
    s.add_argument("--reference", metavar="SET", help="the set others are compared with (default: the first)")
    s.add_argument("--prompt-file", type=Path, metavar="FILE", help="your own judge prompt (see docs for placeholders)")
    s.add_argument("--max-tokens", type=positive_int, help="judge reply length (default 128 alone, 256 pairwise)")
    add_lm_args(s)
    add_batch_args(s)
    s.set_defaults(func=run_judge)

    s = ev.add_parser("scores", help="totals of stored judge scores relative to a reference set (no LM call)")
    add_workspace_arg(s)
    add_run_arg(s)
    s.add_argument("--sets", required=True, metavar="A,B", help="reference first, then the sets to compare")
    s.add_argument("--judge", required=True, action="append",
                   help="the judge: its model as you named it (gpt-4o) or its full stored name; "
                        "repeat for several judges (one panel each in --chart)")
    s.add_argument("--pairwise", action="store_true", help="pairwise scores (default: scores alone)")
    s.add_argument("--prompt-file", type=Path, metavar="FILE", help="only scores made with this prompt")
    s.add_argument("--chart", type=Path, metavar="FILE.html|FILE.png",
                   help="also draw the ranked groups (sorted bars, the reference at 100%%): HTML, or PNG with kaleido")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=run_scores)

    from .experiments import register as register_experiments  # length-score, output-quality

    register_experiments(ev)

    s = ev.add_parser("review", help="answer the four quality questions in the terminal (resumes where you stopped)")
    add_workspace_arg(s)
    add_run_arg(s)
    _sample_args(s)
    s.add_argument("--rater", default="human", help="who answers (default: human)")
    s.set_defaults(func=run_review)

    s = ev.add_parser("judge-review", help="a judge model answers the four quality questions for the sample")
    add_workspace_arg(s)
    add_run_arg(s)
    _sample_args(s)
    s.add_argument("--prompt-file", type=Path, metavar="FILE", help="your own prompt ({instruction}, {input}, {output})")
    add_lm_args(s)
    s.set_defaults(func=run_judge_review)

    s = ev.add_parser("review-summary", help="Yes %% per question per rater, and judge-human agreement")
    add_workspace_arg(s)
    add_run_arg(s)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=run_review_summary)

    s = ev.add_parser("ratings-summary", help="A-D rating counts per response set")
    add_workspace_arg(s)
    add_run_arg(s)
    s.add_argument("--sets", required=True, metavar="A,B")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=run_ratings_summary)

    s = ev.add_parser("reward-pairs", help="export (prompt, chosen, rejected) pairs from judge scores (TRL format)")
    add_workspace_arg(s)
    add_run_arg(s)
    s.add_argument("--sets", required=True, metavar="A,B,C", help="the K response sets per prompt")
    s.add_argument("--judge", help="whose scores, by model (gpt-4o) or full name (when several judges scored the sets)")
    s.add_argument("--pairwise", action="store_true",
                   help="pairs from pairwise judgments (both orders summed) instead of the single 1-10 scores")
    prompt = s.add_mutually_exclusive_group()
    prompt.add_argument("--prompt-file", type=Path, metavar="FILE", help="only scores made with this judge prompt")
    prompt.add_argument("--prompt-id", metavar="ID", help="only scores made with the prompt of this id (as listed in messages)")
    s.add_argument("--out", required=True, type=Path, metavar="FILE", help="JSONL to write (atomically)")
    s.set_defaults(func=run_reward_pairs)

    from .evaluate_hhh import register as register_hhh  # here: it reuses this module's helpers

    register_hhh(ev)


def _sample_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-n", "--sample", type=positive_int, default=200, help="instructions in the sample (default 200)")
    p.add_argument("--seed", type=int, default=0, help="sample seed (default 0)")


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ValueError("--sets needs at least one response set name")
    return names


def _read_prompt(path: Path | None) -> str | None:
    if path is None:
        return None
    from ..inputs import read_input_bytes

    try:
        return read_input_bytes(path).decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: cannot read the prompt file: {e}") from None


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda r: "  ".join(str(x).ljust(w) if i == 0 else str(x).rjust(w) for i, (x, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([line(header), *(line(r) for r in rows)])


def run_rouge(args: argparse.Namespace) -> int:
    from ..evaluate.rouge import score_file, score_sets

    stem = not args.no_stem
    if args.predictions:
        scores = [score_file(p, stem=stem, tokenizer=args.tokenizer or "rouge") for p in args.predictions]
    else:
        from ..store.responses import response_sets

        store = open_for_reading(args.workspace)
        run = open_run(store, args)
        names = _names(args.sets) if args.sets else [s.name for s in response_sets(store, run.id) if s.kind != "reference"]
        scores = score_sets(store, run, names, stem=stem, tokenizer=args.tokenizer)
        if args.tokenizer is None and any(s.tokenizer == "unicode" for s in scores):
            print(f"note: run {run.name!r} is not English text (language {run.language!r}): scored with the unicode "
                  "tokenizer, since rouge-score's drops non-ASCII words (--tokenizer rouge for rouge-score's)",
                  file=sys.stderr)
    for s in scores:
        if s.mostly_untokenized:
            print(f"warning: {s.name}: {s.untokenized:,} of {s.count:,} records hold a text in which the {s.tokenizer} "
                  "tokenizer finds no word, so they score 0; for text in other scripts use --tokenizer unicode",
                  file=sys.stderr)
    if args.json:
        for s in scores:
            print(json.dumps({"model": s.name, "rougeL": s.mean, "count": s.count, "stem": stem,
                              "tokenizer": s.tokenizer}))
        return 0
    print(_table(["model", "ROUGE-L", "records"],
                 [[s.name, "n/a" if s.mean is None else f"{100 * s.mean:.1f}", str(s.count)] for s in scores]))
    return 0


def run_import_set(args: argparse.Namespace) -> int:
    from ..evaluate.evalsets import EvalSetError, import_eval_set
    from ..inputs import check_input

    check_input(args.file, EvalSetError)  # a device, FIFO or folder makes no workspace
    store = open_store(args, create=True)
    run = import_eval_set(store, args.file, args.name, args.format)
    n = len(store.instances(run_id=run.id))
    print(f"imported {args.file} as run {run.name!r} ({run.config['format']} format, {n:,} instances)")
    print(f"next: python -m selfinstruct answer -w {args.workspace} --run {run.name} --name MODEL [LM options]")
    return 0


def run_import_predictions(args: argparse.Namespace) -> int:
    from ..evaluate.rouge import import_prediction_sets, load_predictions, model_name

    if args.name and len(args.predictions) > 1:
        raise ValueError("--name names one response set: import one file at a time with it")
    files = [(load_predictions(p), args.name or model_name(p), str(p)) for p in args.predictions]
    store = open_store(args, create=True)
    run = open_run(store, args)
    reports = import_prediction_sets(store, run, files, replace=args.replace)  # all or nothing
    for path, rep in zip(args.predictions, reports):
        extra = f"; {rep.unmatched} records matched no instance" if rep.unmatched else ""
        done = "replaced: response set" if rep.replaced else "response set"
        print(f"{path}: {done} {rep.set.name!r} with {rep.matched:,} responses{extra}")
    return 0


def _print_relative(scores: list, reference: str, judge: str) -> None:
    print(f"judge {judge}: totals relative to {reference}")
    print(_table(["set", "n", "total", f"{reference} total", "relative"],
                 [[s.name, str(s.n), f"{s.total:g}", f"{s.reference_total:g}",
                   "n/a" if s.ratio is None else f"{100 * s.ratio:.1f}%"] for s in scores]))


def run_judge(args: argparse.Namespace) -> int:
    from ..evaluate import judge as J

    store = open_store(args, write=True)
    run = open_run(store, args)
    names = _names(args.sets)
    reference = args.reference or names[0]
    others = [n for n in names if n != reference]
    template = _read_prompt(args.prompt_file)
    cfg = lm_config_from_args(args)
    if args.batch:  # all the judge calls (of each pair of sets) in one Batch API batch
        lm = make_batch_lm(cfg, store, args.batch_poll, lambda line: print(f"\r{line}", file=sys.stderr))
        batch_size = ONE_BATCH
    else:
        lm, batch_size = make_lm(cfg), J.BATCH

    def progress(done: int, total: int) -> None:
        print(f"\rjudged {done:,}/{total:,}", end="", file=sys.stderr, flush=True)

    if args.pairwise:
        if not others:
            raise ValueError("--pairwise needs a reference set and at least one other set")
        for name in others:
            rep = J.judge_pairs(store, run, lm, reference, name, template=template or J.PAIR_TEMPLATE,
                                max_tokens=args.max_tokens or 256, batch_size=batch_size, on_progress=progress)
            print(f"\n{reference} vs {name}: {rep.judged:,} judge calls, {rep.skipped:,} already judged, "
                  f"{rep.unreadable:,} unreadable", file=sys.stderr)
    else:
        rep = J.judge_single(store, run, lm, names, template=template or J.SINGLE_TEMPLATE,
                             max_tokens=args.max_tokens or 128, batch_size=batch_size, on_progress=progress)
        print(f"\n{rep.judged:,} responses judged, {rep.skipped:,} already judged, {rep.unreadable:,} unreadable",
              file=sys.stderr)
    if others:
        used = template or (J.PAIR_TEMPLATE if args.pairwise else J.SINGLE_TEMPLATE)
        _print_relative(J.relative_scores(store, run, reference, others, judge=lm.name, paired=args.pairwise,
                                          template=used), reference, lm.name)
    return 0


def run_scores(args: argparse.Namespace) -> int:
    from ..evaluate.judge import relative_scores, resolve_judge
    from ..store.responses import response_set

    store = open_store(args)
    run = open_run(store, args)
    names = _names(args.sets)
    if len(names) < 2:
        raise ValueError("--sets needs the reference and at least one other set")
    ids = [response_set(store, run.id, n).id for n in names]
    template = _read_prompt(args.prompt_file)
    groups = {}
    for asked in args.judge:
        judge = resolve_judge(store, ids, asked, paired=args.pairwise)
        groups[judge] = relative_scores(store, run, names[0], names[1:], judge=judge, paired=args.pairwise,
                                        template=template)
    if args.chart:
        from ..charts import write_figure
        from ..evaluate.figures import relative_figure

        print(f"wrote {write_figure(relative_figure(groups, names[0]), args.chart)}", file=sys.stderr)
    for n, (judge, scores) in enumerate(groups.items()):
        if args.json:
            for s in scores:
                print(json.dumps({"set": s.name, "reference": names[0], "judge": judge, "n": s.n, "total": s.total,
                                  "reference_total": s.reference_total, "ratio": s.ratio}))
        else:
            if n:
                print()
            _print_relative(scores, names[0], judge)
    return 0


def run_review(args: argparse.Namespace) -> int:
    from ..evaluate.review import QUESTIONS, next_unanswered, review_sample
    from ..store.evals import ReviewAnswer, review_answers, save_review_answers

    store = open_store(args, write=True)
    run = open_run(store, args)
    items = review_sample(store, run, args.sample, args.seed)
    print(f"reviewing {len(items)} instances of run {run.name!r}: answer y or n, q to stop (answers are saved as you go)")
    while True:
        where = next_unanswered(items, review_answers(store, run.id, args.rater))
        if where is None:
            print("every sampled instance is reviewed; see `evaluate review-summary`")
            return 0
        i, q = where
        item = items[i]
        if q == 1:
            print(f"\n[{i + 1}/{len(items)}] instance {item.instance_id}\nInstruction: {item.instruction}\n"
                  f"Input: {item.input or '(empty)'}\nOutput: {item.output}")
        reply = ask(f"Q{q}. {QUESTIONS[q - 1]}", ("y", "n"))
        if reply is None:
            return 0
        save_review_answers(store, [ReviewAnswer(run.id, item.instance_id, args.rater, q, reply == "y", None)])


def run_judge_review(args: argparse.Namespace) -> int:
    from ..evaluate.review import REVIEW_TEMPLATE, judge_review, review_sample

    store = open_store(args, write=True)
    run = open_run(store, args)
    items = review_sample(store, run, args.sample, args.seed)
    lm = make_lm(lm_config_from_args(args))
    rep = judge_review(store, run, lm, items, template=_read_prompt(args.prompt_file) or REVIEW_TEMPLATE)
    print(f"judge {lm.name}: {rep.answered:,} answers stored, {rep.unreadable:,} unreadable", file=sys.stderr)
    return run_review_summary(argparse.Namespace(**{**vars(args), "json": False}))


def run_review_summary(args: argparse.Namespace) -> int:
    from ..evaluate.review import QUESTIONS, review_summary

    store = open_store(args)
    run = open_run(store, args)
    summary = review_summary(store, run)
    if args.json:
        print(json.dumps({
            "rates": {r: [{"question": x.question, "yes": x.yes, "n": x.n, "percent": x.percent} for x in rates]
                      for r, rates in summary.rates.items()},
            "agreement": {r: [{"question": a.about, "n": a.n, "agree": a.agree, "percent": a.percent,
                               "kappa": a.kappa} for a in ags] for r, ags in summary.agreement.items()},
        }))
        return 0
    if not summary.rates:
        print(f"run {run.name!r} has no review answers yet: use `evaluate review` or the Evaluate page")
        return 0
    raters = list(summary.rates)
    rows = [[f"Q{q}. {text}"] + [f"{summary.rates[r][q - 1].percent:.0f}% of {summary.rates[r][q - 1].n}" for r in raters]
            for q, text in enumerate(QUESTIONS, start=1)]
    print(_table(["question"] + raters, rows))
    for rater, ags in summary.agreement.items():
        print(f"\nhuman vs {rater}:")
        print(_table(["question", "n", "agreement", "Cohen's kappa"],
                     [[f"Q{a.about}", str(a.n), f"{a.percent:.0f}%", "-" if a.kappa is None else f"{a.kappa:.2f}"]
                      for a in ags]))
    return 0


def run_ratings_summary(args: argparse.Namespace) -> int:
    from ..evaluate.ratings import grade_counts

    store = open_store(args)
    run = open_run(store, args)
    counts = grade_counts(store, run, _names(args.sets))
    if args.json:
        print(json.dumps(counts))
        return 0
    print(_table(["set", "A", "B", "C", "D", "rated"],
                 [[n, *(str(c[g]) for g in "ABCD"), str(sum(c.values()))] for n, c in counts.items()]))
    return 0


def run_reward_pairs(args: argparse.Namespace) -> int:
    from ..evaluate.pairs import reward_pairs, write_jsonl

    store = open_store(args)
    run = open_run(store, args)
    rows = reward_pairs(store, run, _names(args.sets), judge=args.judge, template=_read_prompt(args.prompt_file),
                        prompt_id=args.prompt_id, paired=args.pairwise)
    n = write_jsonl(args.out, rows)
    print(f"wrote {n:,} (prompt, chosen, rejected) pairs to {args.out}")
    if not n:
        print("no pair: on every instance the scored responses tie, or fewer than two of the sets have a score",
              file=sys.stderr)
    return 0
