"""``finetune``: start a fine-tuning job from an exported chat file on an OpenAI-compatible API, and follow it."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("finetune", help="launch or follow a fine-tuning job (key from $OPENAI_API_KEY)")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    launch = actions.add_parser("launch", help="check and upload a chat JSONL file, then create the job")
    launch.add_argument("--file", required=True, metavar="PATH", help="chat JSONL (python -m selfinstruct export -f chat)")
    launch.add_argument("--model", required=True, metavar="BASE", help="the base model to tune")
    launch.add_argument("--suffix", help="a label the API adds to the tuned model's name")
    launch.add_argument("--epochs", type=int, help="training epochs (default: the API's choice)")
    status = actions.add_parser("status", help="a job's state, tuned model and latest events")
    status.add_argument("job_id", metavar="JOB_ID")
    status.add_argument("--events", type=int, default=5, help="how many recent events to show")
    for a in (launch, status):
        a.add_argument("--base-url", help="API base URL (default: $OPENAI_BASE_URL or OpenAI)")
        a.add_argument("--json", action="store_true", help="print the job as JSON")
        a.add_argument("--timeout", type=float, help="seconds to wait for each answer of the API (default: 120)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import finetune
    from ..redact import redact
    from . import known_secrets

    if args.timeout is not None and not args.timeout > 0:
        raise ValueError(f"--timeout: must be above 0, got {args.timeout}")
    try:
        if args.action == "launch":
            finetune.check_chat_file(args.file)  # a bad file is named before any key or network
        client = finetune.make_client(args.base_url, timeout_s=args.timeout)
        if args.action == "launch":
            job = finetune.launch(client, args.file, args.model, suffix=args.suffix, epochs=args.epochs)
        else:
            job = finetune.status(client, args.job_id, events=args.events)
    except finetune.FinetuneError as e:
        print(f"error: {redact(str(e), known_secrets(args))}", file=sys.stderr)
        return 2
    # the job's error and event texts are the server's words: they may echo the key
    text = json.dumps(job, indent=2, default=str) if args.json else finetune.describe(job)
    print(redact(text, known_secrets(args)))
    return 0
