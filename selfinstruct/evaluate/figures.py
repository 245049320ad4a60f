"""Plotly figures of evaluation results: pure functions of already-computed numbers."""

from __future__ import annotations

from typing import Mapping, Sequence

import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..store.evals import GRADES
from .hhh import Outcomes
from .judge import RelativeScore
from .length import ALL, LengthScore, bucket_label
from .ratings import GRADE_TEXT

GRADE_COLORS = {"A": "#2e7d32", "B": "#9ccc65", "C": "#ffb74d", "D": "#e53935"}


def ratings_frame(counts: Mapping[str, Mapping[str, int]]) -> list[dict[str, object]]:
    """(model, grade, count, percent) rows behind the stacked bars."""
    rows = []
    for model, by_grade in counts.items():
        total = sum(by_grade.get(g, 0) for g in GRADES)
        for g in GRADES:
            c = by_grade.get(g, 0)
            rows.append({"model": model, "grade": g, "count": c, "percent": 100.0 * c / total if total else 0.0})
    return rows


def ratings_figure(counts: Mapping[str, Mapping[str, int]], title: str = "Human ratings of responses") -> go.Figure:
    """One stacked bar per model: the share of its responses rated A, B, C and D."""
    rows = ratings_frame(counts)
    models = list(counts)
    fig = go.Figure()
    for g in GRADES:
        mine = [r for r in rows if r["grade"] == g]
        fig.add_bar(
            y=models, x=[r["percent"] for r in mine], orientation="h", name=f"{g}: {GRADE_TEXT[g]}",
            marker_color=GRADE_COLORS[g], customdata=[r["count"] for r in mine],
            hovertemplate="%{y}<br>" + g + ": %{customdata} (%{x:.1f}%)<extra></extra>",
        )
    fig.update_layout(barmode="stack", title=title, xaxis_title="% of responses", xaxis_range=[0, 100],
                      yaxis_autorange="reversed", legend_orientation="h", legend_y=-0.2)
    return fig


def _percent_label(s: RelativeScore) -> str:
    return ("n/a" if s.ratio is None else f"{100 * s.ratio:.0f}%") + f" ({s.total:g} : {s.reference_total:g}, n={s.n})"


def relative_figure(groups: Mapping[str, Sequence[RelativeScore]], reference: str) -> go.Figure:
    """Ranked groups, as "Instruction Tuning with GPT-4" draws them: each set's total judge score
    as a percentage of the reference's total, bars sorted from best to worst with the reference
    itself at 100%; one panel per judge (``groups`` maps a judge to its scores). Sets with no
    score in common with the reference read "n/a" and sort last."""
    judges = list(groups)
    if not judges:
        raise ValueError("a ranked-groups chart needs the scores of at least one judge")
    fig = make_subplots(rows=len(judges), cols=1, shared_xaxes=True, vertical_spacing=0.12 / max(1, len(judges) - 1),
                        subplot_titles=[f"judge: {j}" for j in judges] if len(judges) > 1 else None)
    longest = 1
    for row, judge in enumerate(judges, start=1):
        ranked = sorted(groups[judge], key=lambda s: (s.ratio is None, -(s.ratio or 0.0), s.name))
        bars = [(reference, 100.0, f"100% ({reference})", "#9e9e9e")]
        bars += [(s.name, 0.0 if s.ratio is None else 100 * s.ratio, _percent_label(s), "#1e88e5") for s in ranked]
        bars.sort(key=lambda b: -b[1])  # stable: the reference takes its place among the others
        longest = max(longest, len(bars))
        fig.add_trace(go.Bar(
            y=[b[0] for b in bars], x=[b[1] for b in bars], text=[b[2] for b in bars], orientation="h",
            textposition="auto", marker_color=[b[3] for b in bars], name=judge, showlegend=False,
            hovertemplate="%{y}: %{text}<extra>" + judge + "</extra>",
        ), row=row, col=1)
        fig.update_yaxes(autorange="reversed", row=row, col=1)
        fig.add_vline(x=100, line_dash="dash", line_color="gray", row=row, col=1)
    title = f"Judge scores relative to {reference}" + (f" (judge: {judges[0]})" if len(judges) == 1 else "")
    fig.update_layout(title=title, height=max(300, 120 + 40 * longest * len(judges)))
    fig.update_xaxes(title_text=f"% of {reference}'s total score", row=len(judges), col=1)
    return fig


# ------------------------------------------------------------------ length vs score


def _color(i: int) -> str:
    palette = px.colors.qualitative.Plotly
    return palette[i % len(palette)]


