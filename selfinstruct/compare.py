"""Response sets side by side: the comparisons of "Instruction Tuning with GPT-4".

The paper compares its GPT-4 answers with the original GPT-3 outputs of the same
52K instructions by output length ("frequencies of output sequence lengths")
and by the most frequent verb-noun pairs of the outputs. We add two checks a
re-answered set needs before use: how many answers are empty or refusals, and
how close each new answer is to the original one (ROUGE-L per instance).

Numbers come from ``compare_sets`` and ``response_set_stats`` (which only read
the store); the figure builders take those numbers and do no I/O, so the page,
the CLI and tests draw exactly what the numbers say. The pseudo set
``"original"`` stands for the outputs stored on the instances.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from typing import Any, Mapping, Sequence

import plotly.express as px
import plotly.graph_objects as go

from .analysis import Unit, histogram, length_unit, rouge_edges, text_length, verb_noun
from .charts import length_edges
from .evaluate.rouge import mean_or_none, rouge_scores, tokenizer_for
from .store import RunInfo, Store
from .store.responses import response_set, response_sets, responses

ORIGINAL = "original"
TOP_PAIRS = 25
# Refusals announce themselves early; looking further would flag answers that
# merely discuss what an AI model cannot do.
REFUSAL_WINDOW = 200
# Case-insensitive; matched within the first REFUSAL_WINDOW characters. An apology
# counts only with a decline in the same sentence: "I'm sorry, but you came in
# second" is an answer.
_DECLINE = (r"(?:i|we)\s*(?:cannot|can['’]?t|can not|won['’]t|will not|must decline|"
            r"(?:am|['’]m|are|['’]re) (?:unable|not able|not allowed|not permitted)|"
            r"(?:do not|don['’]t) have (?:access|the ability|information))")
REFUSAL_PATTERNS: tuple[str, ...] = (
    r"\bas an ai\b",
    r"\bas an? (?:artificial intelligence|language model|large language model)\b",
    r"\b(?:i(?:['’]m| am) (?:so |very |really )?(?:sorry|afraid)|i apologi[sz]e|sorry)\b"
    r"[^.!?\n]{0,40}?\b" + _DECLINE,
    r"\bi(?:['’]m| am) (?:unable|not able) to\b",
    r"\bi (?:cannot|can['’]t|can not|won['’]t|will not) (?:help|assist|provide|comply|fulfil|fulfill|do that|answer)",
    r"\bi do not have (?:access|the ability)\b",
    r"作为(?:一个|一名)?(?:人工智能|ai|语言模型|大型语言模型)",
    r"(?:抱歉|对不起)[^。！？\n]{0,20}?(?:无法|不能|没有办法|不可以)",
    r"我(?:无法|不能|没有办法)(?:帮助|提供|回答|完成|协助)",
)
_REFUSAL = re.compile("|".join(f"(?:{p})" for p in REFUSAL_PATTERNS), re.IGNORECASE)
ENGLISH_ONLY_NOTE = "verb-noun pairs come from spaCy's English parser: English outputs only"


# ------------------------------------------------------------------ per-text checks


def refusal_kind(text: str) -> str | None:
    """"empty" (nothing but whitespace), "refused" (a pattern of ``REFUSAL_PATTERNS``
    in the first ``REFUSAL_WINDOW`` characters) or None for a real answer."""
    stripped = text.strip()
    if not stripped:
        return "empty"
    return "refused" if _REFUSAL.search(stripped[:REFUSAL_WINDOW]) else None


def _median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def set_summary(texts: Sequence[str], references: Sequence[str], *, unit: Unit, tokenizer: str) -> dict[str, Any]:
    """Numbers of one set of answers against the original outputs of the same instances; ROUGE-L
    is ``evaluate rouge``'s (stemmed, instances without a reference left out, None when none has)."""
    kinds = Counter(refusal_kind(t) for t in texts)
    lengths = [text_length(t, unit) for t in texts]
    rouge = rouge_scores(zip(references, texts), tokenizer=tokenizer)
    return {
        "n": len(texts),
        "unit": unit,
        "mean_length": mean_or_none(lengths),
        "median_length": _median(lengths),
        "reference_mean_length": mean_or_none([text_length(r, unit) for r in references]),
        "empty": kinds["empty"],
        "refused": kinds["refused"],
        "empty_or_refused": kinds["empty"] + kinds["refused"],
        "rouge_vs_original_mean": mean_or_none(rouge),
        "rouge_vs_original_median": _median(rouge),
    }


