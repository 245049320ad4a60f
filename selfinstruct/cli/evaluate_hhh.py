"""``evaluate hhh`` / ``judge-hhh`` / ``hhh-summary``: the HHH comparison of two response sets
(helpful, honest, harmless; better / tie / worse), in its own module beside ``evaluate``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .answer import positive_int
from .common import add_lm_args, add_run_arg, add_workspace_arg, ask, lm_config_from_args, make_lm, open_run, open_store
from .evaluate import _names, _read_prompt, _table


def register(ev: argparse._SubParsersAction) -> None:
    s = ev.add_parser("hhh", help="compare two response sets blind on helpful, honest, harmless in the terminal "
                                  "(resumes where you stopped)")
    _pair_args(s)
    s.add_argument("--seed", type=int, default=0, help="seed of the items' order and sides (default 0)")
    s.add_argument("--rater", default="human", help="who answers (default: human)")
    s.set_defaults(func=run_hhh)

    s = ev.add_parser("judge-hhh", help="a judge model answers the HHH questions, each item in both orders")
    _pair_args(s)
    s.add_argument("-n", "--limit", type=positive_int, help="only the first N items of the seeded order (default: all)")
    s.add_argument("--seed", type=int, default=0, help="seed of the items' order (default 0)")
    s.add_argument("--prompt-file", type=Path, metavar="FILE",
                   help="your own prompt ({instruction}, {input}, {answer_a}, {answer_b})")
    s.add_argument("--max-tokens", type=positive_int, default=64, help="judge reply length (default 64)")
    add_lm_args(s)
    s.set_defaults(func=run_judge_hhh)

    s = ev.add_parser("hhh-summary", help="win/tie/lose per criterion for set 1, per rater, and judge-human agreement")
    _pair_args(s)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=run_hhh_summary)


def _pair_args(p: argparse.ArgumentParser) -> None:
    add_workspace_arg(p)
    add_run_arg(p)
    p.add_argument("--sets", required=True, metavar="SET1,SET2",
                   help="the two response sets; counts are read from SET1's side")


def _pair(args: argparse.Namespace, *, write: bool = False):
    from ..evaluate.hhh import hhh_pair

    names = _names(args.sets)
    if len(names) != 2:
        raise ValueError(f"--sets takes exactly two response sets, SET1,SET2; got {len(names)}: {', '.join(names)}")
    store = open_store(args, write=write)
    run = open_run(store, args)
    return store, run, hhh_pair(store, run, *names)


ANSWERS = {"b": "better", "t": "tie", "w": "worse"}


def run_hhh(args: argparse.Namespace) -> int:
    from ..evaluate.hhh import hhh_items, next_unjudged, verdicts_of
    from ..prompts.hhh import CRITERIA, CRITERION_TEXT
    from ..store.hhh import hhh_judgements, save_hhh

    store, run, pair = _pair(args, write=True)
    items = hhh_items(store, pair, args.seed)
    print(f"comparing {len(items)} answers of {pair.first.name!r} and {pair.second.name!r}, shown blind as A and B: "
          "is A better, tied or worse? b/t/w, q to stop (answers are saved as you go)")
    while True:
        done = hhh_judgements(store, pair.first.id, pair.second.id, args.rater)
        k = next_unjudged(items, done)
        if k is None:
            print("every item is judged; see `evaluate hhh-summary`")
            return 0
        item = items[k]
        print(f"\n[{k + 1}/{len(items)}] instance {item.instance_id}\nInstruction: {item.instruction}\n"
              f"Input: {item.input or '(empty)'}\n--- Answer A ---\n{item.answer_a}\n--- Answer B ---\n{item.answer_b}")
        have = {j.criterion for j in done if j.instance_id == item.instance_id}
        for c in (c for c in CRITERIA if c not in have):
            reply = ask(f"{c.capitalize()}: {CRITERION_TEXT[c]} A against B", tuple(ANSWERS))
            if reply is None:
                return 0
            save_hhh(store, verdicts_of(pair, item, args.rater, {c: ANSWERS[reply]}))


def run_judge_hhh(args: argparse.Namespace) -> int:
    from ..evaluate.hhh import hhh_items, judge_hhh
    from ..prompts.hhh import HHH_TEMPLATE

    store, run, pair = _pair(args, write=True)
    items = hhh_items(store, pair, args.seed)[:args.limit]
    lm = make_lm(lm_config_from_args(args))

    def progress(done: int, total: int) -> None:
        print(f"\rjudged {done:,}/{total:,}", end="", file=sys.stderr, flush=True)

    rep = judge_hhh(store, run, lm, pair, items, template=_read_prompt(args.prompt_file) or HHH_TEMPLATE,
                    max_tokens=args.max_tokens, on_progress=progress)
    print(f"\njudge {lm.name}: {rep.judged:,} items judged in both orders, {rep.skipped:,} judged before, "
          f"{rep.unreadable:,} verdicts unreadable", file=sys.stderr)
    return run_hhh_summary(argparse.Namespace(**{**vars(args), "json": False}))


def run_hhh_summary(args: argparse.Namespace) -> int:
    from ..evaluate.hhh import hhh_summary
    from ..prompts.hhh import CRITERIA

    store, run, pair = _pair(args)
    summary = hhh_summary(store, pair)
    first, second = pair.first.name, pair.second.name
    if args.json:
        print(json.dumps({
            "run": run.name, "set_1": first, "set_2": second,
            "counts": {r: {c: {"win": o.win, "tie": o.tie, "lose": o.lose, "n": o.n} for c, o in by_c.items()}
                       for r, by_c in summary.counts.items()},
            "judged": summary.judged,
            "agreement": {r: [{"criterion": a.about, "n": a.n, "agree": a.agree, "percent": a.percent,
                               "kappa": a.kappa} for a in ags] for r, ags in summary.agreement.items()},
        }))
        return 0
    if not summary.counts:
        print(f"no HHH verdicts on {first!r} vs {second!r} yet: use `evaluate hhh` or the Evaluate page")
        return 0
    print(f"{first} vs {second} (win: {first}'s answer judged better)")
    for rater, by_c in summary.counts.items():
        print(f"\n{rater}: {summary.judged[rater]:,} items judged")
        print(_table(["criterion", "win", "tie", "lose", "n"],
                     [[c, str(by_c[c].win), str(by_c[c].tie), str(by_c[c].lose), str(by_c[c].n)] for c in CRITERIA]))
    for rater, ags in summary.agreement.items():
        print(f"\nhuman vs {rater}:")
        print(_table(["criterion", "n", "agreement", "Cohen's kappa"],
                     [[a.about, str(a.n), f"{a.percent:.0f}%", "-" if a.kappa is None else f"{a.kappa:.2f}"]
                      for a in ags]))
    return 0
