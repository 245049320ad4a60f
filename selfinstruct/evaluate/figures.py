"""Plotly figures of evaluation results: pure functions of already-computed numbers."""

from __future__ import annotations

from typing import Mapping, Sequence

import plotly.graph_objects as go

from ..store.evals import GRADES
from .hhh import Outcomes
from .judge import RelativeScore
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


def relative_figure(scores: Sequence[RelativeScore], reference: str, judge: str) -> go.Figure:
    """Each model's total judge score as a percentage of the reference model's."""
    fig = go.Figure(go.Bar(
        y=[s.name for s in scores], x=[0 if s.ratio is None else 100 * s.ratio for s in scores], orientation="h",
        text=[("n/a" if s.ratio is None else f"{100 * s.ratio:.0f}%")
              + f" ({s.total:g} : {s.reference_total:g}, n={s.n})" for s in scores],
        textposition="auto", marker_color="#1e88e5",
    ))
    fig.add_vline(x=100, line_dash="dash", line_color="gray")
    fig.update_layout(title=f"Judge scores relative to {reference} (judge: {judge})",
                      xaxis_title=f"% of {reference}'s total score", yaxis_autorange="reversed")
    return fig


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
                      legend_orientation="h", legend_y=-0.2, height=320)
    return fig
