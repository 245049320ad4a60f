"""The Evaluate page's sections for the papers' experiments: ranked groups of judge scores (in the
Judge tab), length against judge score, and Self-Instruct's output-quality experiment. The numbers
and figures come from ``selfinstruct.evaluate`` and ``selfinstruct.compare``; this draws them."""

from __future__ import annotations

from typing import Sequence

import pandas as pd
import streamlit as st

from dashboard.state import run_key
from dashboard.text import md
from selfinstruct import compare
from selfinstruct.charts import png_available
from selfinstruct.evaluate import figures
from selfinstruct.evaluate import judge as J
from selfinstruct.evaluate.length import ALL, bucket_label, length_vs_score
from selfinstruct.responses import run_items
from selfinstruct.store import RunInfo, Store
from selfinstruct.store.evals import judges
from selfinstruct.store.responses import ResponseSet

PNG_NOTE = ("PNG: the camera button above the chart saves one from the browser (a PNG file download here "
            "needs the optional kaleido package, which is not installed).")


def export_buttons(fig, stem: str, key: str) -> None:
    """Download the figure as one offline HTML file, and as PNG where kaleido can draw it."""
    c1, c2 = st.columns(2)
    c1.download_button("Download HTML", fig.to_html(include_plotlyjs=True, full_html=True), f"{stem}.html",
                       "text/html", key=f"{key}.html", icon="⬇️")
    if png_available():
        c2.download_button("Download PNG", fig.to_image(format="png"), f"{stem}.png", "image/png",
                           key=f"{key}.png", icon="⬇️")
    else:
        c2.caption(PNG_NOTE)


def ranked_groups_section(store: Store, run: RunInfo, reference: str, others: Sequence[str], *, judge_names: Sequence[str],
                          judge: str, paired: bool, template: str) -> None:
    """Relative scores as the GPT-4 paper draws them: sorted bars, the reference at 100%, a panel per judge."""
    st.markdown("**Ranked groups**: each set's total score as a share of the reference's, best first.")
    picked = st.multiselect("Judges (one panel each)", list(judge_names), default=[judge],
                            key=run_key("ev.judge.ranked", run.id))
    groups = {j: J.relative_scores(store, run, reference, others, judge=j, paired=paired, template=template)
              for j in picked}
    if any(s.n for scores in groups.values() for s in scores):
        fig = figures.relative_figure(groups, reference)
        st.plotly_chart(fig, key="ev.judge.chart")
        export_buttons(fig, f"ranked-groups-{run.name}", "ev.judge.export")
    st.dataframe(pd.DataFrame([{"judge": j, "set": s.name, "n": s.n, "total": s.total,
                                "reference total": s.reference_total,
                                "relative %": None if s.ratio is None else round(100 * s.ratio, 1)}
                               for j, scores in groups.items() for s in scores]), hide_index=True)


def length_score_section(store: Store, run: RunInfo, sets: Sequence[ResponseSet]) -> None:
    """Answer length against judge score for the chosen sets and judge."""
    st.markdown("Do longer answers get better judge scores? \"Instruction Tuning with GPT-4\" finds that judges "
                "favour them. Each judged response's length (words; characters for scripts written without "
                "spaces) against its score, a least-squares trend, Pearson and Spearman correlations, and the "
                "mean score per length bucket (quantiles of the pooled lengths, so the buckets hold about "
                "equally many answers).")
    names = [s.name for s in sets]
    c1, c2, c3 = st.columns([3, 1, 1])
    chosen = c1.multiselect("Response sets", names, default=names, key=run_key("ev.length.sets", run.id))
    paired = c2.radio("Scores", ["alone", "pairwise"], horizontal=True, key="ev.length.mode") == "pairwise"
    buckets = int(c3.number_input("Length buckets", 1, 20, 4, key="ev.length.buckets"))
    used = sorted({j for j, _, _ in judges(store, [s.id for s in sets if s.name in chosen], paired=paired)})
    if not chosen or not used:
        st.info("No judge scores for these sets yet: run the judge in the Judge tab (or `evaluate judge`).")
        return
    judge = st.selectbox("Judge", used, key=run_key("ev.length.judge", run.id))
    ls = length_vs_score(store, run, chosen, judge=judge, paired=paired, buckets=buckets)
    st.dataframe(pd.DataFrame([{
        "set": n, "n": f.n, "Pearson r": None if f.pearson is None else round(f.pearson, 3),
        "Spearman ρ": None if f.spearman is None else round(f.spearman, 3),
        f"slope per 100 {ls.unit}": None if f.slope is None else round(100 * f.slope, 3),
    } for n, f in ls.fits.items()]), hide_index=True)
    for key, fig in figures.length_score_figures(ls).items():
        st.plotly_chart(fig, key=f"ev.length.{key}")
    last = len(ls.edges) - 2
    st.dataframe(pd.DataFrame([{"length": bucket_label(b, last=k == last),
                                **{f"{n} mean": None if ls.buckets[n][k].mean_score is None
                                   else round(ls.buckets[n][k].mean_score, 2) for n in ls.buckets},
                                **{f"{n} n": ls.buckets[n][k].n for n in ls.buckets}}
                               for k, b in enumerate(ls.buckets[ALL])]), hide_index=True)


def output_quality_section(store: Store, run: RunInfo, sets: Sequence[ResponseSet]) -> None:
    """Self-Instruct's data-quality experiment as guided steps on the Responses page."""
    st.markdown("Self-Instruct asks how much better its data would be with better outputs: it has a stronger "
                "model write the output of each kept instance again, and compares the new outputs with the "
                "original ones. Here that takes two steps on the **Responses** page:")
    st.markdown("1. **Answer**: pick the stronger model and a response set name (for example `strong-outputs`), "
                "and start. The job is resumable: start it again to go on.\n"
                "2. **Compare**: pick `original` first, then your set: output lengths, empty or refused answers, "
                "ROUGE-L of each new output against the original, and both side by side.")
    st.page_link("dashboard/screens/responses.py", label="Open the Responses page", icon="💬")
    st.markdown("The same in one command, which prints the comparison and writes it side by side:")
    st.code(f"python -m selfinstruct evaluate output-quality -w {store.path.name} --run {run.name} "
            "--name strong-outputs --lm openai --model gpt-4o --api-mode chat --out side-by-side.jsonl",
            language="bash")
    answered = [s for s in sets if s.kind == "answer"]
    if not answered:
        st.info("No answer set of this run yet: step 1 makes one.")
        return
    kept = len(run_items(store, run))
    stats = compare.response_set_stats(store, run)
    st.dataframe(pd.DataFrame([{
        "set": s.name, "model": s.model, "answered": f"{stats[s.name]['n']:,} of {kept:,}",
        "mean length": stats[s.name]["mean_length"], "original mean length": stats[s.name]["reference_mean_length"],
        "empty or refused": stats[s.name]["empty_or_refused"],
        "ROUGE-L vs original": stats[s.name]["rouge_vs_original_mean"],
    } for s in answered]), hide_index=True)
    st.caption(md(f"Lengths in {stats[answered[0].name]['unit']}; the Compare tab of the Responses page draws them."))
