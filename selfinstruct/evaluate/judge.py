"""LLM-as-judge, as in "Instruction Tuning with GPT-4": a judge model scores responses 1-10.

A response can be judged alone, or beside another set's response to the same
request; pairs are judged in both orders so the judge's taste for the first
(or second) position cancels out. Every call goes through ``RecordedLM``:
cached by prompt, logged, never paid twice, so an interrupted job resumes by
running again. The prompts are templates (editable: ``--prompt-file``, the
page's text area) with ``{instruction}``, ``{input}`` and ``{response}`` or
``{response_1}``/``{response_2}`` placeholders; scores are stored per template,
so a new wording gives new scores beside the old.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from typing import Callable, Sequence

from ..lm.base import LM, LMError, LMRequest
from ..lm.cache import RecordedLM
from ..store import RunInfo, Store
from ..store.evals import Judgment, judges, judgments, save_judgments
from ..store.responses import ResponseRow, ResponseSet, response_set, responses

SINGLE_TEMPLATE = """\
You are grading how well an AI assistant handled a user's request.

[Request]
{instruction}

[Additional input]
{input}

[Assistant's response]
{response}
[End of response]

Grade the response for helpfulness, relevance, accuracy and level of detail on a scale from 1 (useless) \
to 10 (excellent). Put the grade alone on the first line, as "Score: N". Then give your reasons in one \
or two sentences.
"""

PAIR_TEMPLATE = """\
Two AI assistants answered the same user request. Grade each of them.

[Request]
{instruction}

[Additional input]
{input}

[Assistant 1]
{response_1}
[End of Assistant 1]

[Assistant 2]
{response_2}
[End of Assistant 2]

Grade each answer for helpfulness, relevance, accuracy and level of detail on a scale from 1 (useless) \
to 10 (excellent). Neither the order of the answers nor their length should sway you. Put the two \
grades alone on the first line, Assistant 1's first, as "Scores: N M". Then give your reasons in a few \
sentences.
"""

NO_INPUT = "(none)"
SINGLE_FIELDS = ("instruction", "input", "response")
PAIR_FIELDS = ("instruction", "input", "response_1", "response_2")
BATCH = 16

Progress = Callable[[int, int], None]


class TemplateError(ValueError):
    """A judge template lacks a placeholder it needs."""


def template_id(template: str) -> str:
    """Short stable hash naming a template in stored scores."""
    return hashlib.sha256(template.encode("utf-8")).hexdigest()[:12]


def check_template(template: str, fields: Sequence[str], what: str) -> None:
    missing = [f for f in fields if "{" + f + "}" not in template]
    if missing:
        raise TemplateError(
            f"the {what} judge prompt needs the placeholder(s) {', '.join('{' + f + '}' for f in missing)}"
        )


def render(template: str, **fields: str) -> str:
    """Fill ``{name}`` placeholders by plain replacement: other braces in the text stay as written."""
    out = template
    for key, value in fields.items():
        out = out.replace("{" + key + "}", value)
    return out


def single_prompt(template: str, instruction: str, input: str, response: str) -> str:
    return render(template, instruction=instruction.strip(), input=input.strip() or NO_INPUT, response=response.strip())


def pair_prompt(template: str, instruction: str, input: str, response_1: str, response_2: str) -> str:
    return render(template, instruction=instruction.strip(), input=input.strip() or NO_INPUT,
                  response_1=response_1.strip(), response_2=response_2.strip())


# ------------------------------------------------------------------ parsing

_NUMBER = r"(-?\d+(?:\.\d+)?)"  # signed, so "-3" reads as -3 (out of range), never as 3
_LABEL = r"\b(?:score|rating|grade)s?\b"
# What the prompts ask for: a label, a colon (or "="), then the grade(s), markdown bold forgiven.
_ASKED = re.compile(_LABEL + r"\s*\**\s*[:=]\s*\**\s*" + _NUMBER, re.I)
_ASKED_LINE = re.compile(r"^\W*" + _LABEL + r"\s*\**\s*[:=]", re.I)
# "8/10", "8 out of 10", or a denominator alone ("(out of 10)"): group 2 is never a grade.
_FRACTION = re.compile(
    r"(?:(?<![\w.])" + _NUMBER + r"\s*)?(?:/|\bout\s+of\b)\s*(\d+(?:\.\d+)?|ten)\b", re.I)
_LABELLED = re.compile(_LABEL + r"\s*(?:is|of)?\s*\**\s*" + _NUMBER, re.I)
_NUMBERS = re.compile(r"(?<![\w.])" + _NUMBER + r"(?!\w|\.\d)")
_ASSISTANT = re.compile(r"assistant\s*([12])\s*\**\s*[:=\-]?\s*\**\s*(?:score\s*[:=]?\s*)?" + _NUMBER, re.I)


def _out_of_ten(m: re.Match) -> bool:
    return m.group(2).lower() == "ten" or float(m.group(2)) == 10


def _drop_denominators(text: str) -> str:
    """"8/10" -> "8", "(out of 10)" -> "()", so a denominator is never counted as a grade;
    a grade on another scale ("4/5") goes whole, as its number is no 1-10 grade."""
    return _FRACTION.sub(lambda m: (m.group(1) or "") if _out_of_ten(m) else " ", text)


def _in_range(x: str, lo: float, hi: float) -> float | None:
    try:
        v = float(x)
    except ValueError:
        return None
    return v if lo <= v <= hi and math.isfinite(v) else None


def parse_score(text: str, lo: float = 1, hi: float = 10) -> float | None:
    """The judge's grade; None when no grade in range can be found.

    The form the prompt asks for wins: the first "Score: 8" (or "Rating: 7.5"),
    so a number in the reasons ("for grade 3 students") never replaces it. Only
    without one: a lone number on the first non-empty line, then "8/10", then a
    looser "score of 8". A grade out of range ("Score: -3", "11/10") is unreadable."""
    clean = _drop_denominators(text)
    lines = [ln for ln in clean.strip().splitlines() if ln.strip()]
    if not lines:
        return None
    m = _ASKED.search(clean)
    if m:
        return _in_range(m.group(1), lo, hi)
    nums = _NUMBERS.findall(lines[0])
    if len(nums) == 1:
        return _in_range(nums[0], lo, hi)
    tenths = next((f.group(1) for f in _FRACTION.finditer(text) if f.group(1) and _out_of_ten(f)), None)
    if tenths is not None:
        return _in_range(tenths, lo, hi)
    m = _LABELLED.search(clean)
    return _in_range(m.group(1), lo, hi) if m else None


def parse_pair(text: str, lo: float = 1, hi: float = 10) -> tuple[float, float] | None:
    """The two grades; None when two grades in range cannot be read.

    The form the prompt asks for wins: the first line that starts "Scores:" (else
    the first non-empty line) holding exactly two numbers, "Scores: 8 7", "8, 7" or
    "8/10 7/10" (denominators are never grades). Only without it: the first
    "Assistant 1: 8" and the first "Assistant 2: 7", so numbers in the reasons
    ("Assistant 1: 3 concrete examples") never replace it."""
    clean = _drop_denominators(text)
    lines = [ln for ln in clean.strip().splitlines() if ln.strip()]
    if not lines:
        return None
    line = next((ln for ln in lines if _ASKED_LINE.match(ln)), lines[0])
    first = re.sub(_LABEL + r"\s*[:=]?|\bassistant\s*[12]\b", " ", line, flags=re.I)
    nums = _NUMBERS.findall(first)
    if len(nums) == 2:
        a, b = _in_range(nums[0], lo, hi), _in_range(nums[1], lo, hi)
    else:
        by_assistant: dict[str, str] = {}
        for m in _ASSISTANT.finditer(clean):
            by_assistant.setdefault(m.group(1), m.group(2))
        if "1" not in by_assistant or "2" not in by_assistant:
            return None
        a, b = _in_range(by_assistant["1"], lo, hi), _in_range(by_assistant["2"], lo, hi)
    return None if a is None or b is None else (a, b)


# ------------------------------------------------------------------ running


@dataclass(frozen=True)
class JudgeReport:
    judged: int
    unreadable: int
    skipped: int


def _request(prompt: str, max_tokens: int) -> LMRequest:
    return LMRequest(prompt=prompt, step="judge", temperature=0.0, top_p=1.0, max_tokens=max_tokens)


def _run_batches(
    store: Store, rlm: RecordedLM, jobs: list[tuple[str, Callable[[str, int], Judgment]]], max_tokens: int,
    on_progress: Progress | None,
) -> tuple[int, int]:
    """Call the judge for each (prompt, make judgment) job; save each batch as it lands.
    A failed call stops the job after its batch's answers are saved."""
    done = unreadable = 0
    for start in range(0, len(jobs), BATCH):
        chunk = jobs[start : start + BATCH]
        results = rlm.call_many([_request(p, max_tokens) for p, _ in chunk])
        saved, error = [], None
        for (_, make), res in zip(chunk, results):
            if isinstance(res, LMError):
                error = error or res
                continue
            call_id, response = res
            j = make(response.text, call_id)
            saved.append(j)
            unreadable += j.score_a is None
        save_judgments(store, saved)
        done += len(saved)
        if on_progress:
            on_progress(done, len(jobs))
        if error is not None:
            raise error
    return done, unreadable


def _judged(store: Store, set_ids: Sequence[int], judge: str, template: str) -> set[tuple[int, int, int]]:
    return {(j.instance_id, j.set_a, j.set_b) for j in judgments(store, set_ids, judge=judge, template=template)
            if j.score_a is not None}


def judge_single(
    store: Store, run: RunInfo, lm: LM, set_names: Sequence[str], *, template: str = SINGLE_TEMPLATE,
    max_tokens: int = 128, on_progress: Progress | None = None,
) -> JudgeReport:
    """Score every response of each set alone, 1-10."""
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
    judged, unreadable = _run_batches(store, rlm, jobs, max_tokens, on_progress)
    return JudgeReport(judged, unreadable, total - len(jobs))


def judge_pairs(
    store: Store, run: RunInfo, lm: LM, set_a: str, set_b: str, *, template: str = PAIR_TEMPLATE,
    max_tokens: int = 256, on_progress: Progress | None = None,
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
    judged, unreadable = _run_batches(store, rlm, jobs, max_tokens, on_progress)
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
