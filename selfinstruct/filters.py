"""Step 4 filters as pure functions: each returns keep, or drop with a named reason.

The novelty (ROUGE-L) check lives in ``novelty`` because it needs the pool;
everything here looks at one instruction or one task's instances alone, so the
dashboard can re-run any subset of filters on stored data without an LM.
"""

from __future__ import annotations

import re
import string
from functools import lru_cache
from typing import Container, Sequence

from .config import FilterConfig
from .records import Instance, Verdict

KEEP = Verdict(True)

# Reason codes, stable: they are stored and shown.
TOO_SHORT = "too_short"
TOO_LONG = "too_long"
PREFIX = "forbidden_prefix"
PUNCT_START = "punctuation_start"
NON_ASCII_START = "non_ascii_start"
BLACKLIST = "blacklist"
DUPLICATE = "duplicate"
ROUGE_SIMILAR = "rouge_similar"
OVER_TARGET = "over_target"

EMPTY_OUTPUT = "empty_output"
OUTPUT_EQUALS_INPUT = "output_equals_input"
COLON_ENDING = "colon_ending"
CONFLICTING = "conflicting_outputs"
DUPLICATE_INSTANCE = "duplicate_instance"
OVER_LIMIT = "over_limit"

INSTRUCTION_REASONS = (TOO_SHORT, TOO_LONG, PREFIX, PUNCT_START, NON_ASCII_START, BLACKLIST, DUPLICATE)


@lru_cache(maxsize=64)
def _blacklist_pattern(words: tuple[str, ...]) -> re.Pattern[str] | None:
    if not words:
        return None
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"\b({alternatives})\b", re.IGNORECASE)


def instruction_verdict(text: str, cfg: FilterConfig, seen: Container[str] = ()) -> Verdict:
    """Every instruction filter but novelty, in a fixed order; the first that fires wins.

    ``seen`` holds the instructions already in the pool, for the exact-duplicate check.
    """
    words = len(text.split())
    if words < cfg.min_words:
        return Verdict.drop(TOO_SHORT, f"{words} words, fewer than {cfg.min_words}")
    if words > cfg.max_words:
        return Verdict.drop(TOO_LONG, f"{words} words, more than {cfg.max_words}")
    stripped = text.strip()
    for prefix in cfg.forbidden_prefixes:
        if stripped.lower().startswith(prefix.lower()):
            return Verdict.drop(PREFIX, f"starts with {prefix!r}")
    if cfg.drop_punctuation_start and stripped[:1] in string.punctuation:
        return Verdict.drop(PUNCT_START, f"starts with {stripped[:1]!r}")
    if cfg.drop_non_ascii_start and stripped and not stripped[0].isascii():
        return Verdict.drop(NON_ASCII_START, f"starts with {stripped[0]!r}")
    pattern = _blacklist_pattern(tuple(cfg.blacklist))
    if pattern is not None and (m := pattern.search(text)):
        return Verdict.drop(BLACKLIST, f"contains {m.group(1).lower()!r}")
    if cfg.drop_duplicates and stripped in seen:
        return Verdict.drop(DUPLICATE, "same text as an instruction already in the pool")
    return KEEP


def instance_verdicts(instances: Sequence[Instance], cfg: FilterConfig) -> list[Verdict]:
    """Verdicts for one task's instances, in order; at most ``cfg.max_instances`` are kept."""
    outputs_by_input: dict[str, set[str]] = {}
    for inst in instances:
        outputs_by_input.setdefault(inst.input.strip(), set()).add(inst.output.strip())
    verdicts: list[Verdict] = []
    seen: set[tuple[str, str]] = set()
    kept = 0
    for inst in instances:
        i, o = inst.input.strip(), inst.output.strip()
        if cfg.drop_empty_output and not o:
            v = Verdict.drop(EMPTY_OUTPUT, "the output is empty")
        elif cfg.drop_output_equals_input and o == i:
            v = Verdict.drop(OUTPUT_EQUALS_INPUT, "the output repeats the input")
        elif cfg.drop_colon_ending and (i.endswith(":") or o.endswith(":")):
            v = Verdict.drop(COLON_ENDING, f"the {'input' if i.endswith(':') else 'output'} ends with ':'")
        elif cfg.drop_conflicting_outputs and len(outputs_by_input[i]) > 1:
            v = Verdict.drop(CONFLICTING, f"the same input has {len(outputs_by_input[i])} different outputs")
        elif (i, o) in seen:
            v = Verdict.drop(DUPLICATE_INSTANCE, "the same input and output appear earlier")
        elif kept >= cfg.max_instances:
            v = Verdict.drop(OVER_LIMIT, f"only {cfg.max_instances} instances are kept per task")
        else:
            v = KEEP
        if v.keep:
            kept += 1
        seen.add((i, o))
        verdicts.append(v)
    return verdicts
