"""The README data card of a Hugging Face data set folder.

The card says what the data is and how it was made: the paper's Table 1
statistics of exactly the exported tasks, the generation config, the model,
the filter settings, and where it came from. The YAML header lets the Hub's
loader find the Parquet files without a loading script.
"""

from __future__ import annotations

import json
import os
import re
import string
from pathlib import PurePath
from typing import Any, Sequence

from ..analysis import format_table1, table1
from ..records import Task


def size_category(n: int) -> str:
    """The Hub's size bucket for ``n`` rows."""
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                         (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")):
        if n < limit:
            return label
    return "n>10M"


# Line breaks and other control characters: in a name they would end a heading or a list item.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_PUNCTUATION = re.compile(f"([{re.escape(string.punctuation)}])")


def _flat(text: str) -> str:
    return _CONTROL.sub(" ", str(text))


def _md(text: str) -> str:
    """``text`` as literal Markdown on one line: every ASCII punctuation mark is backslash-escaped
    (CommonMark allows it for all of them), so a name like ``# x`` or ``<b>`` stays text."""
    return _PUNCTUATION.sub(r"\\\1", _flat(text))


def _code(text: str) -> str:
    """``text`` as an inline code span on one line, fenced by more backticks than it holds."""
    text = _flat(text)
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _no_local_paths(obj: Any, paths: Sequence[str]) -> Any:
    """``obj`` with each local path shown by its file name: a card is published, and the
    folders of the machine that made it are nobody's business (nor stable)."""
    if isinstance(obj, dict):
        return {k: _no_local_paths(v, paths) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_no_local_paths(v, paths) for v in obj]
    if not isinstance(obj, str):
        return obj
    if os.path.isabs(obj):
        return PurePath(obj).name
    for path in paths:
        obj = obj.replace(path, PurePath(path).name)
    return obj


def data_card(tasks: Sequence[Task], manifest: dict[str, Any], run_config: dict[str, Any],
              filters: dict[str, Any] | None) -> str:
    """README.md text for the folder; ``filters`` is None when the run recorded no filter settings.

    Every name comes from the user or a file, so it is escaped where it lands, and no local
    path is shown (the workspace and an import's source appear by file name).
    """
    name = manifest["run"]
    rows = manifest["counts"]["records"]
    lm = run_config.get("lm") or {}
    lm_line = (f"backend {_code(lm.get('backend', '?'))}, model {_code(lm.get('model') or '(backend default)')}"
               if lm else "not recorded (imported data)")
    if manifest.get("responses"):
        lm_line += f"; outputs from response set {_code(manifest['responses']['name'])}"
        if manifest["responses"].get("model"):
            lm_line += f" (model {_code(manifest['responses']['model'])})"
    source_file = (run_config.get("source") or {}).get("file")
    paths = sorted({p for p in (manifest["workspace"], source_file) if isinstance(p, str) and os.path.isabs(p)},
                   key=len, reverse=True)
    generation = _no_local_paths({k: v for k, v in run_config.items() if k not in {"lm", "filters"}}, paths)
    filters = _no_local_paths(filters, paths)
    header = "\n".join([
        "---",
        f"pretty_name: {json.dumps(name)}",
        "language:",
        f"- {json.dumps(manifest.get('language') or 'en')}",
        "task_categories:",
        "- text-generation",
        "size_categories:",
        f"- {size_category(rows)}",
        "configs:",
        "- config_name: default",
        "  data_files:",
        "  - split: train",
        "    path: data/train-*.parquet",
        "---",
    ])
    source = (f"run {_code(name)} ({manifest['run_kind']}) of workspace "
              f"{_code(PurePath(manifest['workspace']).name)}")
    if manifest.get("view"):
        source += f", filtered view {_code(manifest['view'])}"
    c = manifest["counts"]
    body = [
        f"# {_md(name)}",
        "",
        "Instruction-following data exported by Self-Instruct Studio: one row per instance, with the "
        "instruction it answers.",
        "",
        f"- Source: {source}",
        f"- Exported: {manifest['created_at']}; config hash `{manifest['config_hash']}`",
        f"- {c['instructions_exported']:,} instructions, {c['records']:,} rows; "
        f"{c['instructions_without_instances']:,} instructions with no kept instance left out",
        "",
        "## Fields",
        "",
        "| column | meaning |",
        "|---|---|",
        "| id | the task's id in its run |",
        "| name | the task's short name, when it has one |",
        "| instruction | what the model is asked to do |",
        "| input | the instance's input (may be empty) |",
        "| output | the expected answer |",
        "| is_classification | whether the task is a classification task (null: unknown) |",
        "",
        "## Statistics (as in Table 1 of the Self-Instruct paper)",
        "",
        "```text",
        format_table1(table1(tasks)),
        "```",
        "",
        "## Language model",
        "",
        lm_line,
        "",
        "## Filter settings",
        "",
        _block(filters) if filters is not None else "not recorded",
        "",
        "## Generation config",
        "",
        _block(generation) if generation else "not recorded",
        "",
    ]
    return header + "\n\n" + "\n".join(body)


def _block(obj: Any) -> str:
    return "```json\n" + json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=True) + "\n```"
