"""Analysis: the paper's figures and Table 1 for a run, a filtered view or the
seeds, alone or two side by side. Heavy numbers are cached per data version."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from pages.common import data_version, ensure_router, md, open_store, workspace_id
from selfinstruct import analysis, charts
from selfinstruct.store import RunInfo, Store
from selfinstruct.views import view_tasks

AUTO_LIMIT = 5000  # above this many instructions, wait for a click before parsing

ensure_router()
st.title("📊 Analysis")
store = open_store()
if store is None or not store.runs():
    st.info("No run yet: create one on the **Runs** page.", icon="ℹ️")
    st.stop()


def sources(store: Store) -> dict[str, tuple[int, str, str | None]]:
    """Label -> (run id, what, view): every data set this workspace can analyse."""
    out: dict[str, tuple[int, str, str | None]] = {}
    for r in store.runs():
        out[f"{r.name} · kept"] = (r.id, "kept", None)
        for v in store.views(r.id) if r.kind == "generate" else []:
            out[f"{r.name} · view {v}"] = (r.id, "view", v)
        if r.kind == "generate":
            out[f"{r.name} · seeds"] = (r.id, "seeds", None)
    return out


def tasks_of(store: Store, run: RunInfo, what: str, view: str | None) -> list:
    if what == "seeds":
        return store.tasks(run.id, origin="seed")
    return view_tasks(store, run, view)


@st.cache_data(show_spinner="Computing the analysis…", max_entries=16)
def report(path: str, run_id: int, what: str, view: str | None, version: tuple) -> dict[str, Any]:
    """Full report and lengths of one data set; ``version`` invalidates it when the data changes."""
    s = open_store(path)
    run = s.run(run_id)
    tasks = tasks_of(s, run, what, view)
    seeds = [t.instruction for t in s.tasks(run_id, origin="seed")]
    return {"report": analysis.full_report(tasks, seeds=seeds or None, cache=s),
            "lengths": analysis.lengths(tasks), "n": len(tasks), "n_seeds": len(seeds)}


def keep_drawn(series: list[tuple[str, Any]], empty_note) -> list[tuple[str, Any]]:
    """The (name, data) pairs worth a chart; an info note, from ``empty_note(name, data)``, for
    each of the others (None: draw it), so no empty chart is ever drawn."""
    drawn = []
    for name, data in series:
        note = empty_note(name, data)
        if note:
            st.info(note, icon="ℹ️")
        else:
            drawn.append((name, data))
    return drawn


def chart(draw, drawn: list[tuple[str, Any]], **kwargs) -> Any:
    """``draw(a, b, names=...)`` over the one or two data sets in ``drawn``."""
    return draw(drawn[0][1], drawn[1][1] if len(drawn) > 1 else None, names=[n for n, _ in drawn], **kwargs)


an = f"an.{workspace_id()}"  # the page's widgets, per workspace: another one starts afresh
opts = sources(store)
labels = list(opts)
default = next((i for i, l in enumerate(labels) if opts[l][0] == st.session_state.get("run_id")), 0)
c1, c2, c3 = st.columns([3, 1, 3], vertical_alignment="bottom")
a_label = c1.selectbox("Data set", labels, index=default, key=f"{an}.a")
others = [label for label in labels if label != a_label]  # a data set is never compared with itself
if not others:
    st.session_state[f"{an}.compare"] = False
compare = c2.toggle("Compare", key=f"{an}.compare", disabled=not others)
if others:
    if st.session_state.get(f"{an}.b") not in others:
        # Set the new choice in the session state before the box is drawn: only then does the browser
        # show it (a dropped key would leave the box showing the old, now hidden, data set).
        after = [label for label in labels[labels.index(a_label) + 1:] if label != a_label]
        st.session_state[f"{an}.b"] = (after or others)[0]
    b_label = c3.selectbox("with", others, key=f"{an}.b", disabled=not compare)
else:
    b_label = None
    c3.caption("This workspace holds one data set only: nothing to compare it with. Save a filtered view on "
               "**Filters**, or add a run, to compare two.")

picked = [a_label] + ([b_label] if compare and b_label else [])
counts = [store.counts(opts[label][0]) for label in picked]
big = any(c["seeds"] + c["generated"] > AUTO_LIMIT for c in counts)
if big and not st.session_state.get(f"{an}.go"):
    st.info(f"Over {AUTO_LIMIT:,} instructions: the first verb–noun parse takes a while (it is cached after).",
            icon="⏳")
    if st.button("Compute the analysis", type="primary"):
        st.session_state[f"{an}.go"] = True
        st.rerun()
    st.stop()

results = []
for label in picked:
    rid, what, view = opts[label]
    run = store.run(rid)
    results.append(report(str(store.path), rid, what, view, data_version(store, run) + (what, view)))
empty = [label for label, r in zip(picked, results) if not r["n"]]
for label in empty:
    st.info(f"**{md(label)}** holds no instructions yet, so there is nothing to chart: generate some on "
            "**Generate**, or loosen the filters of the view.", icon="ℹ️")
if picked[0] in empty:
    st.stop()
if len(picked) > 1 and picked[1] in empty:
    picked, results = picked[:1], results[:1]  # draw the data set that has instructions alone
names = picked
a, b = results[0], (results[1] if len(results) > 1 else None)

# two rows of three, so no label or value is cut off on a narrow window
top, bottom = st.columns(3), st.columns(3)
ra = a["report"]
top[0].metric("Instructions", f"{ra['n_instructions']:,}")
top[1].metric("Instances", f"{ra['n_instances']:,}")
top[2].metric("Root verbs", f"{ra['distinct_verbs'] or 0:,}", help="Distinct root verbs of the instructions")
bottom[0].metric("ROUGE-L vs seeds", "—" if ra["rouge_vs_seeds_mean"] is None else f"{ra['rouge_vs_seeds_mean']:.3f}",
                 help="Mean ROUGE-L of each instruction with its most similar seed instruction")
bottom[1].metric("Classification", "—" if ra["classification_share"] is None else f"{ra['classification_share']:.0%}",
                 help="Share of classification tasks")

series = list(zip(names, results))
tabs = st.tabs(["🌞 Verb–noun", "📏 Lengths", "🔁 ROUGE-L overlap", "📋 Table 1"])
with tabs[0]:
    drawn = keep_drawn([(n, r["report"]) for n, r in series], lambda n, r: None if r["top_verbs"] else (
        f"**{md(n)}**: no English verb–noun structure found, so there is no sunburst (the verb–noun "
        "analysis covers English only)."))
    if drawn:
        st.plotly_chart(chart(charts.sunburst, drawn), key="sunburst", height=620)
with tabs[1]:
    groups = st.segmented_control("Split by", ["all", "classification / not", "seed / machine"], default="all",
                                  key=f"{an}.groups")
    split = {"classification / not": ("classification", "non_classification"),
             "seed / machine": ("seed", "machine")}.get(groups or "all", ("all",))
    st.plotly_chart(charts.length_histograms(a["lengths"], b["lengths"] if b else None, names=names, groups=split),
                    key="lengths")
with tabs[2]:
    share = bool(b)

    def vs_seeds_note(n: str, r: dict) -> str | None:
        if r["report"]["rouge_vs_seeds_mean"] is not None:
            return None
        if not r["n_seeds"]:
            return (f"**{md(n)}**: no seed instructions to compare with (an import or a translation has none), "
                    "so there is no overlap-with-seeds chart.")
        return f"**{md(n)}**: no generated instruction to compare with the seeds, so there is no overlap-with-seeds chart."

    drawn = keep_drawn(series, vs_seeds_note)
    if drawn:
        st.plotly_chart(chart(charts.overlap_histogram, [(n, r["report"]["rouge_vs_seeds_hist"]) for n, r in drawn],
                              share=share), key="rouge_seeds")
    drawn = keep_drawn(series, lambda n, r: None if r["report"]["rouge_within_mean"] is not None else (
        f"**{md(n)}**: fewer than two instructions, so there is no overlap within the pool."))
    if drawn:
        st.plotly_chart(chart(charts.within_histogram, [(n, r["report"]["rouge_within_hist"]) for n, r in drawn],
                              share=share), key="rouge_within")
        st.plotly_chart(chart(charts.pairwise_histogram_chart,
                              [(n, r["report"]["rouge_pairwise_hist"]) for n, r in drawn]), key="rouge_pairs")
with tabs[3]:
    st.code(analysis.format_table1(*[r["report"] for r in results], names=names), language=None)
    scal = [analysis.scalar_metrics(r["report"]) for r in results]
    frame = pd.DataFrame(scal, index=names).T
    if b:
        frame["diff"] = frame[names[1]] - frame[names[0]] if names[0] != names[1] else 0.0
    st.dataframe(frame, width="stretch")
