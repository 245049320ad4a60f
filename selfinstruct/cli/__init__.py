"""The command-line interface: one module per command, each with ``register(subparsers)``.

Command modules import their heavy dependencies (spaCy, Plotly, llama.cpp)
inside their ``run`` functions, so ``--help`` and light commands start fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

COMMAND_MODULES = ["generate", "status", "stats", "charts", "check", "answer", "translate", "evaluate", "export", "import_", "finetune", "prepare", "scaling", "dedup"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m selfinstruct",
        description="Self-Instruct Studio: grow, tune, analyse, evaluate and export instruction data.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def known_secrets(args: argparse.Namespace | None = None) -> list[str]:
    """What must never be printed: the key from the environment and the credentials in
    any base URL given by flag or environment."""
    from ..redact import url_secrets

    urls = [os.environ.get("OPENAI_BASE_URL", ""), getattr(args, "base_url", None) or ""]
    return [os.environ.get("OPENAI_API_KEY", ""), getattr(args, "api_key", None) or "",
            *(s for url in urls for s in url_secrets(url))]


def _refuse_undecodable_names(args: argparse.Namespace) -> None:
    """Names stored in the workspace must be text: Python hands undecodable argv bytes over
    as lone surrogates, which SQLite would refuse later with a bare codec error."""
    for attr, label in (("run", "run name"), ("view", "view name"), ("model", "model name"), ("name", "name")):
        value = getattr(args, attr, None)
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError(f"{label} is not valid UTF-8: {value.encode('utf-8', 'replace').decode()!r}; "
                                 "use a name made of text") from None


def main(argv: list[str] | None = None) -> int:
    from ..config import ConfigError
    from ..lm.base import LMError
    from ..pipeline import PipelineError
    from ..redact import redact
    from ..seeds import SeedFileError
    from ..store import StoreError

    args = build_parser().parse_args(argv)
    try:
        _refuse_undecodable_names(args)
        return int(args.func(args) or 0)
    except BrokenPipeError:
        # the reader (e.g. `| head`) stopped reading: it has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (StoreError, SeedFileError, ConfigError, PipelineError, LMError, ValueError, OSError) as e:
        # the last line of defence: a server's words may carry the key or a URL's credentials
        print(f"error: {redact(str(e), known_secrets(args))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: everything finished so far is stored; run the same command again to resume",
              file=sys.stderr)
        return 130
