"""``status``: what a workspace holds and where each run stands."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    from .common import add_run_arg, add_workspace_arg

    p = sub.add_parser("status", help="runs, their state, sizes, tokens and cost")
    add_workspace_arg(p)
    add_run_arg(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run_status(store, info) -> dict:
    """One run's state, counts, usage and cost, as the CLI and the dashboard show it."""
    from ..config import RunConfig
    from ..pipeline import run_cost

    usage = store.usage(info.id)
    cfg = RunConfig.from_dict(info.config) if info.kind == "generate" else None
    writer = store.run_lock(info.id)
    state, status = info.state, info.status
    if state == "running" and not (writer and writer["alive"]):
        # the writer was killed or crashed before it could record how it ended
        state = "interrupted"
        status = "the process writing it stopped without finishing; run the same command again to resume"
    return {
        "run": info.name, "kind": info.kind, "state": state, "status": status,
        "language": info.language,
        "target": cfg.target if cfg else None,
        "lm": (f"{cfg.lm.backend}:{cfg.lm.model or 'default'}" if cfg else None),
        "counts": store.counts(info.id), "usage": usage,
        "cost_usd": round(run_cost(store, info), 6),
        "writer": writer if writer and writer["alive"] else None,
        "views": store.views(info.id),
    }


def run(args: argparse.Namespace) -> int:
    from ..costs import money
    from .common import open_store

    store = open_store(args)
    runs = [store.run(args.run)] if args.run else store.runs()
    report = [run_status(store, r) for r in runs]
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    if not report:
        print(f"{store.path}: no runs yet (start one with: python -m selfinstruct generate -w {store.path})")
    for r in report:
        c, u = r["counts"], r["usage"]
        print(f"run {r['run']!r} [{r['kind']}] {r['state']}" + (f": {r['status']}" if r["status"] else ""))
        if r["kind"] == "generate":
            print(f"  kept {c['kept']} of target {r['target']}; generated {c['generated']}, dropped {c['dropped']}"
                  f" in {c['iterations']} iterations; seeds {c['seeds']}")
            if c["reasons"]:
                print("  drop reasons: " + ", ".join(f"{k} {v}" for k, v in sorted(c["reasons"].items(), key=lambda x: -x[1])))
            print(f"  instances kept {c['instances_kept']}, dropped {c['instances_dropped']}")
        else:
            print("  records: " + ", ".join(f"{k} {v}" for k, v in c.items() if isinstance(v, int) and v))
        print(f"  LM: {r['lm'] or '-'}; calls {u['calls']} ({u['errors']} failed, {u['faults']} faults recorded);"
              f" tokens {u['tokens_in']} in / {u['tokens_out']} out; cost {money(r['cost_usd'])}")
        if r["writer"]:
            w = r["writer"]
            print(f"  writer: {w['owner']} pid {w['pid']} on {w['host']}")
        if r["views"]:
            print("  views: " + ", ".join(r["views"]))
    return 0
