"""The quality review's four questions, as a judge model is asked them and as its reply is read."""

from __future__ import annotations

import re

from .judge import render

QUESTIONS = (
    "Does the instruction describe a valid task?",
    "Is the input appropriate for the instruction?",
    "Is the output a correct and acceptable response to the instruction and input?",
    "Do all fields (instruction, input, output) together make a valid example?",
)

REVIEW_TEMPLATE = """\
Below is a training example for an instruction-following model: an instruction, an optional input and \
an output. Check its quality.

Instruction: {instruction}
Input: {input}
Output: {output}

Answer each question with Yes or No:
1. Does the instruction describe a valid task?
2. Is the input appropriate for the instruction? (An empty input is appropriate when the instruction \
needs none.)
3. Is the output a correct and acceptable response to the instruction and input?
4. Do all fields (instruction, input, output) together make a valid example?

Reply with four lines, one per question, like "1. Yes".
"""


_ANSWER = re.compile(r"^\W*(?:q(?:uestion)?\s*)?([1-4])\s*[.):\-]?\s*\**\s*(yes|no)\b", re.I)
_BARE = re.compile(r"\b(yes|no)\b", re.I)


def parse_review(text: str) -> list[bool | None]:
    """Four yes/no answers from a judge's reply ("1. Yes" lines, or four bare Yes/No in order);
    None for a question whose answer cannot be read."""
    found: dict[int, bool] = {}
    for line in text.splitlines():
        m = _ANSWER.match(line.strip())
        if m and int(m.group(1)) not in found:
            found[int(m.group(1))] = m.group(2).lower() == "yes"
    if not found:
        bare = _BARE.findall(text)
        if len(bare) == len(QUESTIONS):
            return [b.lower() == "yes" for b in bare]
    return [found.get(q) for q in range(1, len(QUESTIONS) + 1)]


def review_prompt(template: str, instruction: str, input: str, output: str) -> str:
    return render(template, instruction=instruction.strip(), input=input.strip() or "(empty)", output=output.strip())