def length_score_figures(ls: LengthScore) -> dict[str, go.Figure]:
    """The three views of ``length.length_vs_score``, keyed by a file-friendly name: the scatter
    with least-squares lines, Pearson and Spearman per set (n in the labels), and the mean score
    per length bucket."""
    sets = [n for n in ls.lengths if n != ALL]
    mode = "pairwise, both orders averaged" if ls.paired else "scored alone"
    scatter = go.Figure()
    for i, name in enumerate(sets):
        scatter.add_trace(go.Scatter(x=ls.lengths[name], y=ls.scores[name], mode="markers", name=name,
                                     marker={"color": _color(i), "opacity": 0.6}, legendgroup=name))
    for i, name in enumerate(sets + ([ALL] if len(sets) > 1 else [])):
        f, xs = ls.fits[name], ls.lengths[name]
        if f.slope is None or f.intercept is None:
            continue
        ends = [min(xs), max(xs)]
        scatter.add_trace(go.Scatter(
            x=ends, y=[f.intercept + f.slope * x for x in ends], mode="lines", legendgroup=name,
            name=f"{name}: trend ({f.slope:+.3g} per {ls.unit[:-1]})",
            line={"color": "black" if name == ALL else _color(i), "dash": "dash"}))
    scatter.update_layout(title=f"Judge score against answer length ({ls.judge}, {mode})",
                          xaxis_title=f"answer length ({ls.unit})", yaxis_title="judge score (1-10)")

    labels = [f"{n} (n={f.n})" for n, f in ls.fits.items()]
    corr = go.Figure()
    for i, (key, title) in enumerate((("pearson", "Pearson r"), ("spearman", "Spearman ρ"))):
        values = [getattr(f, key) for f in ls.fits.values()]
        corr.add_trace(go.Bar(x=labels, y=[0 if v is None else v for v in values], name=title, marker_color=_color(i),
                              text=["n/a" if v is None else f"{v:.2f}" for v in values], textposition="auto"))
    corr.update_layout(title=f"Correlation of answer length ({ls.unit}) and judge score", barmode="group",
                       yaxis_range=[-1, 1], yaxis_title="correlation")

    by_bucket = go.Figure()
    for i, (name, bs) in enumerate(ls.buckets.items()):
        by_bucket.add_trace(go.Scatter(
            x=[bucket_label(b, last=k == len(bs) - 1) for k, b in enumerate(bs)],
            y=[b.mean_score for b in bs], text=[f"n={b.n}" for b in bs], mode="lines+markers", name=name,
            line={"color": "black" if name == ALL else _color(i), "dash": "dash" if name == ALL else "solid"},
            hovertemplate="%{x}: mean %{y:.2f} (%{text})<extra>" + name + "</extra>"))
    by_bucket.update_layout(title=f"Mean judge score per length bucket (quantiles of {ls.unit})",
                            xaxis_title=f"answer length ({ls.unit})", yaxis_title="mean judge score")
    return {"length_vs_score": scatter, "length_score_correlation": corr, "score_by_length_bucket": by_bucket}


HHH_COLORS = {"win": "#2e7d32", "tie": "#bdbdbd", "lose": "#e53935"}


def hhh_figure(counts: Mapping[str, Outcomes], first: str, second: str, rater: str = "human") -> go.Figure:
    """One stacked bar per HHH criterion: the share of ``first``'s answers judged better than,
    as good as, or worse than ``second``'s (counts in the hover and the labels)."""
    fig = go.Figure()
    for outcome, label in (("win", f"{first} better"), ("tie", "tie"), ("lose", f"{second} better")):
        got = [getattr(o, outcome) for o in counts.values()]
        share = [100.0 * g / o.n if o.n else 0.0 for g, o in zip(got, counts.values())]
        fig.add_bar(y=list(counts), x=share, orientation="h", name=label, marker_color=HHH_COLORS[outcome],
                    text=[str(g) if g else "" for g in got], textposition="inside", customdata=got,
                    hovertemplate="%{y}: " + label + " %{customdata} (%{x:.1f}%)<extra></extra>")
    n = max((o.n for o in counts.values()), default=0)
    fig.update_layout(barmode="stack", title=f"{first} vs {second}: HHH comparison by {rater} (n={n})",
                      xaxis_title="% of judged items", xaxis_range=[0, 100], yaxis_autorange="reversed",
                      legend_orientation="h", legend_y=-0.2, legend_traceorder="normal", height=320)
    return fig
