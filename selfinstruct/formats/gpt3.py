"""The GPT-3 fine-tuning encoding: prompt/completion pairs, as the Self-Instruct paper trained on.

Each instance is written with one of several templates drawn at random, some
with field labels and some with the labels stripped, so a model tuned on the
data does not learn to depend on one layout. The templates are our own
wording. Before encoding, each task keeps at most ``max_instances`` valid
instances (the instance filters drop empty, echoed, colon-ended, conflicting
and repeated ones), identical (instruction, input, output) triples are kept
once across the whole set, and the pairs are shuffled with a fixed seed: the
same tasks and seed always give the same file.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from typing import Sequence

from ..config import FilterConfig
from ..filters import instance_verdicts
from ..records import Task

END = "<|endoftext|>"

# (prompt, completion) templates for instances with an input.
WITH_INPUT: tuple[tuple[str, str], ...] = (
    ("Instruction: {instruction}\nInput: {input}\nResponse:", " {output}"),
    ("{instruction}\n\nGiven: {input}\n\nAnswer:", " {output}"),
    ("## Task\n{instruction}\n\n## Given\n{input}\n\n## Answer\n", "{output}"),
    ("Request: {instruction}\nContext: {input}\nReply:", " {output}"),
    # field labels stripped: only layout separates the parts
    ("{instruction}\n\n{input}\n=>", " {output}"),
    ('{instruction}\n"""\n{input}\n"""\n', "{output}"),
)

# (prompt, completion) templates for instances whose input is empty.
WITHOUT_INPUT: tuple[tuple[str, str], ...] = (
    ("Instruction: {instruction}\nResponse:", " {output}"),
    ("{instruction}\n\nAnswer:", " {output}"),
    ("## Task\n{instruction}\n\n## Answer\n", "{output}"),
    ("Request: {instruction}\nReply:", " {output}"),
    ("{instruction} =>", " {output}"),
    ("{instruction}\n---\n", "{output}"),
)


@dataclass
class Encoding:
    """The pairs, plus what was left out and why (reason code -> count)."""

    pairs: list[dict[str, str]]
    dropped: Counter[str] = field(default_factory=Counter)
    tasks_without_instances: int = 0


def encode(
    tasks: Sequence[Task], *, seed: int = 42, max_instances: int = 5, end: str = END,
) -> Encoding:
    """Prompt/completion pairs for ``tasks``; deterministic for a fixed ``seed``."""
    rng = random.Random(seed)
    cfg = FilterConfig(max_instances=max_instances)
    out = Encoding(pairs=[])
    seen: set[tuple[str, str, str]] = set()
    for task in tasks:
        instruction = task.instruction.strip()
        used = 0
        for inst, verdict in zip(task.instances, instance_verdicts(task.instances, cfg)):
            if not verdict.keep:
                out.dropped[verdict.reason or "invalid"] += 1
                continue
            key = (instruction, inst.input.strip(), inst.output.strip())
            if key in seen:
                out.dropped["duplicate_across_tasks"] += 1
                continue
            seen.add(key)
            used += 1
            templates = WITH_INPUT if key[1] else WITHOUT_INPUT
            prompt, completion = templates[rng.randrange(len(templates))]
            out.pairs.append({
                "prompt": prompt.format(instruction=key[0], input=key[1]),
                "completion": completion.format(output=key[2]) + end,
            })
        if not used:
            out.tasks_without_instances += 1
    rng.shuffle(out.pairs)
    return out


def decode(prompt: str, completion: str, end: str = END) -> tuple[str, str, str]:
    """(instruction, input, output) of a pair written by ``encode``.

    A prompt no template matches is taken whole as the instruction with an
    empty input, so pairs from elsewhere still come in.
    """
    for pattern, lead in _patterns():
        m = pattern.fullmatch(prompt)
        if m:
            output = completion[len(lead):] if completion.startswith(lead) else completion
            break
    else:
        m, output = None, completion
    if end and output.endswith(end):
        output = output[: -len(end)]
    if m is None:
        return prompt.strip(), "", output.strip()
    return m.group("instruction").strip(), (m.groupdict().get("input") or "").strip(), output.strip()


@cache
def _patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    """Templates as regexes, labelled ones first; the instruction takes the shortest match."""
    out = []
    for prompt, completion in (*WITH_INPUT[:4], *WITHOUT_INPUT[:4], *WITH_INPUT[4:], *WITHOUT_INPUT[4:]):
        parts = re.split(r"(\{instruction\}|\{input\})", prompt)
        regex = "".join(
            "(?P<instruction>.+?)" if p == "{instruction}" else "(?P<input>.+)" if p == "{input}" else re.escape(p)
            for p in parts
        )
        out.append((re.compile(regex, re.DOTALL), completion.split("{output}")[0]))
    return tuple(out)
