"""Reward-model data: every pair of differently-scored responses to one prompt.

With K responses per prompt scored by a judge, the C(K,2) pairs whose scores
differ become (prompt, chosen, rejected) records, the higher-scored response
chosen, as in "Instruction Tuning with GPT-4". The file is JSONL in TRL's
standard preference format with an explicit prompt (``prompt``, ``chosen``,
``rejected``), which ``trl.RewardTrainer`` reads.
"""

from __future__ import annotations

import itertools
import json
import os
import tempfile
from pathlib import Path
from typing import Iterable, Sequence

from ..store import RunInfo, Store
from ..store.evals import judges, judgments
from ..store.responses import response_set, responses
from .judge import template_id


def prompt_text(instruction: str, input: str) -> str:
    """The request a reward model sees: the instruction, then the input if there is one."""
    instruction, input = instruction.strip(), input.strip()
    return f"{instruction}\n\n{input}" if input else instruction


def pick_judge(store: Store, set_ids: Sequence[int], judge: str | None, template: str | None) -> tuple[str, str]:
    """The (judge, template id) to read scores from: the one given, or the only one there is."""
    used = judges(store, set_ids)
    tid = template_id(template) if template is not None else None
    fits = [(j, t) for j, t, _ in used if (judge is None or j == judge) and (tid is None or t == tid)]
    if not fits:
        known = ", ".join(f"{j} (prompt {t}, {n} scores)" for j, t, n in used) or "none"
        raise ValueError(f"no judge scores for these response sets match (judges used: {known}); run `evaluate judge` first")
    if len(fits) > 1:
        listed = ", ".join(f"{j} (prompt {t})" for j, t in fits)
        raise ValueError(f"scores from several judges or prompts exist ({listed}); name one with --judge / --prompt-file")
    return fits[0]


def reward_pairs(
    store: Store, run: RunInfo, set_names: Sequence[str], *, judge: str | None = None,
    template: str | None = None,
) -> list[dict[str, str]]:
    """(prompt, chosen, rejected) for every pair of the sets' responses to one instance whose
    single (alone) judge scores differ; instances in run order, pairs in the sets' order."""
    if len(set(set_names)) < 2:
        raise ValueError("reward pairs need at least two different response sets")
    sets = [response_set(store, run.id, n) for n in set_names]
    ids = [s.id for s in sets]
    judge, tid = pick_judge(store, ids, judge, template)
    score = {(j.set_a, j.instance_id): j.score_a
             for j in judgments(store, ids, judge=judge, template=tid, paired=False) if j.score_a is not None}
    answers: dict[int, dict[int, str]] = {}
    order: dict[int, tuple[str, str]] = {}
    for s in sets:
        for r in responses(store, s.id):
            answers.setdefault(r.instance_id, {})[s.id] = r.text
            order.setdefault(r.instance_id, (r.instruction, r.input))
    out = []
    for iid, (instruction, input) in order.items():
        scored = [(sid, answers[iid][sid], score[(sid, iid)]) for sid in ids
                  if sid in answers[iid] and (sid, iid) in score]
        for (_, ta, sa), (_, tb, sb) in itertools.combinations(scored, 2):
            if sa != sb:
                chosen, rejected = (ta, tb) if sa > sb else (tb, ta)
                out.append({"prompt": prompt_text(instruction, input), "chosen": chosen, "rejected": rejected})
    return out


def write_jsonl(path: str | Path, rows: Iterable[dict]) -> int:
    """Write rows as JSONL atomically (temp file, then rename); returns how many."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    n = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
                n += 1
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return n
