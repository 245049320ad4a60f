"""Plotly figures from ``analysis`` results, each able to show two data sets.

Functions take already-computed summaries (never tasks), so the dashboard can
cache the numbers and redraw cheaply. Histograms are drawn as bars over counts
binned here or in ``analysis``: the figure carries exactly the numbers the
report states. The only I/O is ``write_charts``.
"""

from __future__ import annotations

import importlib.util
import math
import warnings
import zlib
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots

Summary = Mapping[str, Any]
MAX_LENGTH_BINS = 40
FIELD_TITLES = {"instruction": "instruction", "input": "non-empty input", "output": "output"}


def _series(a: Any, b: Any | None, names: Sequence[str]) -> list[tuple[str, Any]]:
    """One (name, data) per data set; a lone data set keeps its name only if given two."""
    return [(names[0], a)] if b is None else [(names[0], a), (names[1], b)]


# ------------------------------------------------------------------------ sunburst


def sunburst_frame(summary: Summary) -> list[dict[str, Any]]:
    """(verb, noun, count) rows of the sunburst: top verbs x their top nouns."""
    return [{"verb": v["verb"], "noun": n["noun"], "count": n["count"]}
            for v in summary["top_verbs"] for n in v["nouns"]]


def _coverage(summary: Summary) -> tuple[float, int]:
    """Share covered and total, from a ``verb_noun_summary`` or a ``full_report``."""
    if "coverage" in summary:
        return summary["coverage"], summary["n_total"]
    return summary["sunburst_coverage"], summary["verb_noun_total"]


def _sunburst_title(summary: Summary) -> str:
    share, total = _coverage(summary)
    return f"{len(summary['top_verbs'])} top verbs × nouns: {share:.1%} of {total:,} instructions"


def _sunburst_trace(summary: Summary) -> go.Sunburst:
    rows = sunburst_frame(summary)
    if not rows:
        return go.Sunburst(ids=[], labels=[], parents=[], values=[])
    fig = px.sunburst(rows, path=["verb", "noun"], values="count")
    return fig.data[0]


def sunburst(summary: Summary, other: Summary | None = None, *,
             names: Sequence[str] = ("A", "B")) -> go.Figure:
    """The paper's verb-noun sunburst (inner ring: root verbs, outer: their objects).

    The title says which share of all instructions the drawn sectors hold.
    """
    series = _series(summary, other, names)
    if other is None:
        fig = go.Figure(_sunburst_trace(summary))
        fig.update_layout(title=_sunburst_title(summary))
    else:
        titles = [f"{n}: {_sunburst_title(s)}" for n, s in series]
        fig = make_subplots(rows=1, cols=2, specs=[[{"type": "domain"}] * 2],
                            subplot_titles=titles)
        for col, (_, s) in enumerate(series, start=1):
            fig.add_trace(_sunburst_trace(s), row=1, col=col)
        fig.update_layout(title="Root verbs and their direct-object nouns")
    fig.update_traces(branchvalues="total", insidetextorientation="radial")
    fig.update_layout(margin={"t": 80, "l": 10, "r": 10, "b": 10})
    return fig


# ---------------------------------------------------------------------- histograms


def _bars(fig: go.Figure, series: Sequence[tuple[str, Sequence[int], Sequence[float]]],
          row: int | None = None, col: int | None = None, *, share: bool = False,
          show_legend: bool = True) -> None:
    """One bar trace per (name, counts, edges): bars centred on their bins; with ``share``,
    each trace as fractions of its own total (shown as percent), so sets of any size compare."""
    for i, (name, counts, edges) in enumerate(series):
        edges_arr = np.asarray(edges, dtype=float)
        counts_arr = np.asarray(counts, dtype=float)
        y = counts_arr / counts_arr.sum() if share and counts_arr.sum() else counts_arr
        labels = [f"[{lo:g}, {hi:g})" for lo, hi in zip(edges_arr[:-1], edges_arr[1:])]
        value = "%{y:.1%}" if share else "%{y}"
        fig.add_trace(go.Bar(
            x=((edges_arr[:-1] + edges_arr[1:]) / 2).tolist(), y=y.tolist(), name=name,
            customdata=labels, hovertemplate="%{customdata}: " + value + "<extra>" + name + "</extra>",
            marker_color=px.colors.qualitative.Plotly[i % 10], legendgroup=name,
            showlegend=show_legend), row=row, col=col)


