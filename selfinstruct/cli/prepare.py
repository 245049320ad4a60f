"""``prepare``: fill a run's dashboard caches ahead, so the first visit of Filters and Analysis is quick.

The Filters page needs the run's similarity graph (``filter_views.prepare_graph``) and
Analysis the spaCy verb-noun parse of what it shows (``analysis.verb_noun``);
both are kept in the workspace, where the dashboard finds them.
"""

from __future__ import annotations

import argparse
import sys
import time

from ..store import RunInfo, Store


def register(sub: argparse._SubParsersAction) -> None:
    from ..cluster import add_ray_arg
    from .common import add_run_arg, add_workspace_arg

    p = sub.add_parser("prepare", help="build a run's similarity graph and verb-noun parses ahead of the dashboard")
    add_workspace_arg(p)
    add_run_arg(p)
    p.add_argument("--no-parse", action="store_true", help="build the similarity graph only, not the spaCy parses")
    add_ray_arg(p)  # the similarity graph's build and the verb-noun parse (one spaCy model per actor) on the cluster
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..config import RunConfig
    from .common import open_run, open_store

    store = open_store(args)  # for reading: an archived copy (the shipped demo) is never written
    run = open_run(store, args)
    if store.read_only:
        print(f"note: {args.workspace} is opened read-only (an archived copy or no write access): "
              "nothing computed here can be kept for the dashboard", file=sys.stderr)
    if run.kind == "generate":
        _graph(store, run, RunConfig.from_dict(run.config).filters.tokenizer, args.ray)
    else:
        print(f"run {run.name!r} is an {run.kind} data set: no similarity graph (Filters replays generation runs)")
    if not args.no_parse:
        _parse(store, run, args.ray)
    return 0


def _show(text: str) -> None:
    """One progress line on stderr: redrawn in place on a terminal, one line each otherwise."""
    tty = sys.stderr.isatty()
    print(("\r\033[K" if tty else "") + text, end="" if tty else "\n", file=sys.stderr, flush=True)


def _done() -> None:
    if sys.stderr.isatty():
        print(file=sys.stderr)


def _graph(store: Store, run: RunInfo, tokenizer: str, ray: str | None = None) -> None:
    """Build the graph the Filters page reads, with a progress line (a read-back graph is quick and silent)."""
    from ..filter_views import prepare_graph

    start = time.perf_counter()
    g = prepare_graph(store, run, tokenizer, show=lambda share, text: _show(f"[{share:4.0%} of the work] {text}"),
                      ray=ray)
    _done()
    print(f"similarity graph of run {run.name!r}: {len(g):,} candidates, {g.n_edges:,} similar pairs "
          f"({time.perf_counter() - start:.1f} s)")


def _parse(store: Store, run: RunInfo, ray: str | None = None) -> None:
    """Parse what Analysis shows first (the run's kept instructions, and its seeds) into the workspace's
    cache. No tqdm: its monitor thread would make ``verb_noun`` spawn its workers instead of forking them."""
    from ..analysis import verb_noun
    from ..filter_views import view_tasks
    from ..progress_line import ProgressLine

    texts = [t.instruction for t in view_tasks(store, run)]
    texts += [t.instruction for t in store.tasks(run.id, origin="seed")]
    start = time.perf_counter()
    line = ProgressLine("verb-noun parse", "instructions", lambda share, text: _show(text), every=0)
    verb_noun(texts, cache=store, ray=ray, progress=line)  # heard after each piece, stored piece by piece
    _done()
    print(f"verb-noun parses of run {run.name!r}: {len(texts):,} instructions ({time.perf_counter() - start:.1f} s)")
