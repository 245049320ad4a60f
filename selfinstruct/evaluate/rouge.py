"""ROUGE-L of model predictions against reference outputs, as in the paper's SuperNI table.

A prediction file holds JSON objects (one per line, or a JSON array) with
``instruction``, ``input``, ``response`` (the model's answer) and ``target``
(the reference), like the Self-Instruct release's ``predictions/*.jsonl``.

One definition of "ROUGE-L against the reference" serves this module, ``stats``
and the comparisons: rouge-score's ROUGE-L F-measure (``novelty.rouge_l``,
bit-identical), Porter stemming on as in the paper's evaluation, averaged over
the records that have a reference. The tokenizer is rouge-score's for English
and the Unicode one for other languages, whose words rouge-score drops. The same
files can be imported into a workspace as response sets, so judging and rating
work on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from .. import jsonlines
from ..analysis import length_unit
from ..novelty import rouge_l, tokenize
from ..responses import clean_answer
from ..store import RunInfo, Store
from ..store.responses import (
    ResponseSet,
    create_response_set,
    find_response_set,
    replace_responses,
    response_set,
    responses,
    save_responses,
)
from .evalsets import REFERENCE_SET

PREDICTION_FIELDS = ("instruction", "input", "response", "target")


class PredictionFileError(ValueError):
    """A prediction file cannot be used; the message starts with ``path:line:``."""


@dataclass(frozen=True)
class Prediction:
    instruction: str
    input: str
    response: str
    target: str


@dataclass(frozen=True)
class RougeScore:
    """Mean ROUGE-L F of one model (a prediction file or a response set) over the ``count``
    records that have a reference; ``mean`` is None when none has. ``untokenized`` counts
    records with a text that gave no token under ``tokenizer`` (they score 0 whatever they say)."""

    name: str
    mean: float | None
    count: int
    tokenizer: str = "rouge"
    untokenized: int = 0

    @property
    def mostly_untokenized(self) -> bool:
        """Most records scored 0 because the tokenizer found no word: the wrong tokenizer."""
        return 2 * self.untokenized > self.count


def tokenizer_for(language: str, texts: Iterable[str]) -> str:
    """rouge-score's tokenizer (ASCII words) for English word text, else the Unicode one."""
    if language.lower().startswith("en") and length_unit(texts) == "words":
        return "rouge"
    return "unicode"


def rouge_scores(pairs: Iterable[tuple[str, str]], *, tokenizer: str = "rouge", stem: bool = True) -> list[float]:
    """ROUGE-L F of each (reference, prediction) pair that has a reference: records without
    one are left out, not scored 0."""
    return [rouge_l(ref, pred, stem=stem, tokenizer=tokenizer) for ref, pred in pairs if ref.strip()]


