"""Plotly figures of evaluation results: pure functions of already-computed numbers."""

from __future__ import annotations

from typing import Mapping, Sequence

import plotly.graph_objects as go

from ..store.evals import GRADES
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