def response_set_stats(store: Store, run: RunInfo) -> dict[str, dict[str, Any]]:
    """Summary per response set of a run, keyed by set name (``stats --json`` key "response_sets")."""
    out: dict[str, dict[str, Any]] = {}
    for s in response_sets(store, run.id):
        rows = responses(store, s.id)
        texts = [r.text for r in rows]
        refs = [r.reference for r in rows]
        summary = set_summary(texts, refs, unit=length_unit(texts + refs),
                              tokenizer=tokenizer_for(run.language, texts + refs))
        out[s.name] = {"model": s.model, "kind": s.kind, **summary}
    return out


# ------------------------------------------------------------------ two or more sets


def aligned_outputs(store: Store, run: RunInfo, names: Sequence[str]) -> tuple[list[int], dict[str, list[str]]]:
    """(instance ids, texts per set) over the instances every named set answers, in data set order.

    ``"original"`` is the instances' own outputs; asking only for it is an error
    (there is nothing to align it with)."""
    sets = [n for n in names if n != ORIGINAL]
    if not sets:
        raise ValueError("compare needs at least one response set besides 'original'")
    by_set: dict[str, dict[int, str]] = {}
    order: list[int] = []
    reference: dict[int, str] = {}
    for n in sets:
        rows = responses(store, response_set(store, run.id, n).id)
        by_set[n] = {r.instance_id: r.text for r in rows}
        for r in rows:
            if r.instance_id not in reference:
                reference[r.instance_id] = r.reference
                order.append(r.instance_id)
    if ORIGINAL in names:
        by_set[ORIGINAL] = reference
    common = [i for i in order if all(i in by_set[n] for n in names)]
    return common, {n: [by_set[n][i] for i in common] for n in names}


def side_by_side(store: Store, run: RunInfo, names: Sequence[str]) -> list[dict[str, Any]]:
    """One row per instance every named set answered: instruction, input and each set's text,
    in data set order (the Compare tab's table; ``evaluate output-quality --out``)."""
    ids, texts = aligned_outputs(store, run, names)
    instances = {i.id: i for i in store.instances(run_id=run.id)}
    instructions = {r.id: r.text for r in store.instructions(run.id)}
    return [{"instance_id": i, "instruction": instructions.get(instances[i].instruction_id, ""),
             "input": instances[i].input, **{n: texts[n][k] for n in texts}} for k, i in enumerate(ids)]


def compare_sets(
    store: Store, run: RunInfo, names: Sequence[str], *, with_verb_noun: bool = True, top: int = TOP_PAIRS,
) -> dict[str, Any]:
    """Everything the comparison figures show, for the instances all ``names`` answered.

    The first name is the base (usually ``"original"``): every other set's
    answers are scored against it by ROUGE-L. Verb-noun pairs are skipped (with
    a note) unless the outputs are English.
    """
    names = list(dict.fromkeys(names))
    ids, texts = aligned_outputs(store, run, names)
    every = [t for ts in texts.values() for t in ts]
    unit, tokenizer = length_unit(every), tokenizer_for(run.language, every)
    base = names[0]
    result: dict[str, Any] = {
        "run": run.name, "names": names, "n": len(ids), "unit": unit, "tokenizer": tokenizer, "base": base,
        "lengths": {n: [text_length(t, unit) for t in ts] for n, ts in texts.items()},
        "summary": {n: set_summary(ts, texts[base], unit=unit, tokenizer=tokenizer) for n, ts in texts.items()},
        "rouge_vs_base": {n: rouge_scores(zip(texts[base], ts), tokenizer=tokenizer)
                          for n, ts in texts.items() if n != base},
        "verb_noun": None,
        "verb_noun_note": ENGLISH_ONLY_NOTE,
    }
    if with_verb_noun and unit == "words" and run.language.lower().startswith("en") and ids:
        result["verb_noun"] = {n: top_pairs(verb_noun(ts, cache=store), top) for n, ts in texts.items()}
    elif with_verb_noun:
        result["verb_noun_note"] = f"{ENGLISH_ONLY_NOTE}; skipped for this {run.language} data set"
    return result


def top_pairs(pairs: Sequence[tuple[str | None, str | None]], top: int = TOP_PAIRS) -> dict[str, Any]:
    """The ``top`` most frequent (verb, noun) pairs, ties alphabetically, and how many texts had one."""
    counts = Counter(f"{v} {n}" for v, n in pairs if v and n)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return {"n_total": len(pairs), "n_pairs": sum(counts.values()), "top": [{"pair": p, "count": c} for p, c in ranked],
            "counts": dict(counts)}


