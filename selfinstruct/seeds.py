"""Read and write seed task files (the official JSONL format).

A seed file is loaded whole or not at all: the first problem stops the load
with ``file:line`` and what is wrong, so a run never starts from half a file.
The user-oriented evaluation file (``motivation_app`` instead of ``name`` and
no ``is_classification``) reads through the same loader.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import jsonlines
from .records import Instance, Task

MAX_LINE_BYTES = 1_000_000
REQUIRED = ("instruction", "instances")
KNOWN = {"id", "name", "instruction", "instances", "is_classification", "motivation_app"}


class SeedFileError(ValueError):
    """A seed file cannot be used; the message starts with ``path:line:``."""


def load_tasks(path: str | Path) -> list[Task]:
    """All tasks of a seed file, validated; raises SeedFileError on the first problem."""
    return parse_tasks(jsonlines.read_bytes(path, SeedFileError), str(path))


def parse_tasks(raw: bytes, where: str = "<seeds>", *, allow_array: bool = False) -> list[Task]:
    """Parse the bytes of a seed file (with ``allow_array``, a JSON array of tasks too);
    ``where`` names it in messages."""
    tasks: list[Task] = []
    ids: dict[str, int] = {}
    for lineno, obj in jsonlines.objects(raw, where, SeedFileError, max_line_bytes=MAX_LINE_BYTES,
                                         allow_array=allow_array):
        task = _task(obj, f"{where}:{lineno}", len(tasks))
        if task.id in ids:
            raise SeedFileError(f"{where}:{lineno}: duplicate id {task.id!r} (first on line {ids[task.id]})")
        ids[task.id] = lineno
        tasks.append(task)
    if not tasks:
        raise SeedFileError(f"{where}: holds no tasks (expected one JSON object per line)")
    return tasks


def _task(obj: dict[str, Any], where: str, index: int) -> Task:
    unknown = sorted(set(obj) - KNOWN)
    if unknown:
        raise SeedFileError(f"{where}: unknown field(s) {', '.join(map(repr, unknown))} (known: {', '.join(sorted(KNOWN))})")
    for key in REQUIRED:
        if key not in obj:
            raise SeedFileError(f"{where}: missing field {key!r}")
    instruction = obj["instruction"]
    if not isinstance(instruction, str) or not instruction.strip():
        raise SeedFileError(f"{where}: 'instruction' must be a non-empty string")
    instances = obj["instances"]
    if not isinstance(instances, list) or not instances:
        raise SeedFileError(f"{where}: 'instances' must be a non-empty list of {{input, output}} objects")
    parsed: list[Instance] = []
    for n, inst in enumerate(instances, start=1):
        if not isinstance(inst, dict):
            raise SeedFileError(f"{where}: instance {n} must be an object with 'input' and 'output'")
        extra = sorted(set(inst) - {"input", "output"})
        if extra:
            raise SeedFileError(f"{where}: instance {n} has unknown field(s) {', '.join(map(repr, extra))}")
        for key in ("input", "output"):
            if not isinstance(inst.get(key), str):
                raise SeedFileError(f"{where}: instance {n} needs a string {key!r}")
        parsed.append(Instance(inst["input"], inst["output"]))
    clf = obj.get("is_classification")
    if clf is not None and not isinstance(clf, bool):
        raise SeedFileError(f"{where}: 'is_classification' must be true or false, got {clf!r}")
    raw_id = obj.get("id", f"task_{index}")
    if not isinstance(raw_id, (str, int)) or isinstance(raw_id, bool):
        raise SeedFileError(f"{where}: 'id' must be a string")
    name = obj.get("name", obj.get("motivation_app", ""))
    if not isinstance(name, str):
        raise SeedFileError(f"{where}: 'name' must be a string")
    return Task(
        id=str(raw_id), instruction=instruction.strip(), instances=tuple(parsed),
        is_classification=clf, name=name, origin="seed",
    )


def task_to_json(task: Task) -> dict[str, Any]:
    """A task as one line of the official format; an unknown ``is_classification`` stays null
    (the official files only have true/false, and ``load_tasks`` reads null as unknown)."""
    return {
        "id": task.id,
        "name": task.name,
        "instruction": task.instruction,
        "instances": [{"input": i.input, "output": i.output} for i in task.instances],
        "is_classification": task.is_classification,
    }
