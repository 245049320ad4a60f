"""Bring an evaluation set into a workspace as a run of kind "import".

Three shapes are read: the task format (the user-oriented 252, seed files:
``instruction`` + ``instances``), Vicuna-style questions (``question_id``,
``text``, ``category``; no reference answer) and flat records (``instruction``,
``input``, ``output``); each as JSONL or a JSON array. Each record becomes an
instruction with its instances; where references exist they are also stored as
a response set named "reference", so a model can be judged against them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import jsonlines
from ..records import Instance, Task
from ..seeds import SeedFileError, parse_tasks
from ..store import RunInfo, Store
from ..store.responses import create_response_set, save_responses

FORMATS = ("auto", "tasks", "vicuna", "flat")
REFERENCE_SET = "reference"


class EvalSetError(ValueError):
    """An evaluation file cannot be read; the message names the file and the line."""


def detect_format(records: list[dict[str, Any]], where: str) -> str:
    first = records[0]
    if "instances" in first:
        return "tasks"
    if "question_id" in first or ("text" in first and "instruction" not in first):
        return "vicuna"
    if "instruction" in first:
        return "flat"
    raise EvalSetError(
        f"{where}:1: cannot tell the format from fields {', '.join(sorted(first)) or 'none'}: expected "
        "instruction+instances (tasks), question_id+text (Vicuna) or instruction+input+output (flat)"
    )


def _records(raw: bytes, where: str) -> list[tuple[int, dict[str, Any]]]:
    """(line, object) pairs of a JSONL file, or of a JSON list (line 1 for all)."""
    out = jsonlines.objects(raw, where, EvalSetError, allow_array=True)
    if not out:
        raise EvalSetError(f"{where}: holds no records")
    return out


def _text(obj: dict[str, Any], key: str, where: str, *, required: bool = True) -> str:
    value = obj.get(key, None if required else "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise EvalSetError(f"{where}: {key!r} must be a{' non-empty' if required else ''} string")
    return value


def parse_eval_set(raw: bytes, where: str = "<eval set>", fmt: str = "auto") -> tuple[str, list[Task]]:
    """(format, tasks) of an evaluation file's bytes."""
    if fmt not in FORMATS:
        raise EvalSetError(f"unknown evaluation set format {fmt!r}: use one of {', '.join(FORMATS)}")
    records = _records(raw, where)
    if fmt == "auto":
        fmt = detect_format([obj for _, obj in records], where)
    if fmt == "tasks":
        try:
            return fmt, parse_tasks(raw, where, allow_array=True)
        except SeedFileError as e:
            raise EvalSetError(str(e)) from None
    tasks = []
    for n, (lineno, obj) in enumerate(records):
        at = f"{where}:{lineno}"
        if fmt == "vicuna":
            qid = obj.get("question_id", n + 1)
            tasks.append(Task(
                id=str(qid), instruction=_text(obj, "text", at), instances=(Instance("", ""),),
                name=str(obj.get("category", "")), origin="import",
            ))
        else:
            tasks.append(Task(
                id=str(obj.get("id", n)), instruction=_text(obj, "instruction", at),
                instances=(Instance(_text(obj, "input", at, required=False), _text(obj, "output", at, required=False)),),
                origin="import",
            ))
    return fmt, tasks


def import_eval_set(store: Store, path: str | Path, name: str | None = None, fmt: str = "auto") -> RunInfo:
    """Create run ``name`` (default: the file's stem) holding the evaluation set."""
    p = Path(path)
    return import_eval_bytes(store, jsonlines.read_bytes(p, EvalSetError), str(p), name or p.stem, fmt)


def import_eval_bytes(store: Store, raw: bytes, where: str, name: str, fmt: str = "auto") -> RunInfo:
    """Like ``import_eval_set`` for a file's bytes (an upload); the whole file is checked
    before anything is written."""
    fmt, tasks = parse_eval_set(raw, where, fmt)
    run = store.create_run(name, kind="import", config={"source": where, "format": fmt, "eval_set": True},
                           tasks=tasks, origin="import", state="done",
                           status=f"evaluation set: {len(tasks):,} records from {where} ({fmt} format)")
    refs = [(inst.id, inst.output, None, None) for inst in store.instances(run_id=run.id) if inst.output.strip()]
    if refs:
        rs = create_response_set(store, run.id, REFERENCE_SET, model="reference", kind="reference",
                                 config={"source": where})
        save_responses(store, rs.id, refs)
    return run
