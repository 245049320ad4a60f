"""The command-line interface: one module per command, each with ``register(subparsers)``.

Command modules import their heavy dependencies (spaCy, Plotly, llama.cpp)
inside their ``run`` functions, so ``--help`` and light commands start fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

COMMAND_MODULES = ["generate", "status", "stats", "charts", "check", "answer", "translate", "evaluate", "export", "import_", "finetune", "prepare"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m selfinstruct",
        description="Self-Instruct Studio: grow, tune, analyse, evaluate and export instruction data.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from ..config import ConfigError
    from ..lm.base import LMError
    from ..pipeline import PipelineError
    from ..seeds import SeedFileError
    from ..store import StoreError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:
        # the reader (e.g. `| head`) stopped reading: it has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (StoreError, SeedFileError, ConfigError, PipelineError, LMError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: everything finished so far is stored; run the same command again to resume",
              file=sys.stderr)
        return 130
