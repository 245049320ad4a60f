"""Options and helpers several commands share: workspace, run, and LM selection."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable, Sequence

from ..config import ConfigError, LMConfig, RunConfig, base_url_problems
from ..lm.base import LM
from ..redact import strip_url_credentials
from ..store import RunInfo, Store, StoreError

DEFAULT_SEEDS = Path(__file__).resolve().parents[2] / "seeds" / "seed_tasks.jsonl"


def add_workspace_arg(p: argparse.ArgumentParser, *, required: bool = True) -> None:
    env = os.environ.get("SELFINSTRUCT_WORKSPACE")
    p.add_argument(
        "--workspace", "-w", default=env, required=required and env is None, metavar="FILE",
        help="workspace file (SQLite); default: $SELFINSTRUCT_WORKSPACE",
    )


def add_run_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", metavar="NAME", help="run (data set) in the workspace; default: the newest")


def add_lm_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("language model")
    g.add_argument("--lm", choices=("llamacpp", "openai", "fake"), default=None,
                   help="backend: embedded llama.cpp (default), any OpenAI-compatible endpoint, or the test fake")
    g.add_argument("--model", help="model name at the endpoint (openai) or a label")
    g.add_argument("--base-url", help="OpenAI-compatible base URL (default: $OPENAI_BASE_URL or OpenAI)")
    g.add_argument("--replica", dest="replicas", action="append", metavar="URL",
                   help="another base URL serving the same model (repeat for more); requests go to the least loaded")
    g.add_argument("--api-mode", choices=("completion", "chat"), help="completions (base models, as in the paper) or chat")
    g.add_argument("--model-path", help="GGUF file for the embedded backend (default: the packaged Gemma 3 270M)")
    g.add_argument("--threads", type=int, help="CPU threads of the embedded model (default: half the cores)")
    g.add_argument("--max-in-flight", "--concurrency", dest="concurrency", type=int, metavar="N",
                   help="most requests in flight per endpoint (default 128); each endpoint starts at 64 "
                        "and adapts: doubling while all goes well, halving on 429/503 or timeouts")
    g.add_argument("--rpm", type=int, help="requests per minute per endpoint (default: no limit)")
    g.add_argument("--tpm", type=int, help="tokens per minute per endpoint, prompt plus max_tokens (default: no limit)")
    g.add_argument("--timeout", type=float, help="seconds before a request is abandoned and retried")
    g.add_argument("--max-retries", type=int, help="retries after the first attempt, on rate limits, server errors and timeouts")
    g.add_argument("--price-in", type=float, help="dollars per million prompt tokens, for cost estimates")
    g.add_argument("--price-out", type=float, help="dollars per million completion tokens")


def lm_config_from_args(args: argparse.Namespace, base: LMConfig | None = None) -> LMConfig:
    """Flags override ``base`` (e.g. a run's stored LM settings); unset flags keep it."""
    cfg = LMConfig(**vars(base)) if base is not None else LMConfig()
    for flag, attr in (
        ("lm", "backend"), ("model", "model"), ("base_url", "base_url"), ("replicas", "replicas"),
        ("api_mode", "api_mode"), ("model_path", "model_path"), ("threads", "threads"),
        ("concurrency", "concurrency"), ("rpm", "rpm"), ("tpm", "tpm"), ("timeout", "timeout_s"),
        ("max_retries", "max_retries"), ("price_in", "price_in_per_1m"), ("price_out", "price_out_per_1m"),
    ):
        value = getattr(args, flag, None)
        if value is not None:
            setattr(cfg, attr, value)
    return cfg


def check_lm_environment(cfg: LMConfig) -> None:
    """Refuse a bad $OPENAI_BASE_URL with the other settings, before anything is stored:
    the backend would only read it at the first call."""
    url = os.environ.get("OPENAI_BASE_URL", "").strip()
    if cfg.backend == "openai" and not cfg.base_url.strip() and url:
        problems = [f"{key}: {why}" for key, why in base_url_problems("$OPENAI_BASE_URL", url)]
        if problems:
            raise ConfigError(*problems)


def storable(config: RunConfig) -> dict:
    """``config`` as stored: the base URL and replicas without credentials (``user:password@``,
    ``?api-key=``), which only the live LM, built from the settings in memory, may use."""
    data = config.to_dict()
    data["lm"]["base_url"] = strip_url_credentials(data["lm"]["base_url"])
    data["lm"]["replicas"] = [strip_url_credentials(u) for u in data["lm"]["replicas"]]
    return data


def make_lm(cfg: LMConfig) -> LM:
    """The backend for ``cfg``; the fake honours $SELFINSTRUCT_FAKE_DELAY (seconds per call) and
    $SELFINSTRUCT_FAKE_CONCURRENCY (requests in flight) for tests."""
    cfg.validate()
    if cfg.backend == "fake":
        from ..lm.fake import FakeLM

        return FakeLM(delay_s=float(os.environ.get("SELFINSTRUCT_FAKE_DELAY", "0") or 0),
                      concurrency=int(os.environ.get("SELFINSTRUCT_FAKE_CONCURRENCY", "1") or 1))
    from ..lm import make_lm as build

    return build(cfg)


ONE_BATCH = sys.maxsize  # a run_batches batch size that puts every request of a job in one Batch API batch


def add_batch_args(p: argparse.ArgumentParser, how: str = "") -> None:
    """``--batch``: the same job through the endpoint's Batch API (slow turnaround, half price);
    ``how`` says how the command splits its work into batches."""
    p.add_argument("--batch", action="store_true",
                   help="send the requests through the OpenAI Batch API (answers within 24 h, at the batch price; "
                        f"a killed run picks its pending batch up again){'; ' + how if how else ''}")
    p.add_argument("--batch-poll", type=float, default=30.0, metavar="SECONDS",
                   help="with --batch: seconds between polls of a pending batch (default 30)")


def make_batch_lm(cfg: LMConfig, store: Store, poll_s: float, on_status: Callable[[str], None] | None = None) -> LM:
    """The Batch API backend for ``cfg`` (an OpenAI endpoint), its batches remembered in ``store``."""
    cfg.validate()
    if cfg.backend != "openai":
        raise ValueError(f"--batch needs an OpenAI-compatible endpoint (--lm openai), not the {cfg.backend} backend")
    if not poll_s > 0:
        raise ValueError(f"--batch-poll must be more than 0 seconds, got {poll_s:g}")
    from ..lm.batch_api import BatchLM
    from ..store.batches import BatchTable

    return BatchLM(cfg, BatchTable(store), poll_s=poll_s, on_status=on_status)


def open_store(args: argparse.Namespace, *, create: bool = False, write: bool = False, verify: bool = False) -> Store:
    """The workspace named by --workspace. Only commands that make data ``create`` one,
    so a mistyped path in ``status`` or ``export`` is an error, not a new empty file;
    commands that add to it (``write``) open it for writing; the rest for reading.
    ``verify`` refuses a damaged file before anything is written to it."""
    if not args.workspace:
        raise ValueError("no workspace given: pass --workspace FILE or set SELFINSTRUCT_WORKSPACE")
    if create or write:
        return Store(args.workspace, create=create, verify=verify)
    return open_for_reading(args.workspace)


def open_for_reading(path: str) -> Store:
    """A workspace for a command that reads (status, stats, check, export): opened
    read-only when it is an archived copy (not in WAL mode, like the shipped demo,
    which must not change) or cannot be written; otherwise as usual, so analysis
    caches are kept for next time."""
    p = Path(path)
    if p.is_file() and not _in_wal_mode(p):
        return Store(p, read_only=True)
    try:
        return Store(path, create=False)
    except StoreError as e:
        if e.cause not in ("read_only", "cannot_open") or not p.is_file():
            raise
        return Store(path, read_only=True)


def _in_wal_mode(path: Path) -> bool:
    """SQLite's header says WAL in bytes 18-19; an empty or foreign file says no."""
    try:
        with path.open("rb") as f:
            header = f.read(20)
    except OSError:
        return False
    return header[:16] == b"SQLite format 3\x00" and header[18:20] == b"\x02\x02"


def open_run(store: Store, args: argparse.Namespace) -> RunInfo:
    name = getattr(args, "run", None)
    return store.run(name) if name else store.default_run()


def add_source_args(p: argparse.ArgumentParser) -> None:
    """A data set to analyse: a workspace run (optionally a view), a seed file, or a data file."""
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--workspace", "-w", metavar="FILE", help="workspace file")
    src.add_argument("--seeds", type=Path, metavar="FILE", help="a seed task file (official JSONL format)")
    src.add_argument("--file", type=Path, metavar="FILE",
                     help="a data file in any import format (Alpaca JSON/JSONL, chat, ShareGPT, CSV, Parquet, ...)")
    p.add_argument("--run", metavar="NAME", help="with --workspace: the run (default: the newest)")
    p.add_argument("--view", metavar="NAME", help="with --workspace: a saved filtered view of the run")


def load_source(args: argparse.Namespace) -> tuple[str, list, list[str] | None, object, Store | None, RunInfo | None]:
    """(label, tasks, seed instructions or None, parse cache, store, run) for ``add_source_args``."""
    from ..kvcache import DictCache
    from ..seeds import load_tasks

    if args.workspace is not None:
        from ..filter_views import view_tasks

        store = open_for_reading(args.workspace)
        run = open_run(store, args)
        tasks = view_tasks(store, run, args.view)
        seeds = [r.text for r in store.instructions(run.id, origin="seed")] or None
        label = f"{run.name}" + (f" [{args.view}]" if args.view else "")
        return label, tasks, seeds, store, store, run
    if args.seeds:
        return args.seeds.name, load_tasks(args.seeds), None, DictCache(), None, None
    from ..formats import ImportRefused, detect_format, read_file
    from ..formats.importing import refusal

    # No --format or --skip-bad here: the way out is `import` with them, then analysing the run.
    then = "then analyse the run with --workspace"
    parsed = read_file(args.file, detect_format(args.file, hint=f"import it with --format FORMAT, {then}"))
    if parsed.bad:
        hint = f"nothing was analysed (fix them, or import the file with --skip-bad, {then})"
        raise ImportRefused(refusal(parsed, hint), parsed.bad)
    return args.file.name, parsed.tasks, None, DictCache(), None, None


def ask(question: str, choices: Sequence[str]) -> str | None:
    """One keypress-style answer from the terminal, asked until it is one of ``choices``
    (its first letter counts); None when the person quits (q) or the input ends."""
    reply = ""
    while reply not in (*choices, "q"):
        print(f"{question} [{'/'.join((*choices, 'q'))}] ", end="", flush=True)
        line = sys.stdin.readline()
        if not line:
            print()
            return None
        reply = line.strip().lower()[:1]
    return None if reply == "q" else reply
