"""HHH comparison, as in "Instruction Tuning with GPT-4": two response sets' answers to the same
requests, shown blind as answer A and answer B, judged better / tie / worse on helpful, honest
and harmless.

Which set is A is a hash of the seed, the pair and the instance, as is the order of the items,
so a person who comes back (another tab, the terminal) meets the same item in the same
disguise. Counts are read from set 1's side: a win is set 1's answer judged better.

A judge model answers the same three questions about every item twice, each set shown as A
once, so its taste for a position cancels: an order-consistent verdict stands, one that
flips with the order is a tie. Its verdicts are stored as rater ``judge:<model>`` beside
people's and compared with them (share agreeing, Cohen's kappa) as the quality review does.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable, Sequence

from ..lm.base import LM, LMRequest
from ..lm.batches import Answer, Progress, run_batches
from ..lm.cache import RecordedLM
from ..prompts.hhh import CRITERIA, HHH_FIELDS, HHH_TEMPLATE, hhh_prompt, parse_hhh
from ..prompts.judge import check_template
from ..store import RunInfo, Store
from ..store.hhh import OUTCOMES, HHHJudgement, hhh_judgements, save_hhh
from ..store.responses import ResponseSet, response_set, responses
from .judge import BATCH
from .review import HUMAN, Agreement, _rank, judge_rater


@dataclass(frozen=True)
class HHHPair:
    """The two sets compared; counts are read from ``first``'s side."""

    first: ResponseSet
    second: ResponseSet


@dataclass(frozen=True)
class HHHItem:
    instance_id: int
    instruction: str
    input: str
    answer_a: str
    answer_b: str
    a_set: int  # the set whose answer is shown as A


def hhh_pair(store: Store, run: RunInfo, set_1: str, set_2: str) -> HHHPair:
    """The named sets of ``run``; two different ones, or a clear refusal."""
    if set_1 == set_2:
        raise ValueError(f"the HHH comparison needs two different response sets, got {set_1!r} twice")
    return HHHPair(response_set(store, run.id, set_1), response_set(store, run.id, set_2))


def hhh_items(store: Store, pair: HHHPair, seed: int = 0) -> list[HHHItem]:
    """Every instance both sets answered, in a seeded order, each with a seeded side: the same
    whichever set is called first."""
    lo, hi = sorted((pair.first.id, pair.second.id))
    by_hi = {r.instance_id: r for r in responses(store, hi)}
    items = []
    for r in responses(store, lo):
        other = by_hi.get(r.instance_id)
        if other is None:
            continue
        lo_first = _rank(seed, "side", lo, hi, r.instance_id)[0] % 2 == 0
        a, b = (r, other) if lo_first else (other, r)
        items.append(HHHItem(r.instance_id, r.instruction, r.input, a.text, b.text, a.set_id))
    return sorted(items, key=lambda it: _rank(seed, "order", lo, hi, it.instance_id))


def next_unjudged(items: Sequence[HHHItem], done: Sequence[HHHJudgement]) -> int | None:
    """The index of the first item missing a verdict on any criterion; None when all are judged."""
    have = {(j.instance_id, j.criterion) for j in done}
    return next((i for i, it in enumerate(items) if any((it.instance_id, c) not in have for c in CRITERIA)), None)


def verdicts_of(pair: HHHPair, item: HHHItem, rater: str, verdicts: dict[str, str],
                call_id: int | None = None) -> list[HHHJudgement]:
    """``verdicts`` ({criterion: better/tie/worse}, A against B as shown) as rows to save."""
    return [HHHJudgement(pair.first.run_id, pair.first.id, pair.second.id, item.instance_id, rater, c, v,
                         item.a_set, call_id) for c, v in verdicts.items()]


@dataclass(frozen=True)
class Outcomes:
    """One criterion's verdicts from set 1's side."""

    win: int = 0
    tie: int = 0
    lose: int = 0

    @property
    def n(self) -> int:
        return self.win + self.tie + self.lose


def outcome_counts(pair: HHHPair, judgements: Sequence[HHHJudgement]) -> dict[str, Outcomes]:
    """Per criterion, set 1's wins, ties and losses."""
    got = {c: Counter[str]() for c in CRITERIA}
    for j in judgements:
        got[j.criterion][j.outcome(pair.first.id)] += 1
    return {c: Outcomes(*(got[c][o] for o in OUTCOMES)) for c in CRITERIA}


