"""The judge's prompts (editable templates) and the 1-10 grades read back from its replies."""

from __future__ import annotations

import hashlib
import math
import re
from typing import Sequence

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