def _rouge_chart(series: Sequence[tuple[str, Summary]], title: str, xtitle: str,
                 ytitle: str, share: bool) -> go.Figure:
    fig = go.Figure()
    _bars(fig, [(n, s["counts"], s["edges"]) for n, s in series], share=share)
    fig.update_layout(title=title, barmode="group", bargap=0.1,
                      xaxis_title=xtitle, yaxis_title=ytitle)
    fig.update_xaxes(range=[0, 1])
    if share:
        fig.update_yaxes(tickformat=".0%")
    return fig


def overlap_histogram(summary: Summary, other: Summary | None = None, *,
                      names: Sequence[str] = ("A", "B"), share: bool = False) -> go.Figure:
    """The paper's novelty figure: how many instructions reach each ROUGE-L with
    their most similar seed. Takes ``overlap_summary`` output or a report's
    ``rouge_vs_seeds_hist``; ``share`` plots fractions (for data sets of unequal size)."""
    return _rouge_chart(_series(summary, other, names),
                        "ROUGE-L overlap with the most similar seed instruction",
                        "ROUGE-L vs. the most similar seed instruction",
                        "% of instructions" if share else "# instructions", share)


def within_histogram(summary: Summary, other: Summary | None = None, *,
                     names: Sequence[str] = ("A", "B"), share: bool = False) -> go.Figure:
    """Each instruction's highest ROUGE-L against the rest of its own pool."""
    return _rouge_chart(_series(summary, other, names),
                        "ROUGE-L with the most similar other instruction in the pool",
                        "highest ROUGE-L within the pool",
                        "% of instructions" if share else "# instructions", share)


def pairwise_histogram_chart(summary: Summary, other: Summary | None = None, *,
                             names: Sequence[str] = ("A", "B"), share: bool = True) -> go.Figure:
    """ROUGE-L over all pairs of instructions; fractions by default because the
    number of pairs grows with the square of the pool size."""
    return _rouge_chart(_series(summary, other, names), "ROUGE-L between pairs of instructions",
                        "ROUGE-L of a pair", "% of pairs" if share else "# pairs", share)


def length_edges(values: Sequence[int], max_bins: int = MAX_LENGTH_BINS) -> list[float]:
    """Integer-width bins from 0 past the longest value, at most ``max_bins`` of them."""
    top = max(values, default=0) + 1
    width = max(1, math.ceil(top / max_bins))
    return [float(x) for x in range(0, width * math.ceil(top / width) + 1, width)]


def length_histograms(lengths: Summary, other: Summary | None = None, *,
                      names: Sequence[str] = ("A", "B"),
                      groups: Sequence[str] = ("all",), share: bool = False) -> go.Figure:
    """Instruction, non-empty input and output lengths in three panels.

    Takes ``analysis.lengths`` output; every (data set, group) pair is one trace
    (e.g. ``groups=("classification", "non_classification")`` or
    ``("seed", "machine")``), binned on shared edges so bars line up. ``share``
    plots each trace in percent of its own total (for data sets of unequal size).
    """
    series = _series(lengths, other, names)
    unit = lengths["unit"]
    traces = [(f"{n} · {g}" if other is not None or len(groups) > 1 else n, s["groups"].get(g, {}))
              for n, s in series for g in groups]
    # a group with no instruction (e.g. "seed" of a machine-only data set) would be an empty legend entry
    traces = [t for t in traces if t[1].get("instruction")] or traces[:1]
    fig = make_subplots(rows=1, cols=3, subplot_titles=[FIELD_TITLES[f] for f in FIELD_TITLES])
    for col, field in enumerate(FIELD_TITLES, start=1):
        edges = length_edges([v for _, g in traces for v in g.get(field, [])])
        binned = [(name, np.histogram(g.get(field, []), bins=edges)[0].tolist(), edges)
                  for name, g in traces]
        _bars(fig, binned, row=1, col=col, share=share, show_legend=col == 1)
        fig.update_xaxes(title_text=f"length ({unit})", row=1, col=col)
        fig.update_yaxes(title_text=("% of " if share else "# ") + ("instructions" if col == 1 else "instances"),
                         tickformat=".0%" if share else None, row=1, col=col)
    fig.update_layout(title=f"Lengths in {unit}", barmode="group", bargap=0.1)
    return fig


# ---------------------------------------------------------------------- collections


def report_figures(reports: Sequence[Summary], lengths: Sequence[Summary], *,
                   names: Sequence[str] = ("A", "B")) -> dict[str, go.Figure]:
    """Every standard figure for one or two ``full_report`` results (and their
    ``lengths``), keyed by a file-friendly name for ``write_charts``."""
    a, b = reports[0], (reports[1] if len(reports) > 1 else None)
    la, lb = lengths[0], (lengths[1] if len(lengths) > 1 else None)

    def pair(key: str) -> tuple[Summary, Summary | None]:
        return a[key], (b[key] if b is not None else None)

    return {
        "verb_noun_sunburst": sunburst(a, b, names=names),
        "lengths": length_histograms(la, lb, names=names),
        "rouge_vs_seeds": overlap_histogram(*pair("rouge_vs_seeds_hist"), names=names),
        "rouge_within": within_histogram(*pair("rouge_within_hist"), names=names),
        "rouge_pairwise": pairwise_histogram_chart(*pair("rouge_pairwise_hist"), names=names),
    }


