"""The data-size experiment's chart: a per-subset metric against the subset size, on a log
axis as in the Self-Instruct paper (ROUGE-L on the user-oriented set, judge scores of models
tuned on each nested subset, or the subsets' own diversity).

Metrics come from a file the user writes (CSV or JSON, one row per size) or are computed on
the nested subsets themselves (``subset_metrics``: the same seeded prefixes ``export
--subsets`` writes, so no file needs reading back).
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import plotly.express as px
import plotly.graph_objects as go

from .records import Task

if TYPE_CHECKING:
    from .kvcache import KVCache

# metric -> [(size, value), ...] sorted by size
Table = dict[str, list[tuple[int, float]]]
SIZE_COLUMNS = ("size", "n", "subset_size", "instructions")
# What ``subset_metrics`` computes for each subset: report key -> label.
DATA_METRICS = {"vendi_score": "Vendi score (ROUGE-L)", "distinct_1": "distinct-1", "distinct_2": "distinct-2",
                "distinct_3": "distinct-3"}


def _number(value: Any, where: str) -> float | None:
    """A metric cell as a float; blank means no value for that size."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {value!r} is not a number") from None
    if not math.isfinite(x):
        raise ValueError(f"{where}: {value!r} is not a finite number")
    return x


def _size(value: Any, where: str) -> int:
    x = _number(value, where)
    if x is None or x < 1 or x != int(x):
        raise ValueError(f"{where}: the size must be a whole number of at least 1, got {value!r}")
    return int(x)


def table_from_rows(rows: Sequence[dict[str, Any]], source: str) -> Table:
    """Rows with a size column (``size``, ``n``, ``subset_size`` or ``instructions``) and one or
    more metric columns; blank cells are left out. A size given twice for a metric is an error."""
    if not rows:
        raise ValueError(f"{source}: no row; give one row per subset size")
    keys = list(rows[0])
    size_key = next((k for k in keys if k.strip().lower() in SIZE_COLUMNS), None)
    if size_key is None:
        raise ValueError(f"{source}: no size column; name one of {', '.join(SIZE_COLUMNS)}")
    table: Table = {k: [] for k in keys if k != size_key}
    for i, row in enumerate(rows, start=1):
        where = f"{source} row {i}"
        size = _size(row.get(size_key), where)
        for metric in table:
            value = _number(row.get(metric), f"{where} column {metric!r}")
            if value is None:
                continue
            if any(s == size for s, _ in table[metric]):
                raise ValueError(f"{where}: size {size} appears twice for {metric!r}")
            table[metric].append((size, value))
    table = {k: sorted(v) for k, v in table.items() if v}
    if not table:
        raise ValueError(f"{source}: no metric value; add a column of numbers beside the sizes")
    return table


def read_metrics(path: str | Path) -> Table:
    """Metrics per subset size from a CSV file (a header row: the size column, then metric
    columns) or JSON: a list of such objects, ``{"size": value}`` for one metric, or
    ``{"metric": {"size": value}}`` for several."""
    from .inputs import read_input_bytes

    p = Path(path)
    text = read_input_bytes(p).decode("utf-8-sig")
    if p.suffix.lower() in (".csv", ".tsv"):
        return table_from_rows(list(csv.DictReader(io.StringIO(text), delimiter="\t" if p.suffix.lower() == ".tsv"
                                                   else ",")), p.name)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{p.name}: not CSV (by its name) nor JSON: {e}") from None
    if isinstance(data, list) and all(isinstance(r, dict) for r in data):
        return table_from_rows(data, p.name)
    if isinstance(data, dict) and data and all(isinstance(v, dict) for v in data.values()):
        sizes = sorted({s for v in data.values() for s in v}, key=lambda s: _size(s, p.name))
        return table_from_rows([{"size": s, **{m: v.get(s) for m, v in data.items()}} for s in sizes], p.name)
    if isinstance(data, dict) and data:
        return table_from_rows([{"size": s, p.stem: v} for s, v in data.items()], p.name)
    raise ValueError(f"{p.name}: expected rows of size and metrics, {{size: value}} or {{metric: {{size: value}}}}")


def subset_metrics(tasks: Sequence[Task], sizes: Sequence[int], seed: int, *,
                   cache: KVCache | None = None) -> Table:
    """The diversity of each nested subset (Vendi score, distinct-1/2/3 of its instructions),
    drawn exactly as ``export --subsets`` draws them from the same tasks and seed."""
    from .analysis import distinct_n
    from .diversity import vendi_score
    from .formats.subsets import nested_order

    order = [t.instruction for t in nested_order([t for t in tasks if t.instances], seed)]
    table: Table = {k: [] for k in DATA_METRICS}
    for size in sizes:
        texts = order[:size]
        vendi = vendi_score(texts, cache=cache)
        table["vendi_score"].append((size, vendi["score"] if vendi else 0.0))
        for n in (1, 2, 3):
            table[f"distinct_{n}"].append((size, distinct_n(texts, n)))
    return table


def scaling_chart(table: Table, *, title: str = "Data-size scaling", metrics: Sequence[str] | None = None,
                  labels: dict[str, str] | None = None) -> go.Figure:
    """Each metric against the subset size (log x axis, a tick per size), one line each; with
    several metrics of different ranges, each gets a panel of its own y axis."""
    from plotly.subplots import make_subplots

    chosen = [m for m in (metrics or list(table)) if m in table]
    if not chosen:
        raise ValueError(f"no such metric; the table has {', '.join(table) or 'none'}")
    labels = labels or {}
    sizes = sorted({s for m in chosen for s, _ in table[m]})
    fig = make_subplots(rows=len(chosen), cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=[labels.get(m, m) for m in chosen])
    for row, metric in enumerate(chosen, start=1):
        xs, ys = zip(*table[metric])
        fig.add_trace(go.Scatter(x=list(xs), y=list(ys), mode="lines+markers", name=labels.get(metric, metric),
                                 marker_color=px.colors.qualitative.Plotly[(row - 1) % 10],
                                 hovertemplate="%{x:,} instructions: %{y:.4g}<extra>" + labels.get(metric, metric)
                                 + "</extra>"), row=row, col=1)
        fig.update_yaxes(title_text=labels.get(metric, metric), row=row, col=1)
    fig.update_xaxes(type="log", tickvals=sizes, ticktext=[f"{s:,}" for s in sizes])
    fig.update_xaxes(title_text="instructions in the subset (log scale)", row=len(chosen), col=1)
    fig.update_layout(title=title, showlegend=False, height=max(360, 260 * len(chosen)))
    return fig