def mean_or_none(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _score(name: str, pairs: Sequence[tuple[str, str]], *, tokenizer: str, stem: bool) -> RougeScore:
    scored = [(ref, pred) for ref, pred in pairs if ref.strip()]
    lost = sum(any(t.strip() and not tokenize(t, tokenizer=tokenizer) for t in pair) for pair in scored)
    return RougeScore(name, mean_or_none(rouge_scores(scored, tokenizer=tokenizer, stem=stem)), len(scored),
                      tokenizer, lost)


def model_name(path: str | Path) -> str:
    """``davinci_predictions.jsonl`` -> ``davinci``: the file's stem without the usual suffix."""
    stem = Path(path).name.removesuffix(".jsonl").removesuffix(".json")
    return stem.removesuffix("_predictions") or stem


def load_predictions(path: str | Path) -> list[Prediction]:
    """Every record of a prediction file; the first bad record stops the load, named by file:line."""
    return parse_predictions(jsonlines.read_bytes(path, PredictionFileError), str(path))


def parse_predictions(raw: bytes, where: str = "<predictions>") -> list[Prediction]:
    """The records of a prediction file's bytes (JSONL or a JSON array); ``where`` names it in messages."""
    out: list[Prediction] = []
    for lineno, obj in jsonlines.objects(raw, where, PredictionFileError, allow_array=True):
        missing = [k for k in PREDICTION_FIELDS if not isinstance(obj.get(k, "" if k == "input" else None), str)]
        if missing:
            raise PredictionFileError(
                f"{where}:{lineno}: needs string field(s) {', '.join(map(repr, missing))} "
                f"(a prediction record has {', '.join(PREDICTION_FIELDS)})"
            )
        out.append(Prediction(obj["instruction"], obj.get("input", ""), obj["response"], obj["target"]))
    if not out:
        raise PredictionFileError(f"{where}: holds no records")
    return out


def score_file(path: str | Path, *, stem: bool = True, tokenizer: str = "rouge") -> RougeScore:
    preds = load_predictions(path)
    return _score(model_name(path), [(p.target, p.response) for p in preds], tokenizer=tokenizer, stem=stem)


def score_sets(
    store: Store, run: RunInfo, names: Sequence[str], *, stem: bool = True, tokenizer: str | None = None,
) -> list[RougeScore]:
    """Each response set of ``run`` against the instances' outputs (those with a reference only);
    with no ``tokenizer``, the one ``tokenizer_for`` picks for the run's language and texts."""
    out = []
    for name in names:
        rows = responses(store, response_set(store, run.id, name).id)
        tok = tokenizer or tokenizer_for(run.language, [r.text for r in rows] + [r.reference for r in rows])
        out.append(_score(name, [(r.reference, r.text) for r in rows], tokenizer=tok, stem=stem))
    return out


def match_key(instruction: str, input: str) -> tuple[str, str]:
    """What ties a prediction to an instance: instruction and input, outer whitespace ignored."""
    return instruction.strip(), input.strip()


@dataclass(frozen=True)
class ImportReport:
    set: ResponseSet
    matched: int
    unmatched: int
    replaced: bool = False


def import_predictions(
    store: Store, run: RunInfo, path: str | Path, name: str | None = None, *, replace: bool = False,
) -> ImportReport:
    """Store a prediction file's responses as a response set (kind "prediction") of ``run``."""
    return import_prediction_records(store, run, load_predictions(path), name or model_name(path), str(path),
                                     replace=replace)


def import_prediction_records(
    store: Store, run: RunInfo, preds: Sequence[Prediction], name: str, source: str, *, replace: bool = False,
) -> ImportReport:
    """Store predictions as response set ``name``; see ``import_prediction_sets``."""
    return import_prediction_sets(store, run, [(preds, name, source)], replace=replace)[0]


def import_prediction_sets(
    store: Store, run: RunInfo, files: Sequence[tuple[Sequence[Prediction], str, str]], *, replace: bool = False,
) -> list[ImportReport]:
    """Store each (predictions, set name, source) as a response set, matching records to the
    run's instances by instruction and input; records that match none are counted, not stored.
    Responses are stripped as ``answer`` strips its own.

    All or nothing: every file is named and matched before any is stored, so a refusal leaves
    the run as it was and the same command can be run again. An existing set is never extended
    or overwritten silently: that would pair new texts with old judge scores. ``replace`` swaps
    an earlier import's content (dropping its scores and ratings); the evaluation set's
    ``reference`` is never replaced."""
    files = [(preds, name.strip(), source) for preds, name, source in files]
    by_name: dict[str, list[str]] = {}
    for _, name, source in files:
        if name == REFERENCE_SET:
            raise PredictionFileError(
                f"{source}: the name {REFERENCE_SET!r} is kept for the evaluation set's reference outputs; "
                "import under another name (--name NEW)")
        by_name.setdefault(name, []).append(source)
    for name, sources in by_name.items():
        if len(sources) > 1:
            raise PredictionFileError(
                f"{', '.join(sources)} would all become response set {name!r}; nothing was imported: "
                "import them one at a time, each with --name NEW")
    existing = {name: find_response_set(store, run.id, name) for name in by_name}
    taken = [(source, name) for _, name, source in files if existing[name] is not None]
    if taken and not replace:
        raise PredictionFileError(_taken(run, taken, several=len(files) > 1))
    for source, name in taken:
        if existing[name].kind != "prediction":
            raise PredictionFileError(
                f"{source}: response set {name!r} of run {run.name!r} holds {existing[name].kind} responses, not "
                "imported predictions, and is not replaced; import under another name (--name NEW)")
    index: dict[tuple[str, str], int] = {}
    texts = {r.id: r.text for r in store.instructions(run.id)}
    for inst in store.instances(run_id=run.id):
        index.setdefault(match_key(texts[inst.instruction_id], inst.input), inst.id)
    planned = []
    for preds, name, source in files:
        items = []
        for p in preds:
            iid = index.get(match_key(p.instruction, p.input))
            if iid is not None:
                items.append((iid, clean_answer(p.response), None, None))
        if not items:
            raise PredictionFileError(
                f"{source}: none of its {len(preds)} records matches an instance of run {run.name!r} by "
                "instruction and input; import the evaluation set these predictions answer first"
            )
        planned.append((name, source, items, len(preds) - len(items)))
    reports = []
    for name, source, items, unmatched in planned:
        config = {"source": source}
        old = existing[name]
        if old is not None:
            replace_responses(store, old.id, items, config)
            reports.append(ImportReport(response_set(store, run.id, name), len(items), unmatched, replaced=True))
        else:
            rs = create_response_set(store, run.id, name, model=name, kind="prediction", config=config)
            save_responses(store, rs.id, items)
            reports.append(ImportReport(rs, len(items), unmatched))
    return reports


def _taken(run: RunInfo, taken: Sequence[tuple[str, str]], *, several: bool) -> str:
    """Refusing names in use: which ones, and the two ways on."""
    if not several:
        source, name = taken[0]
        return (f"{source}: run {run.name!r} already has a response set {name!r}; import under another name "
                "(--name NEW), or replace it (--replace: its judge scores and ratings are dropped)")
    listed = ", ".join(f"{name!r} ({source})" for source, name in taken)
    return (f"run {run.name!r} already has response set(s) {listed}; nothing was imported: replace them "
            "(--replace: their judge scores and ratings are dropped), or import those files one at a time "
            "under another name (--name NEW) and the rest without them")
