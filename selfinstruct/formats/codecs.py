"""One record of each format, both ways: tasks to records, and a record back to rows.

Everything here is pure: no files, no store. Writers and readers in
``files`` move the records; exporting and importing decide which tasks.
A record that cannot be read raises ``RecordError`` with what is wrong; the
reader adds where.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from ..records import Task

# Columns of the tabular formats (CSV, Parquet), in order.
COLUMNS = ("id", "name", "instruction", "input", "output", "is_classification")
# Fields an Alpaca-style record may carry: ours, plus "text" (the rendered prompt some copies add).
ALPACA_FIELDS = {"instruction", "input", "output", "id", "name", "is_classification", "text"}


class RecordError(ValueError):
    """One record cannot be read; the message says what is wrong, not where."""


@dataclass(frozen=True)
class Row:
    """One instruction/input/output record as it comes in, before grouping into tasks."""

    instruction: str
    input: str
    output: str
    id: str | None = None
    name: str = ""
    is_classification: bool | None = None


def flat(tasks: Sequence[Task]) -> Iterator[tuple[Task, int]]:
    """(task, instance index) for every instance, in order."""
    for task in tasks:
        for n in range(len(task.instances)):
            yield task, n


def user_text(instruction: str, input: str) -> str:
    """What a chat user says: the instruction, then the input (if any) after a blank line."""
    return instruction if not input.strip() else f"{instruction}\n\n{input}"


def alpaca_record(task: Task, n: int) -> dict[str, str]:
    inst = task.instances[n]
    return {"instruction": task.instruction, "input": inst.input, "output": inst.output}


def table_record(task: Task, n: int) -> dict[str, Any]:
    inst = task.instances[n]
    return {
        "id": task.id, "name": task.name, "instruction": task.instruction, "input": inst.input,
        "output": inst.output, "is_classification": task.is_classification,
    }


# What a spreadsheet reads as the start of a formula (OWASP's CSV injection list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _formula_like(cell: str) -> bool:
    """A cell a spreadsheet would run, or one already escaped (leading ``'``s before a formula start).

    Escaped cells count too, so escaping is reversible: ``'=x`` is written as
    ``''=x`` and reads back as ``'=x``, never as ``=x``.
    """
    return cell.lstrip("'").startswith(FORMULA_STARTS)


def spreadsheet_safe(record: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """``record`` with a ``'`` before each text cell a spreadsheet would run as a formula
    (``=HYPERLINK(...)``, ``=cmd|...``), and how many cells got one."""
    out = {k: "'" + v if isinstance(v, str) and _formula_like(v) else v for k, v in record.items()}
    return out, sum(out[k] != v for k, v in record.items())


def spreadsheet_unescaped(record: dict[str, Any]) -> dict[str, Any]:
    """A row of a CSV we escaped (its manifest says so), as it was before ``spreadsheet_safe``."""
    return {k: v[1:] if isinstance(v, str) and v.startswith("'") and _formula_like(v) else v
            for k, v in record.items()}


def chat_record(task: Task, n: int, system: str = "") -> dict[str, Any]:
    """A blank ``system`` means no system message: fine-tuning APIs refuse an empty one."""
    inst = task.instances[n]
    messages = [{"role": "system", "content": system}] if system.strip() else []
    messages += [
        {"role": "user", "content": user_text(task.instruction, inst.input)},
        {"role": "assistant", "content": inst.output},
    ]
    return {"messages": messages}


def sharegpt_record(task: Task, n: int, system: str = "") -> dict[str, Any]:
    inst = task.instances[n]
    turns = [{"from": "system", "value": system}] if system.strip() else []
    turns += [
        {"from": "human", "value": user_text(task.instruction, inst.input)},
        {"from": "gpt", "value": inst.output},
    ]
    return {"id": f"{task.id}-{n}", "conversations": turns}


def chatable(task: Task, n: int) -> bool:
    """Chat formats refuse empty turns: both the question and the answer must say something."""
    return bool(task.instruction.strip()) and bool(task.instances[n].output.strip())


# ---------------------------------------------------------------- reading


def _obj(obj: Any) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise RecordError(f"expected a JSON object, got {_type(obj)}")
    return obj


def _type(v: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}.get(
        type(v), type(v).__name__)


def _unknown(obj: dict[str, Any], known: set[str]) -> None:
    extra = sorted(set(obj) - known)
    if extra:
        raise RecordError(f"unknown field(s) {', '.join(map(repr, extra))} (known: {', '.join(sorted(known))})")


def _text(obj: dict[str, Any], key: str, *, required: bool = True, nonempty: bool = False) -> str:
    if key not in obj or obj[key] is None and not required:
        if required:
            raise RecordError(f"missing field {key!r}")
        return ""
    v = obj[key]
    if not isinstance(v, str):
        raise RecordError(f"{key!r} must be a string, got {_type(v)}")
    if nonempty and not v.strip():
        raise RecordError(f"{key!r} is empty")
    return v


def _flag(v: Any, key: str = "is_classification") -> bool | None:
    if v is None or isinstance(v, bool):
        return v
    raise RecordError(f"{key!r} must be true, false or null, got {v!r}")


def _id(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (str, int)):
        raise RecordError(f"'id' must be a string, got {_type(v)}")
    return str(v)


def alpaca_row(obj: Any) -> Row:
    obj = _obj(obj)
    _unknown(obj, ALPACA_FIELDS)
    return Row(
        instruction=_text(obj, "instruction", nonempty=True).strip(),
        input=_text(obj, "input", required=False),
        output=_text(obj, "output"),
        id=_id(obj.get("id")),
        name=_text(obj, "name", required=False),
        is_classification=_flag(obj.get("is_classification")),
    )


def table_row(obj: dict[str, Any]) -> Row:
    """A CSV or Parquet row; CSV cells are strings, so the flag also reads from text."""
    flag = obj.get("is_classification")
    if isinstance(flag, str):
        low = flag.strip().lower()
        if low not in {"", "true", "false", "1", "0"}:
            raise RecordError(f"'is_classification' must be true, false or empty, got {flag!r}")
        flag = None if not low else low in {"true", "1"}
    ident = obj.get("id")
    return Row(
        instruction=_text(obj, "instruction", nonempty=True).strip(),
        input=_text(obj, "input", required=False),
        output=_text(obj, "output"),
        id=_id(ident if ident != "" else None),
        name=_text(obj, "name", required=False),
        is_classification=_flag(flag),
    )


def gpt3_row(obj: Any) -> Row:
    from .gpt3 import decode

    obj = _obj(obj)
    _unknown(obj, {"prompt", "completion"})
    instruction, input, output = decode(_text(obj, "prompt", nonempty=True), _text(obj, "completion", nonempty=True))
    if not instruction:
        raise RecordError("the prompt holds no instruction")
    return Row(instruction, input, output)


CHAT_ROLES = ("system", "user", "assistant")


def chat_row(obj: Any) -> Row:
    """A single-turn chat example: an optional system message, one user turn, one assistant turn.

    The user turn comes in whole as the instruction (input empty): a chat
    message has no reliable line between the two.
    """
    obj = _obj(obj)
    _unknown(obj, {"messages"})
    messages = obj.get("messages")
    if not isinstance(messages, list):
        raise RecordError("missing field 'messages' (a list of {role, content})" if messages is None
                          else f"'messages' must be a list, got {_type(messages)}")
    turns = []
    for n, m in enumerate(messages, start=1):
        if not isinstance(m, dict):
            raise RecordError(f"message {n} must be an object with 'role' and 'content', got {_type(m)}")
        _unknown(m, {"role", "content", "name", "weight"})
        role = m.get("role")
        if role not in CHAT_ROLES:
            raise RecordError(f"message {n} has role {role!r}; expected one of {', '.join(CHAT_ROLES)}")
        content = m.get("content")
        if not isinstance(content, str) or not content.strip():
            raise RecordError(f"message {n} ({role}) needs non-empty string 'content'")
        turns.append((role, content))
    return _dialogue(turns, "role", "user", "assistant")


SHAREGPT_ALIASES = {"human": "human", "user": "human", "gpt": "gpt", "assistant": "gpt", "system": "system"}


def sharegpt_row(obj: Any) -> Row:
    """A single-turn ShareGPT conversation (human then gpt, optional system first)."""
    obj = _obj(obj)
    _unknown(obj, {"conversations", "id"})
    conv = obj.get("conversations")
    if not isinstance(conv, list):
        raise RecordError("missing field 'conversations' (a list of {from, value})" if conv is None
                          else f"'conversations' must be a list, got {_type(conv)}")
    turns = []
    for n, t in enumerate(conv, start=1):
        if not isinstance(t, dict):
            raise RecordError(f"turn {n} must be an object with 'from' and 'value', got {_type(t)}")
        _unknown(t, {"from", "value"})
        who = SHAREGPT_ALIASES.get(t.get("from"))  # type: ignore[arg-type]
        if who is None:
            raise RecordError(f"turn {n} is from {t.get('from')!r}; expected human, gpt or system")
        value = t.get("value")
        if not isinstance(value, str) or not value.strip():
            raise RecordError(f"turn {n} ({who}) needs non-empty string 'value'")
        turns.append((who, value))
    return _dialogue(turns, "from", "human", "gpt")


def _dialogue(turns: list[tuple[str, str]], key: str, asker: str, answerer: str) -> Row:
    body = turns[1:] if turns and turns[0][0] == "system" else turns
    got = [t[0] for t in body]
    if got != [asker, answerer]:
        if len(body) > 2 and got[:2] == [asker, answerer]:
            raise RecordError(f"multi-turn conversations are not supported ({len(body)} turns after the system one)")
        raise RecordError(f"expected {key}s [system,] {asker}, {answerer}; got {', '.join(t[0] for t in turns) or 'none'}")
    return Row(instruction=body[0][1].strip(), input="", output=body[1][1])
