"""``generate``: grow a run's pool of machine instructions until the target."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from .answer import non_negative_float, positive_int
from ..progress_line import duration
from .common import (
    DEFAULT_SEEDS, add_batch_args, add_lm_args, make_batch_lm, add_workspace_arg, check_lm_environment, lm_config_from_args, make_lm, open_store, storable,
)

if TYPE_CHECKING:
    from ..config import RunConfig
    from ..pipeline import Event, Stats
    from ..store import Store


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="run Self-Instruct (starts a run, or resumes it)",
                       description="Start a Self-Instruct run, or resume it where it stopped. "
                                   "Every LM call is cached, so a resumed run pays for nothing twice.")
    add_workspace_arg(p)
    p.add_argument("--run", default="default", metavar="NAME", help="run name (default: 'default')")
    p.add_argument("--seeds", type=Path, help=f"seed task file (JSONL); default for a new run: {DEFAULT_SEEDS.name}")
    p.add_argument("--config", type=Path, help="TOML file with any RunConfig fields (flags override it); given on resume, it replaces the stored settings")
    p.add_argument("--target", type=int, help="number of machine instructions to keep (default 100)")
    p.add_argument("--seed", type=int, help="random seed for sampling in-context instructions")
    p.add_argument("--max-iterations", type=int, help="stop the run after this many iterations in total")
    p.add_argument("--iterations", type=positive_int, help="do at most this many iterations in this invocation")
    p.add_argument("--request-batch-size", type=int, help="instruction prompts per iteration (default 5)")
    p.add_argument("--rouge-threshold", type=float, help="drop instructions more similar than this (default 0.7)")
    p.add_argument("--max-tokens", type=int, help="token limit of an instruction-generation completion")
    p.add_argument("--no-progress", action="store_true", help="print one line per iteration instead of a bar")
    p.add_argument("--max-cost", type=non_negative_float, metavar="DOLLARS",
                   help="pause the run once its own calls cost this much (needs --price-in/--price-out)")
    p.add_argument("--estimate", action="store_true",
                   help="print what the rest of the run should take and stop: no LM call, nothing stored")
    p.add_argument("--pool-lag", type=positive_int,
                   help="iterations that may be under way at once; in-context samples come from the pool "
                        "this many iterations back (default 16; 1 is the original loop)")
    add_lm_args(p)
    add_batch_args(p, how="in rounds of --pool-lag iterations: their prompts in one batch, then their "
                           "classifications, then their instances")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..config import RunConfig
    from ..pipeline import Pipeline, PipelineError, start_run
    from ..seeds import load_tasks
    from ..store import StoreError

    if not args.run.strip():
        raise ValueError("--run needs a name")

    def settings(base: RunConfig) -> RunConfig:
        """The stored (or default) settings, replaced by --config, then the flags; checked."""
        config = RunConfig.load(args.config) if args.config else base
        _apply_flags(config, args)
        if args.max_cost is not None and not (config.lm.price_in_per_1m or config.lm.price_out_per_1m):
            raise ValueError("--max-cost needs prices: pass --price-in and --price-out (dollars per million tokens)")
        check_lm_environment(config.lm)
        return config.validate()

    def new_run() -> tuple[RunConfig, list, Path]:
        seeds_path = args.seeds or DEFAULT_SEEDS
        return settings(RunConfig()), load_tasks(seeds_path), seeds_path

    # a new workspace: bad settings or seeds are refused before the file is made
    prepared = new_run() if args.workspace and not Path(args.workspace).exists() else None
    if prepared and args.estimate:  # a new workspace: estimated without making its file
        _print_estimate(prepared[0], seeds=[t.instruction for t in prepared[1]])
        return 0
    store = open_store(args, create=True, verify=True)  # a damaged file is refused before any write
    existing = {r.name: r for r in store.runs()}
    if args.run in existing:
        info = existing[args.run]
        if info.kind != "generate":
            raise StoreError(f"run {args.run!r} is an {info.kind} data set, not a generation run")
        if args.seeds:
            stored = [r.text for r in store.instructions(info.id, origin="seed")]
            if [t.instruction for t in load_tasks(args.seeds)] != stored:
                raise StoreError(f"run {args.run!r} was started with other seeds than {args.seeds}; "
                                 "use --run NEW to start another run")
        # the same command resumes, so a --config given again is applied again (a no-op unless edited)
        old = RunConfig.from_dict(info.config)
        config = settings(RunConfig.from_dict(info.config))
        if args.estimate:  # with the settings as given, none of them stored
            _print_estimate(config, store=store, run_id=info.id)
            return 0
        store.set_run_config(info.id, storable(config))  # refused while another process writes the run
        for change in _changes(old.to_dict(), storable(config)):
            print(f"changed setting {change}", file=sys.stderr)
        info = store.run(info.id)
        print(f"resuming run {args.run!r}: {store.counts(info.id)['kept']} of {config.target} kept so far",
              file=sys.stderr)
    else:
        config, seeds, seeds_path = prepared or new_run()
        if args.estimate:
            _print_estimate(config, seeds=[t.instruction for t in seeds])
            return 0
        try:
            info = start_run(store, args.run, seeds, RunConfig.from_dict(storable(config)))
        except StoreError:
            if args.run not in {r.name for r in store.runs()}:
                raise
            raise StoreError(f"run {args.run!r} is being started by another process at this moment; "
                             "run the same command again to resume it") from None
        print(f"started run {args.run!r} from {len(seeds)} seeds in {seeds_path}", file=sys.stderr)

    _print_estimate(config, store=store, run_id=info.id)
    progress = _Progress(config.target, quiet=args.no_progress)
    lm = make_batch_lm(config.lm, store, args.batch_poll, progress.note) if args.batch else make_lm(config.lm)
    pipeline = Pipeline(store, info, lm, owner="cli")
    rounds = config.generate.pool_lag if args.batch else None
    try:
        for event in pipeline.events(iterations=args.iterations, max_cost=args.max_cost, rounds=rounds):
            progress.update(event, pipeline.stats())
    except PipelineError as e:
        if store.run(info.id).state == "paused":  # the pipeline's words are for every front end; these the CLI's
            raise PipelineError(f"{e}; run the same command again to resume") from e
        raise
    finally:
        progress.close()
    final = store.run(info.id)
    print(f"run {final.name!r}: {final.state} ({final.status})", file=sys.stderr)
    return 0


def _print_estimate(config: RunConfig, *, seeds: Sequence[str] = (), store: Store | None = None,
                    run_id: int | None = None) -> None:
    """What the rest of the run should take, before it starts: a run in ``store`` is measured
    on its calls so far; a new one is estimated from ``seeds`` and priors."""
    from ..estimates import estimate_generation, run_estimate

    estimate = (run_estimate(store, run_id, config) if store is not None and run_id is not None
                else estimate_generation(config, None, seeds=seeds))
    print(estimate.describe(), file=sys.stderr)


def _apply_flags(config, args: argparse.Namespace) -> None:
    for flag, (section, attr) in {
        "target": (None, "target"), "seed": (None, "seed"), "max_iterations": (None, "max_iterations"),
        "request_batch_size": ("generate", "request_batch_size"), "max_tokens": ("generate", "max_tokens"),
        "pool_lag": ("generate", "pool_lag"),
        "rouge_threshold": ("filters", "rouge_threshold"),
    }.items():
        value = getattr(args, flag)
        if value is not None:
            setattr(getattr(config, section) if section else config, attr, value)
    config.lm = lm_config_from_args(args, config.lm)


def _changes(old: dict, new: dict, prefix: str = ""):
    """'key: old -> new' for every setting that differs."""
    for key in new:
        a, b = old.get(key), new[key]
        if isinstance(b, dict) and isinstance(a, dict):
            yield from _changes(a, b, f"{prefix}{key}.")
        elif a != b:
            yield f"{prefix}{key}: {a!r} -> {b!r}"


class _Progress:
    """A tqdm bar over kept instructions with what the scheduler is doing (in flight, queued,
    answered, kept/s, tokens/s, time left), or one such line per saved iteration."""

    def __init__(self, target: int, *, quiet: bool):
        from tqdm import tqdm

        self.quiet = quiet
        self.counts: dict = {}
        self._shown = 0.0
        self.bar = None if quiet else tqdm(total=target, unit="instr", desc="kept", file=sys.stderr,
                                           dynamic_ncols=True)

    def update(self, event: Event, stats: Stats) -> None:
        if event.kind == "saved":
            self.counts = event.data["counts"]
        elif self.bar is None or time.monotonic() - self._shown < 0.25:
            return
        self._shown = time.monotonic()
        counts = self.counts
        info = {
            "iter": event.iteration,
            "kept/gen": f"{counts.get('kept', stats.kept)}/{counts.get('generated', '?')}",
            "drops": ",".join(f"{r}:{n}" for r, n in Counter(counts.get("reasons", {})).most_common(3)) or "-",
            "in flight": stats.in_flight, "queued": stats.queued, "answered": stats.calls,
            "kept/s": f"{stats.kept_per_s:.2f}", "tok/s": f"{stats.tokens_per_s:.0f}",
            "left": "?" if stats.eta_s is None else duration(stats.eta_s),
        }
        if self.bar is None:
            if event.kind == "saved":
                print(" ".join(f"{k.replace(' ', '_')}={v}" for k, v in info.items()), file=sys.stderr, flush=True)
        else:
            self.bar.n = min(stats.kept, self.bar.total)
            self.bar.set_postfix(info, refresh=True)

    def note(self, line: str) -> None:
        """A line above the bar (the Batch API's state)."""
        if self.bar is None:
            print(line, file=sys.stderr, flush=True)
        else:
            self.bar.write(line, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
