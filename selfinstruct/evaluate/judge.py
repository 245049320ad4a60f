"""LLM-as-judge, as in "Instruction Tuning with GPT-4": a judge model scores responses 1-10.

A response can be judged alone, or beside another set's response to the same
request; pairs are judged in both orders so the judge's taste for the first
(or second) position cancels out. Every call goes through ``RecordedLM``:
cached by prompt, logged, never paid twice, so an interrupted job resumes by
running again. The prompts (``prompts.judge``) are templates (editable:
``--prompt-file``, the page's text area) with ``{instruction}``, ``{input}`` and ``{response}`` or
``{response_1}``/``{response_2}`` placeholders; scores are stored per template,
so a new wording gives new scores beside the old.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from ..lm.base import LM, LMRequest
from ..lm.batches import Answer, run_batches
from ..lm.batches import Progress as LMProgress
from ..lm.cache import RecordedLM
from ..prompts.judge import (
    PAIR_FIELDS,
    PAIR_TEMPLATE,
    SINGLE_FIELDS,
    SINGLE_TEMPLATE,
    TemplateError,  # noqa: F401 (callers catch it as judge.TemplateError)
    check_template,
    pair_prompt,
    parse_pair,
    parse_score,
    single_prompt,
    template_id,
)
from ..store import RunInfo, Store
from ..store.evals import Judgment, judges, judgments, save_judgments
from ..store.responses import ResponseRow, ResponseSet, response_set, responses

BATCH = 16
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class JudgeReport:
    judged: int
    unreadable: int
    skipped: int


def _request(prompt: str, max_tokens: int) -> LMRequest:
    return LMRequest(prompt=prompt, step="judge", temperature=0.0, top_p=1.0, max_tokens=max_tokens)


def _run_batches(
    store: Store, rlm: RecordedLM, jobs: list[tuple[str, Callable[[str, int], Judgment]]], max_tokens: int,
    batch_size: int, on_progress: Progress | None,
) -> tuple[int, int]:
    """Call the judge for each (prompt, make judgment) job; save each batch as it lands.
    A failed call is raised once its batch's answers are saved."""
    unreadable = 0

    def save(batch: list[tuple[tuple[str, Callable[[str, int], Judgment]], list[Answer]]]) -> None:
        nonlocal unreadable
        saved = [make(resp.text, call_id) for (_, make), [(call_id, resp)] in batch]
        unreadable += sum(j.score_a is None for j in saved)
        save_judgments(store, saved)

    progress = LMProgress(total=len(jobs))
    run_batches(rlm, jobs, lambda job: [_request(job[0], max_tokens)], save, progress, batch_size=batch_size,
                on_progress=(lambda p: on_progress(p.done, p.total)) if on_progress else None)
    return progress.done, unreadable


def _judged(store: Store, set_ids: Sequence[int], judge: str, template: str) -> set[tuple[int, int, int]]:
    return {(j.instance_id, j.set_a, j.set_b) for j in judgments(store, set_ids, judge=judge, template=template)
            if j.score_a is not None}


def judge_single(
    store: Store, run: RunInfo, lm: LM, set_names: Sequence[str], *, template: str = SINGLE_TEMPLATE,
    max_tokens: int = 128, batch_size: int = BATCH, on_progress: Progress | None = None,
) -> JudgeReport:
    """Score every response of each set alone, 1-10, ``batch_size`` calls at a time."""
    check_template(template, SINGLE_FIELDS, "single")
    rlm, tid = RecordedLM(lm, store, run.id), template_id(template)
    sets = [response_set(store, run.id, n) for n in set_names]
    done = _judged(store, [s.id for s in sets], rlm.name, tid)
    jobs, total = [], 0
    for s in sets:
        for r in responses(store, s.id):
            total += 1
            if (r.instance_id, s.id, 0) in done:
                continue

            def make(text: str, call_id: int, r: ResponseRow = r, s: ResponseSet = s) -> Judgment:
                return Judgment(r.instance_id, rlm.name, tid, s.id, 0, parse_score(text), None, call_id)

            jobs.append((single_prompt(template, r.instruction, r.input, r.text), make))
    judged, unreadable = _run_batches(store, rlm, jobs, max_tokens, batch_size, on_progress)
    return JudgeReport(judged, unreadable, total - len(jobs))


