"""``answer``: re-answer a data set's instances with another model into a response set."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from ..costs import money
from .common import (
    ONE_BATCH,
    add_batch_args,
    add_lm_args,
    add_run_arg,
    add_workspace_arg,
    lm_config_from_args,
    make_batch_lm,
    make_lm,
    open_run,
    open_store,
)

if TYPE_CHECKING:
    from ..config import LMConfig
    from ..lm.base import LM
    from ..store import RunInfo, Store

S = TypeVar("S")  # a job's settings (AnswerSettings, TranslateSettings)


def _number(kind: type, least: float, what: str, most: float = float("inf")):
    """An argparse type: a number of ``kind`` from ``least`` to ``most``, so a bad value
    stops at parsing."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not least <= value <= most:  # also refuses NaN
            raise argparse.ArgumentTypeError(f"{text!r} must be {what}")
        return value

    return parse


positive_int = _number(int, 1, "a whole number of at least 1")
non_negative_float = _number(float, 0, "zero or more")
temperature = _number(float, 0, "from 0 to 2", most=2)


def add_job_args(p: argparse.ArgumentParser) -> None:
    """Options answer and translate share: what to work on, budget and batching."""
    p.add_argument("--view", metavar="NAME", help="work on what this saved filtered view keeps")
    p.add_argument("--include-seeds", action="store_true", help="with a generation run: the seed tasks too")
    p.add_argument("--limit", type=positive_int, metavar="N", help="at most the first N records of the data set")
    p.add_argument("--max-tokens", type=positive_int, help="token limit of each completion (default 1024)")
    p.add_argument("--temperature", type=temperature, help="sampling temperature, 0 to 2 (default 0)")
    p.add_argument("--max-cost", type=non_negative_float, metavar="DOLLARS",
                   help="stop between batches once this much was spent (needs --price-in/--price-out)")
    p.add_argument("--batch-size", type=positive_int, metavar="N",
                   help="requests per batch: saved and budget-checked together (default: --concurrency; "
                        "with --batch: all in one batch)")
    p.add_argument("--estimate-only", action="store_true", help="print the estimate and stop")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_batch_args(p)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "answer", help="answer every instance of a data set with another model (a response set)",
        description="Write a response set: one answer per (instruction, input) of a run, beside the "
                    "original output. Resumable: answered instances are skipped and every LM call is cached.")
    add_workspace_arg(p)
    add_run_arg(p)
    p.add_argument("--name", required=True, help="response set name, e.g. gpt4-answers")
    p.add_argument("--system", metavar="TEXT", help="system text (chat mode), or put on top of the prompt")
    add_job_args(p)
    add_lm_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..responses import AnswerSettings, answer_set, plan_answers

    store, run_info, cfg, settings = open_job(args, lambda cfg: AnswerSettings(mode=cfg.api_mode, system=args.system))
    plan = plan_answers(store, run_info, cfg, name=args.name, settings=settings, view=args.view,
                        include_seeds=args.include_seeds, limit=args.limit)
    items = plan.items
    if announce(args, plan, f"answering {len(items):,} instances of run {run_info.name!r} into response set "
                            f"{args.name!r} ({plan.done:,} already answered)"):
        return 0
    with JobBar(len(items), "answered", quiet=args.no_progress) as bar:
        lm, batch_size = job_lm(args, cfg, store, bar.note)
        result = answer_set(store, run_info, lm, cfg, name=args.name, settings=settings, items=items,
                            max_cost=args.max_cost, batch_size=batch_size, on_progress=bar.update)
    return report(result, f"response set {args.name!r}")


def open_job(args: argparse.Namespace, make_settings: Callable[[LMConfig], S]) -> tuple[Store, RunInfo, LMConfig, S]:
    """The workspace, run, model and settings of an answer or translate command; the
    ``--max-tokens`` and ``--temperature`` flags override the settings' defaults."""
    store = open_store(args, write=True)
    run_info = open_run(store, args)
    cfg = lm_config_from_args(args).validate()
    settings = make_settings(cfg)
    if args.max_tokens is not None:
        settings.max_tokens = args.max_tokens
    if args.temperature is not None:
        settings.temperature = args.temperature
    return store, run_info, cfg, settings


def job_lm(args: argparse.Namespace, cfg: LMConfig, store: Store, note: Callable[[str], None]) -> tuple[LM, int | None]:
    """The backend and batch size of an answer or translate job: with ``--batch`` the Batch API,
    every request in one batch unless ``--batch-size`` says otherwise."""
    if not args.batch:
        return make_lm(cfg), args.batch_size
    return make_batch_lm(cfg, store, args.batch_poll, note), args.batch_size or ONE_BATCH


def announce(args: argparse.Namespace, plan: Any, what: str) -> bool:
    """Say what the job will do and what it should cost; True when only the estimate was asked for."""
    print(what, file=sys.stderr)
    print(f"estimate: {plan.estimate.describe()} (tokens ~ max(chars/4, words*1.3))", file=sys.stderr)
    return bool(args.estimate_only)


class JobBar:
    """A tqdm bar over records done, with calls, cache hits, tokens and cost."""

    def __init__(self, total: int, unit: str, *, quiet: bool):
        from tqdm import tqdm

        self.bar = None if quiet else tqdm(total=total, unit=" rec", desc=unit, file=sys.stderr, dynamic_ncols=True)

    def note(self, line: str) -> None:
        """A line of news (a batch's status) above the bar."""
        if self.bar is None:
            print(line, file=sys.stderr, flush=True)
        else:
            self.bar.write(line, file=sys.stderr)

    def update(self, p) -> None:
        if self.bar is None:
            return
        self.bar.n = p.done
        self.bar.set_postfix({"calls": p.calls, "cached": p.cached, "tokens": p.tokens_in + p.tokens_out,
                              "cost": money(p.cost)}, refresh=True)

    def __enter__(self) -> "JobBar":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()


def report(result, what: str) -> int:
    """Print how the job ended; exit 0 when finished or stopped at the budget, 1 on an LM failure."""
    p = result.progress
    print(f"{what}: {p.done:,}/{p.total:,} done; this session {p.calls:,} LM calls, {p.cached:,} from cache, "
          f"{p.tokens_in:,} prompt + {p.tokens_out:,} output tokens, {money(p.cost)}", file=sys.stderr)
    if result.stopped == "budget":
        print("stopped: the --max-cost budget is spent; run again with a higher budget to go on", file=sys.stderr)
    if result.error:
        print(f"error: {result.error}\nwhat was answered is saved; run the same command again to resume",
              file=sys.stderr)
        return 1
    return 0