# ------------------------------------------------------------------ figures (pure)


def _color(i: int) -> str:
    return px.colors.qualitative.Plotly[i % len(px.colors.qualitative.Plotly)]


def length_figure(lengths: Mapping[str, Sequence[int]], unit: Unit) -> go.Figure:
    """Frequencies of output lengths per set on shared bins (the paper's length comparison)."""
    edges = length_edges([v for vs in lengths.values() for v in vs])
    fig = go.Figure()
    for i, (name, values) in enumerate(lengths.items()):
        counts = histogram(values, edges)
        fig.add_trace(go.Bar(
            x=[(lo + hi) / 2 for lo, hi in zip(edges[:-1], edges[1:])], y=counts, name=name,
            customdata=[f"[{lo:g}, {hi:g})" for lo, hi in zip(edges[:-1], edges[1:])],
            hovertemplate="%{customdata}: %{y}<extra>" + name + "</extra>", marker_color=_color(i)))
    fig.update_layout(title=f"Frequencies of output lengths ({unit})", barmode="group", bargap=0.1,
                      xaxis_title=f"output length ({unit})", yaxis_title="# outputs")
    return fig


def rouge_figure(scores: Mapping[str, Sequence[float]], base: str) -> go.Figure:
    """Per-instance ROUGE-L of each set's answer against ``base``'s answer to the same instance."""
    edges = rouge_edges()
    fig = go.Figure()
    for i, (name, values) in enumerate(scores.items()):
        fig.add_trace(go.Bar(
            x=[(lo + hi) / 2 for lo, hi in zip(edges[:-1], edges[1:])], y=histogram(values, edges), name=name,
            hovertemplate="ROUGE-L %{x:.3f}: %{y}<extra>" + name + "</extra>", marker_color=_color(i + 1)))
    fig.update_layout(title=f"ROUGE-L of each answer against the {base} answer", barmode="group", bargap=0.1,
                      xaxis_title=f"ROUGE-L vs {base}", yaxis_title="# instances")
    fig.update_xaxes(range=[0, 1])
    return fig


def refusal_figure(summary: Mapping[str, Mapping[str, Any]]) -> go.Figure:
    """Stacked answered / empty / refused counts per set."""
    names = list(summary)
    fig = go.Figure()
    for i, (key, label) in enumerate((("answered", "answered"), ("empty", "empty"), ("refused", "refused"))):
        if key == "answered":
            ys = [s["n"] - s["empty_or_refused"] for s in summary.values()]
        else:
            ys = [s[key] for s in summary.values()]
        fig.add_trace(go.Bar(x=names, y=ys, name=label, marker_color=_color(i)))
    fig.update_layout(title="Empty and refused answers", barmode="stack", yaxis_title="# outputs")
    return fig


def verb_noun_figure(pairs: Mapping[str, Mapping[str, Any]], top: int = TOP_PAIRS) -> go.Figure:
    """Frequencies of the ``top`` most frequent verb-noun pairs over all sets, one bar per set.

    The title says that verb-noun parsing covers English only."""
    total: Counter[str] = Counter()
    for p in pairs.values():
        total.update(p["counts"])
    order = [k for k, _ in sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))[:top]]
    fig = go.Figure()
    for i, (name, p) in enumerate(pairs.items()):
        fig.add_trace(go.Bar(y=order, x=[p["counts"].get(k, 0) for k in order], name=name,
                             orientation="h", marker_color=_color(i)))
    fig.update_layout(title=f"Top {len(order)} verb-noun pairs of the outputs<br><sup>{ENGLISH_ONLY_NOTE}</sup>",
                      barmode="group", xaxis_title="# outputs", height=max(400, 22 * len(order) * max(1, len(pairs))))
    fig.update_yaxes(autorange="reversed")
    return fig


def comparison_figures(cmp: Mapping[str, Any]) -> dict[str, go.Figure]:
    """Every figure for one ``compare_sets`` result, keyed by a file-friendly name."""
    figs = {
        "output_lengths": length_figure(cmp["lengths"], cmp["unit"]),
        "empty_or_refused": refusal_figure(cmp["summary"]),
    }
    if cmp["rouge_vs_base"]:
        figs["rouge_vs_" + cmp["base"]] = rouge_figure(cmp["rouge_vs_base"], cmp["base"])
    if cmp["verb_noun"] and any(p["counts"] for p in cmp["verb_noun"].values()):  # no empty "Top 0" chart
        figs["verb_noun_pairs"] = verb_noun_figure(cmp["verb_noun"])
    return figs