def png_available() -> bool:
    """PNG export needs kaleido, which is optional."""
    return importlib.util.find_spec("kaleido") is not None


def chart_folder(out_dir: str | Path) -> Path:
    """The folder for the chart files, made if missing; a separate step so a command can
    check it before a long analysis."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise NotADirectoryError(f"{out}: must be a folder, but it (or a folder above it) is a file") from None
    return out


def write_charts(figures: Mapping[str, go.Figure], out_dir: str | Path, *,
                 standalone: bool = False) -> list[Path]:
    """Write ``NAME.html`` per figure (and ``NAME.png`` where kaleido works).

    Works offline: plotly.js is written as ``plotly.min.js`` beside the pages
    (again whenever it differs from the bundled copy, so a file cut short by a
    full disk does not blank every page), or embedded in every page with
    ``standalone`` (larger, but single files can be mailed around). Every file
    goes through the atomic writer. Returns every file written.
    """
    from plotly.offline import get_plotlyjs

    from .formats.files import atomic_file

    out = chart_folder(out_dir)
    written: list[Path] = []

    def put(path: Path, data: bytes) -> None:
        with atomic_file(path) as tmp:
            tmp.write_bytes(data)
        written.append(path)

    if not standalone:
        bundle, js = out / "plotly.min.js", get_plotlyjs().encode("utf-8")
        if not (bundle.is_file() and bundle.stat().st_size == len(js) and bundle.read_bytes() == js):
            put(bundle, js)
    png = png_available()
    for name, fig in figures.items():
        put(out / f"{name}.html",
            fig.to_html(include_plotlyjs=True if standalone else "directory", full_html=True).encode("utf-8"))
        if png:
            try:
                image = fig.to_image(format="png")
            except (ValueError, RuntimeError) as e:  # kaleido present but no browser
                warnings.warn(f"PNG export skipped for {name}: {e}", stacklevel=2)
                png = False
            else:
                put(out / f"{name}.png", image)
    return written


def write_figure(fig: go.Figure, path: str | Path) -> Path:
    """Write one figure as ``.html`` (plotly.js embedded: one file that works offline) or ``.png``
    (needs kaleido, which is optional: the error says so, and the HTML page's camera button
    saves a PNG from any browser). Atomic, like every chart file."""
    from .formats.files import atomic_file

    out = Path(path)
    kind = out.suffix.lower()
    if kind not in (".html", ".png"):
        raise ValueError(f"{out}: a chart file must end in .html or .png")
    if kind == ".png" and not png_available():
        raise ValueError(f"{out}: PNG export needs the optional kaleido package (pip install kaleido); write an "
                         ".html file instead, and use its camera button to save a PNG")
    if kind == ".html":
        data = fig.to_html(include_plotlyjs=True, full_html=True).encode("utf-8")
    else:
        data = fig.to_image(format="png")
    with atomic_file(out) as tmp:
        tmp.write_bytes(data)
    return out


# One colour per verdict reason, in one fixed order, so a reason keeps its colour and place
# whatever the counts (Plotly otherwise colours by order of appearance, which moves with them).
REASON_COLORS = {
    "kept": "#2ca02c", "rouge_similar": "#d62728", "too_short": "#ff7f0e", "too_long": "#8c564b",
    "blacklist": "#9467bd", "duplicate": "#1f77b4", "forbidden_prefix": "#e377c2",
    "punctuation_start": "#bcbd22", "non_ascii_start": "#17becf", "over_target": "#7f7f7f",
}


def reason_order(reasons: Iterable[str]) -> list[str]:
    """``reasons`` in the fixed order of ``REASON_COLORS``; others after, by name."""
    rank = {r: i for i, r in enumerate(REASON_COLORS)}
    return sorted(set(reasons), key=lambda r: (rank.get(r, len(rank)), r))


def reason_colors(reasons: Iterable[str]) -> dict[str, str]:
    """A Plotly ``color_discrete_map``: each reason's fixed colour; one not listed gets one from its name."""
    spare = px.colors.qualitative.Dark24
    return {r: REASON_COLORS.get(r) or spare[zlib.crc32(r.encode()) % len(spare)] for r in reasons}