def judge_pairs(
    store: Store, run: RunInfo, lm: LM, set_a: str, set_b: str, *, template: str = PAIR_TEMPLATE,
    max_tokens: int = 256, batch_size: int = BATCH, on_progress: Progress | None = None,
) -> JudgeReport:
    """Score the two sets' responses side by side, each instance twice: A first, then B first."""
    check_template(template, PAIR_FIELDS, "pairwise")
    rlm, tid = RecordedLM(lm, store, run.id), template_id(template)
    sa, sb = response_set(store, run.id, set_a), response_set(store, run.id, set_b)
    if sa.id == sb.id:
        raise ValueError(f"pairwise judging needs two different response sets, got {set_a!r} twice")
    done = _judged(store, [sa.id, sb.id], rlm.name, tid)
    by_b = {r.instance_id: r for r in responses(store, sb.id)}
    jobs, both = [], 0
    for ra in responses(store, sa.id):
        rb = by_b.get(ra.instance_id)
        if rb is None:
            continue
        both += 1
        for first, second, s1, s2 in ((ra, rb, sa.id, sb.id), (rb, ra, sb.id, sa.id)):
            if (ra.instance_id, s1, s2) in done:
                continue

            def make(text: str, call_id: int, iid: int = ra.instance_id, s1: int = s1, s2: int = s2) -> Judgment:
                scores = parse_pair(text)
                return Judgment(iid, rlm.name, tid, s1, s2, *(scores or (None, None)), call_id)

            jobs.append((pair_prompt(template, ra.instruction, ra.input, first.text, second.text), make))
    judged, unreadable = _run_batches(store, rlm, jobs, max_tokens, batch_size, on_progress)
    return JudgeReport(judged, unreadable, 2 * both - len(jobs))


# ------------------------------------------------------------------ totals


@dataclass(frozen=True)
class RelativeScore:
    """``name``'s total score over ``n`` instances judged against the reference, and its share."""

    name: str
    n: int
    total: float
    reference_total: float

    @property
    def ratio(self) -> float | None:
        """total / reference_total; None (shown "n/a") when nothing of the reference was scored."""
        return self.total / self.reference_total if self.reference_total else None


def model_part(judge: str) -> str:
    """``openai:gpt-4o@https://host/v1`` -> ``gpt-4o``: the model as people name it."""
    return judge.split(":", 1)[-1].split("@", 1)[0]


def resolve_judge(store: Store, set_ids: Sequence[int], judge: str, *, paired: bool | None = None) -> str:
    """The stored judge name that ``judge`` means: the full name, or its model part
    (``gpt-4o`` for ``openai:gpt-4o@<url>``); an error lists the judges when none or
    several match."""
    names = list(dict.fromkeys(j for j, _, _ in judges(store, set_ids, paired=paired)))
    fits = [n for n in names if judge == n] or [n for n in names if judge in (model_part(n), n.split("@", 1)[0])]
    if len(fits) == 1:
        return fits[0]
    listed = ", ".join(names) or "none yet: run `evaluate judge` first"
    if not fits:
        raise ValueError(f"no judge {judge!r} scored these response sets (judges: {listed})")
    raise ValueError(f"several judges match {judge!r} ({', '.join(fits)}); give the full name")


def relative_scores(
    store: Store, run: RunInfo, reference: str, others: Sequence[str], *, judge: str, paired: bool,
    template: str | None = None,
) -> list[RelativeScore]:
    """Each other set's total relative to ``reference`` ("B scores 95% of A").

    Paired: sums both orders of every pair judged with readable scores. Single:
    sums the alone-scores over instances both sets have a readable score for.
    With no ``template`` given, the latest judgment of each kind counts.
    """
    ref = response_set(store, run.id, reference)
    tid = template_id(template) if template is not None else None
    out = []
    for name in others:
        other = response_set(store, run.id, name)
        latest = {(j.instance_id, j.set_a, j.set_b): j
                  for j in judgments(store, [ref.id, other.id], judge=judge, template=tid, paired=paired)
                  if j.score_a is not None}
        if paired:
            mine = ref_total = 0.0
            instances = set()
            for j in latest.values():
                if {j.set_a, j.set_b} != {ref.id, other.id}:
                    continue
                a_is_ref = j.set_a == ref.id
                ref_total += j.score_a if a_is_ref else j.score_b
                mine += j.score_b if a_is_ref else j.score_a
                instances.add(j.instance_id)
            out.append(RelativeScore(name, len(instances), mine, ref_total))
        else:
            by_set: dict[int, dict[int, float]] = {ref.id: {}, other.id: {}}
            for j in latest.values():
                by_set[j.set_a][j.instance_id] = j.score_a
            common = by_set[ref.id].keys() & by_set[other.id].keys()
            out.append(RelativeScore(
                name, len(common), sum(by_set[other.id][i] for i in common),
                sum(by_set[ref.id][i] for i in common),
            ))
    return out