def hhh_agreement(pair: HHHPair, first: Sequence[HHHJudgement], second: Sequence[HHHJudgement]) -> list[Agreement]:
    """Per criterion, over items both raters judged: how often their outcomes (win/tie/lose for
    set 1, whichever side each saw it on) agree, and Cohen's kappa."""
    theirs = {(j.instance_id, j.criterion): j.outcome(pair.first.id) for j in second}
    out = []
    for c in CRITERIA:
        pairs = [(j.outcome(pair.first.id), theirs[(j.instance_id, c)]) for j in first
                 if j.criterion == c and (j.instance_id, c) in theirs]
        out.append(Agreement.of(c, pairs))
    return out


@dataclass(frozen=True)
class HHHSummary:
    """Per rater (people first): set 1's outcomes per criterion and how many items it judged;
    for each judge, its agreement with people."""

    counts: dict[str, dict[str, Outcomes]]
    judged: dict[str, int]
    agreement: dict[str, list[Agreement]]


def hhh_summary(store: Store, pair: HHHPair) -> HHHSummary:
    by_rater: dict[str, list[HHHJudgement]] = {}
    for j in hhh_judgements(store, pair.first.id, pair.second.id):
        by_rater.setdefault(j.rater, []).append(j)
    order = sorted(by_rater, key=lambda r: (r != HUMAN, r))
    human = by_rater.get(HUMAN, [])
    return HHHSummary(
        counts={r: outcome_counts(pair, by_rater[r]) for r in order},
        judged={r: len({j.instance_id for j in by_rater[r]}) for r in order},
        agreement={r: hhh_agreement(pair, human, by_rater[r]) for r in order if r != HUMAN and human},
    )


@dataclass(frozen=True)
class HHHJudgeReport:
    judged: int  # items asked this time (both orders)
    unreadable: int  # criteria left out: a verdict unreadable in either order
    skipped: int  # items this judge had judged before


def judge_hhh(
    store: Store, run: RunInfo, lm: LM, pair: HHHPair, items: Sequence[HHHItem], *, template: str = HHH_TEMPLATE,
    max_tokens: int = 64, on_progress: Callable[[int, int], None] | None = None,
) -> HHHJudgeReport:
    """Have ``lm`` answer the three questions for each item in both orders; the verdicts are
    stored, set 1's answer as A, as rater ``judge:<model>`` with the call of that order."""
    check_template(template, HHH_FIELDS, "HHH")
    rlm = RecordedLM(lm, store, run.id)
    rater = judge_rater(rlm.name)
    done = {(j.instance_id, j.criterion) for j in hhh_judgements(store, pair.first.id, pair.second.id, rater)}
    todo = [it for it in items if any((it.instance_id, c) not in done for c in CRITERIA)]
    unreadable = 0

    def as_first(it: HHHItem) -> tuple[str, str]:
        """The item's answers with set 1's first."""
        return (it.answer_a, it.answer_b) if it.a_set == pair.first.id else (it.answer_b, it.answer_a)

    def request(it: HHHItem) -> list[LMRequest]:
        one, two = as_first(it)
        return [LMRequest(hhh_prompt(template, it.instruction, it.input, a, b), step="judge_hhh",
                          temperature=0.0, max_tokens=max_tokens) for a, b in ((one, two), (two, one))]

    def save(batch: list[tuple[HHHItem, list[Answer]]]) -> None:
        nonlocal unreadable
        rows = []
        for it, [(call_id, straight), (_, swapped)] in batch:
            first, second = parse_hhh(straight.text), parse_hhh(swapped.text)
            verdicts = {}
            for c in CRITERIA:
                if first[c] is None or second[c] is None:
                    unreadable += 1
                else:  # the swapped order read from set 1's side; a verdict that flips with the order is a tie
                    flipped = {"better": "worse", "worse": "better", "tie": "tie"}[second[c]]
                    verdicts[c] = first[c] if first[c] == flipped else "tie"
            shown = HHHItem(it.instance_id, it.instruction, it.input, *as_first(it), pair.first.id)
            rows += verdicts_of(pair, shown, rater, verdicts, call_id)
        save_hhh(store, rows)

    run_batches(rlm, todo, request, save, Progress(total=len(todo)), batch_size=BATCH,
                on_progress=(lambda p: on_progress(p.done, p.total)) if on_progress else None)
    return HHHJudgeReport(len(todo), unreadable, len(items) - len(todo))
