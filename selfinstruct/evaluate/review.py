"""Quality review: the paper's four questions over a random sample of a run's instances.

The sample is the paper's: N instructions drawn at random, one instance of
each. "Random" is a hash of the seed and each instruction's place in the run,
so the same run and seed give the same sample in every session, and a run
that grows keeps the instructions already drawn unless newer ones outrank them.
People answer in the browser or the terminal; a judge model can answer the
same questions, and the two are compared (percent agreement, Cohen's kappa).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Sequence

from ..lm.base import LM, LMRequest
from ..lm.batches import Answer, Progress, run_batches
from ..lm.cache import RecordedLM
from ..prompts.judge import check_template
from ..prompts.review import QUESTIONS, REVIEW_TEMPLATE, parse_review, review_prompt
from ..filter_views import select
from ..store import InstanceRow, InstructionRow, RunInfo, Store
from ..store.evals import ReviewAnswer, review_answers, save_review_answers
from .judge import BATCH

DEFAULT_SAMPLE = 200
HUMAN = "human"


@dataclass(frozen=True)
class ReviewItem:
    instance_id: int
    instruction: str
    input: str
    output: str


def _rank(seed: int, *parts: object) -> bytes:
    return hashlib.sha256(":".join(map(str, (seed, *parts))).encode()).digest()


def review_sample(store: Store, run: RunInfo, n: int = DEFAULT_SAMPLE, seed: int = 0) -> list[ReviewItem]:
    """N of what the run keeps (``filter_views.select``), one kept instance each, in a seeded order."""
    chosen: dict[int, tuple[InstructionRow, InstanceRow]] = {}
    for s in select(store, run):
        if s.instances:
            chosen[s.row.id] = (s.row, min(s.instances, key=lambda i, r=s.row: _rank(seed, r.seq, i.position)))
    order = sorted(chosen, key=lambda i: _rank(seed, chosen[i][0].seq))[:n]
    return [ReviewItem(inst.id, row.text, inst.input, inst.output) for row, inst in (chosen[i] for i in order)]


def next_unanswered(items: Sequence[ReviewItem], answers: Sequence[ReviewAnswer]) -> tuple[int, int] | None:
    """(item index, question 1-4) a reviewer resumes at; None when every question is answered."""
    have = {(a.instance_id, a.question) for a in answers}
    for i, item in enumerate(items):
        for q in range(1, len(QUESTIONS) + 1):
            if (item.instance_id, q) not in have:
                return i, q
    return None


@dataclass(frozen=True)
class QuestionRate:
    question: int
    yes: int
    n: int

    @property
    def percent(self) -> float:
        return 100.0 * self.yes / self.n if self.n else 0.0


def yes_rates(answers: Sequence[ReviewAnswer], instance_ids: Sequence[int] | None = None) -> list[QuestionRate]:
    """Yes count and total per question (the paper's 92/79/58/54 table), optionally over some instances."""
    keep = None if instance_ids is None else set(instance_ids)
    out = []
    for q in range(1, len(QUESTIONS) + 1):
        got = [a.answer for a in answers if a.question == q and (keep is None or a.instance_id in keep)]
        out.append(QuestionRate(q, sum(got), len(got)))
    return out


def cohen_kappa(pairs: Sequence[tuple[Hashable, Hashable]]) -> float | None:
    """Cohen's kappa of two raters' labels (yes/no here, win/tie/lose in the HHH comparison);
    None when chance agreement is total (both raters gave one and the same label throughout)
    or there are no pairs."""
    n = len(pairs)
    if not n:
        return None
    po = sum(a == b for a, b in pairs) / n
    first, second = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    pe = sum(first[label] * second[label] for label in first) / (n * n)
    if pe == 1:
        return None
    return (po - pe) / (1 - pe)


@dataclass(frozen=True)
class Agreement:
    """How often two raters gave the same answer on one question or criterion (``about``)."""

    about: int | str
    n: int
    agree: int
    kappa: float | None

    @classmethod
    def of(cls, about: int | str, pairs: Sequence[tuple[Any, Any]]) -> "Agreement":
        """From the two raters' answers to the items both answered."""
        return cls(about, len(pairs), sum(x == y for x, y in pairs), cohen_kappa(pairs))

    @property
    def percent(self) -> float:
        return 100.0 * self.agree / self.n if self.n else 0.0


def agreement(first: Sequence[ReviewAnswer], second: Sequence[ReviewAnswer]) -> list[Agreement]:
    """Per question, over instances both raters answered: how often they agree, and kappa."""
    theirs = {(a.instance_id, a.question): a.answer for a in second}
    out = []
    for q in range(1, len(QUESTIONS) + 1):
        pairs = [(a.answer, theirs[(a.instance_id, q)]) for a in first
                 if a.question == q and (a.instance_id, q) in theirs]
        out.append(Agreement.of(q, pairs))
    return out


def judge_rater(lm_name: str) -> str:
    return f"judge:{lm_name}"


@dataclass(frozen=True)
class ReviewJudgeReport:
    answered: int
    unreadable: int


def judge_review(
    store: Store, run: RunInfo, lm: LM, items: Sequence[ReviewItem], *, template: str = REVIEW_TEMPLATE,
    max_tokens: int = 48, on_progress: Callable[[int, int], None] | None = None,
) -> ReviewJudgeReport:
    """Have ``lm`` answer the four questions for each item; answers are stored as rater
    ``judge:<model>`` beside people's. Unreadable answers are left out (and counted)."""
    check_template(template, ("instruction", "input", "output"), "review")
    rlm = RecordedLM(lm, store, run.id)
    rater = judge_rater(rlm.name)
    answered = unreadable = 0

    def save(batch: list[tuple[ReviewItem, list[Answer]]]) -> None:
        nonlocal answered, unreadable
        saved = []
        for item, [(call_id, response)] in batch:
            for q, ans in enumerate(parse_review(response.text), start=1):
                if ans is None:
                    unreadable += 1
                else:
                    saved.append(ReviewAnswer(run.id, item.instance_id, rater, q, ans, call_id))
        save_review_answers(store, saved)
        answered += len(saved)

    def request(it: ReviewItem) -> list[LMRequest]:
        prompt = review_prompt(template, it.instruction, it.input, it.output)
        return [LMRequest(prompt, step="judge_review", temperature=0.0, max_tokens=max_tokens)]

    run_batches(rlm, items, request, save, Progress(total=len(items)), batch_size=BATCH,
                on_progress=(lambda p: on_progress(p.done, p.total)) if on_progress else None)
    return ReviewJudgeReport(answered, unreadable)


@dataclass(frozen=True)
class ReviewSummary:
    """Yes rates per rater and, for each judge, its agreement with people."""

    rates: dict[str, list[QuestionRate]]
    agreement: dict[str, list[Agreement]]


def review_summary(store: Store, run: RunInfo) -> ReviewSummary:
    answers = review_answers(store, run.id)
    by_rater: dict[str, list[ReviewAnswer]] = {}
    for a in answers:
        by_rater.setdefault(a.rater, []).append(a)
    human = by_rater.get(HUMAN, [])
    order = sorted(by_rater, key=lambda r: (r != HUMAN, r))  # people first, then judges by name
    return ReviewSummary(
        rates={r: yes_rates(by_rater[r]) for r in order},
        agreement={r: agreement(human, a) for r, a in by_rater.items() if r != HUMAN and human},
    )
