"""``check``: verify a workspace's integrity after a crash, a kill or a full disk."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from .common import add_workspace_arg

    p = sub.add_parser("check", help="verify the workspace: no duplicates, no orphans, no call paid twice")
    add_workspace_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..store.check import check
    from .common import open_store

    store = open_store(args)
    problems = 0
    for name, found in check(store).items():
        print(f"{'ok  ' if not found else 'FAIL'} {name}")
        for p in found[:20]:
            print(f"     {p}")
        problems += len(found)
    print(f"{store.path}: {'consistent' if not problems else f'{problems} problem(s)'}")
    return 0 if not problems else 1
