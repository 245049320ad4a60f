"""``translate``: a translated copy of a data set, linked record by record to its source."""

from __future__ import annotations

import argparse

from .answer import JobBar, add_job_args, announce, job_lm, open_job, report
from .common import add_lm_args, add_run_arg, add_workspace_arg


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "translate", help="translate a data set's instructions and inputs into a new run",
        description="Make a run of kind 'translation': every kept instruction and input (and with --outputs "
                    "every output) translated, each instruction pointing at its source. Resumable and cached.")
    add_workspace_arg(p)
    add_run_arg(p)
    p.add_argument("--to", required=True, metavar="LANG", help="target language: a code (zh, de) or a name")
    p.add_argument("--name", help="name of the new run (default: <run>-<code>)")
    p.add_argument("--outputs", action="store_true", help="translate the outputs too (else kept as they are)")
    add_job_args(p)
    add_lm_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..responses import TranslateSettings, plan_translation, resolve_language, translate_run

    store, source, cfg, settings = open_job(args, lambda cfg: TranslateSettings(mode=cfg.api_mode,
                                                                               outputs=args.outputs))
    plan = plan_translation(store, source, cfg, to=args.to, name=args.name, settings=settings, view=args.view,
                            include_seeds=args.include_seeds, limit=args.limit)
    name, records = plan.name, plan.items
    if announce(args, plan, f"translating {len(records):,} records of run {source.name!r} into "
                            f"{resolve_language(args.to)[1]} as run {name!r} ({plan.done:,} already translated)"):
        return 0
    with JobBar(len(records), "translated", quiet=args.no_progress) as bar:
        lm, batch_size = job_lm(args, cfg, store, bar.note)
        result = translate_run(store, source, lm, cfg, to=args.to, name=name, settings=settings, records=records,
                               max_cost=args.max_cost, batch_size=batch_size, on_progress=bar.update)
    return report(result, f"translation run {name!r}")
