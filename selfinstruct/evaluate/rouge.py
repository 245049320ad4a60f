"""ROUGE-L of model predictions against reference outputs, as in the paper's SuperNI table.

A prediction file holds one JSON object per line with ``instruction``,
``input``, ``response`` (the model's answer) and ``target`` (the reference),
like the Self-Instruct release's ``predictions/*.jsonl``. Scores are
rouge-score's ROUGE-L F-measure (``novelty.rouge_l``, bit-identical), Porter
stemming on by default as in the paper's evaluation. The same files can be
imported into a workspace as response sets, so judging and rating work on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .. import jsonlines
from ..novelty import rouge_l
from ..store import RunInfo, Store
from ..store.responses import ResponseSet, create_response_set, response_set, responses, save_responses

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
    """Mean ROUGE-L F of one model (a prediction file or a response set) over ``count`` records."""

    name: str
    mean: float
    count: int


def model_name(path: str | Path) -> str:
    """``davinci_predictions.jsonl`` -> ``davinci``: the file's stem without the usual suffix."""
    stem = Path(path).name.removesuffix(".jsonl").removesuffix(".json")
    return stem.removesuffix("_predictions") or stem


def load_predictions(path: str | Path) -> list[Prediction]:
    """Every record of a prediction file; the first bad line stops the load, named by file:line."""
    return parse_predictions(jsonlines.read_bytes(path, PredictionFileError), str(path))


def parse_predictions(raw: bytes, where: str = "<predictions>") -> list[Prediction]:
    """The records of a prediction file's bytes; ``where`` names it in messages."""
    out: list[Prediction] = []
    for lineno, obj in jsonlines.objects(raw, where, PredictionFileError):
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


def mean_rouge(pairs: Sequence[tuple[str, str]], *, stem: bool = True) -> float:
    """Mean ROUGE-L F of (reference, prediction) pairs; 0.0 for none."""
    if not pairs:
        return 0.0
    return sum(rouge_l(ref, pred, stem=stem) for ref, pred in pairs) / len(pairs)


def score_file(path: str | Path, *, stem: bool = True) -> RougeScore:
    preds = load_predictions(path)
    return RougeScore(model_name(path), mean_rouge([(p.target, p.response) for p in preds], stem=stem), len(preds))


def score_sets(store: Store, run: RunInfo, names: Sequence[str], *, stem: bool = True) -> list[RougeScore]:
    """Each response set of ``run`` against the instances' outputs (those with a reference only)."""
    out = []
    for name in names:
        rows = [r for r in responses(store, response_set(store, run.id, name).id) if r.reference.strip()]
        out.append(RougeScore(name, mean_rouge([(r.reference, r.text) for r in rows], stem=stem), len(rows)))
    return out


def match_key(instruction: str, input: str) -> tuple[str, str]:
    """What ties a prediction to an instance: instruction and input, outer whitespace ignored."""
    return instruction.strip(), input.strip()


@dataclass(frozen=True)
class ImportReport:
    set: ResponseSet
    matched: int
    unmatched: int


def import_predictions(store: Store, run: RunInfo, path: str | Path, name: str | None = None) -> ImportReport:
    """Store a prediction file's responses as a response set (kind "prediction") of ``run``."""
    return import_prediction_records(store, run, load_predictions(path), name or model_name(path), str(path))


def import_prediction_records(
    store: Store, run: RunInfo, preds: Sequence[Prediction], name: str, source: str,
) -> ImportReport:
    """Store predictions as response set ``name``, matching records to the run's instances by
    instruction and input; records that match none are counted, not stored."""
    index: dict[tuple[str, str], int] = {}
    texts = {r.id: r.text for r in store.instructions(run.id)}
    for inst in store.instances(run_id=run.id):
        index.setdefault(match_key(texts[inst.instruction_id], inst.input), inst.id)
    items = []
    for p in preds:
        iid = index.get(match_key(p.instruction, p.input))
        if iid is not None:
            items.append((iid, p.response, None, None))
    if not items:
        raise PredictionFileError(
            f"{source}: none of its {len(preds)} records matches an instance of run {run.name!r} by "
            "instruction and input; import the evaluation set these predictions answer first"
        )
    rs = create_response_set(store, run.id, name, model=name, kind="prediction", config={"source": source})
    save_responses(store, rs.id, items)
    return ImportReport(rs, len(items), len(preds) - len(items))
