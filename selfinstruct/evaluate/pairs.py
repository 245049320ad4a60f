"""Reward-model data: every pair of differently-scored responses to one prompt.

With K responses per prompt scored by a judge (single 1-10 scores by default),
the C(K,2) pairs whose scores differ become (prompt, chosen, rejected) records,
the higher-scored response chosen, as in "Instruction Tuning with GPT-4". The
file is JSONL in TRL's standard preference format with an explicit prompt
(``prompt``, ``chosen``, ``rejected``), which ``trl.RewardTrainer`` reads.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Iterable, Sequence

from ..store import RunInfo, Store
from ..store.evals import judges, judgments
from ..store.responses import response_set, responses
from .judge import PAIR_TEMPLATE, SINGLE_TEMPLATE, resolve_judge, template_id


def prompt_text(instruction: str, input: str) -> str:
    """The request a reward model sees: the instruction, then the input if there is one."""
    instruction, input = instruction.strip(), input.strip()
    return f"{instruction}\n\n{input}" if input else instruction


def _prompt_label(tid: str) -> str:
    builtin = {template_id(SINGLE_TEMPLATE): "built-in single", template_id(PAIR_TEMPLATE): "built-in pairwise"}
    return f"prompt {tid}" + (f", {builtin[tid]}" if tid in builtin else "")


def pick_judge(
    store: Store, set_ids: Sequence[int], *, judge: str | None = None, template: str | None = None,
    prompt_id: str | None = None, paired: bool = False,
) -> tuple[str, str]:
    """The (judge, template id) to read scores of one kind from (single 1-10 scores, or
    pairwise with ``paired``): the one named (judge by full name or model, prompt by its
    text or id), or the only one there is."""
    used = judges(store, set_ids, paired=paired)
    if not used:
        other = judges(store, set_ids, paired=not paired)
        if other and not paired:
            raise ValueError("these response sets have pairwise judge scores only; reward pairs come from single "
                             "1-10 scores: run `evaluate judge` without --pairwise, or build the pairs from the "
                             "pairwise scores with --pairwise")
        if other:
            raise ValueError("these response sets have single judge scores only: leave out --pairwise")
        raise ValueError("no judge scores for these response sets; run `evaluate judge` first")
    name = resolve_judge(store, set_ids, judge, paired=paired) if judge is not None else None
    tid = template_id(template) if template is not None else None
    fits = [(j, t) for j, t, _ in used if name in (None, j) and tid in (None, t)
            and (prompt_id is None or t.startswith(prompt_id.strip()))]
    if not fits:
        known = ", ".join(f"{j} ({_prompt_label(t)}, {n} scores)" for j, t, n in used)
        raise ValueError(f"no judge scores for these response sets match (judges used: {known})")
    if len(fits) > 1:
        listed = ", ".join(f"{j} ({_prompt_label(t)})" for j, t in fits)
        raise ValueError(f"scores from several judges or prompts exist ({listed}); "
                         "name one with --judge NAME and/or --prompt-id ID")
    return fits[0]


def reward_pairs(
    store: Store, run: RunInfo, set_names: Sequence[str], *, judge: str | None = None,
    template: str | None = None, prompt_id: str | None = None, paired: bool = False,
) -> list[dict[str, str]]:
    """(prompt, chosen, rejected) for every pair of the sets' responses to one instance whose
    judge scores differ; instances in run order, pairs in the sets' order.

    The scores are single (alone) 1-10 scores; with ``paired``, the pairwise ones instead,
    a pair counting only when it was judged in both orders (each side's two scores summed,
    so position bias cancels). The two kinds are never mixed."""
    if len(set(set_names)) < 2:
        raise ValueError("reward pairs need at least two different response sets")
    sets = [response_set(store, run.id, n) for n in set_names]
    ids = [s.id for s in sets]
    judge, tid = pick_judge(store, ids, judge=judge, template=template, prompt_id=prompt_id, paired=paired)
    found = judgments(store, ids, judge=judge, template=tid, paired=paired)
    readable = [j for j in found if j.score_a is not None]
    if not readable:
        raise ValueError(f"none of the {len(found):,} scores of judge {judge} ({_prompt_label(tid)}) on these "
                         "sets could be read; judge again with a prompt it follows")
    single = {(j.set_a, j.instance_id): j.score_a for j in readable}
    shown = {(j.instance_id, j.set_a, j.set_b): (j.score_a, j.score_b) for j in readable}

    def compare(iid: int, a: int, b: int) -> tuple[float, float] | None:
        if not paired:
            return (single[(a, iid)], single[(b, iid)]) if (a, iid) in single and (b, iid) in single else None
        ab, ba = shown.get((iid, a, b)), shown.get((iid, b, a))
        return (ab[0] + ba[1], ab[1] + ba[0]) if ab and ba else None

    answers: dict[int, dict[int, str]] = {}
    order: dict[int, tuple[str, str]] = {}
    for s in sets:
        for r in responses(store, s.id):
            answers.setdefault(r.instance_id, {})[s.id] = r.text
            order.setdefault(r.instance_id, (r.instruction, r.input))
    out = []
    for iid, (instruction, input) in order.items():
        for a, b in itertools.combinations([sid for sid in ids if sid in answers[iid]], 2):
            scores = compare(iid, a, b)
            if scores is not None and scores[0] != scores[1]:
                ta, tb = answers[iid][a], answers[iid][b]
                chosen, rejected = (ta, tb) if scores[0] > scores[1] else (tb, ta)
                out.append({"prompt": prompt_text(instruction, input), "chosen": chosen, "rejected": rejected})
    return out


def write_jsonl(path: str | Path, rows: Iterable[dict]) -> int:
    """Write rows as JSONL atomically (the shared writer: temp file, then rename); returns how many."""
    from ..formats.files import atomic_file, write_jsonl as write_lines

    with atomic_file(Path(path)) as tmp:
        return write_lines(tmp, rows)
