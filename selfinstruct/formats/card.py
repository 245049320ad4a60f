"""The README data card of a Hugging Face data set folder.

The card says what the data is and how it was made: the paper's Table 1
statistics of exactly the exported tasks, the generation config, the model,
the filter settings, and where it came from. The YAML header lets the Hub's
loader find the Parquet files without a loading script.
"""

from __future__ import annotations

import json
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


def data_card(tasks: Sequence[Task], manifest: dict[str, Any], run_config: dict[str, Any],
              filters: dict[str, Any] | None) -> str:
    """README.md text for the folder; ``filters`` is None when the run recorded no filter settings."""
    name = manifest["run"]
    rows = manifest["counts"]["records"]
    lm = run_config.get("lm") or {}
    lm_line = (f"backend `{lm.get('backend', '?')}`, model `{lm.get('model') or '(backend default)'}`"
               if lm else "not recorded (imported data)")
    if manifest.get("responses"):
        lm_line += f"; outputs from response set `{manifest['responses']['name']}`"
        if manifest["responses"].get("model"):
            lm_line += f" (model `{manifest['responses']['model']}`)"
    generation = {k: v for k, v in run_config.items() if k not in {"lm", "filters"}}
    header = "\n".join([
        "---",
        f"pretty_name: {json.dumps(name)}",
        "language:",
        f"- {manifest.get('language') or 'en'}",
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
    source = f"run `{name}` ({manifest['run_kind']}) of workspace `{manifest['workspace']}`"
    if manifest.get("view"):
        source += f", filtered view `{manifest['view']}`"
    c = manifest["counts"]
    body = [
        f"# {name}",
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
