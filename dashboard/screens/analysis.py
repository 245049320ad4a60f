"""Analysis: the paper's figures and Table 1 for a run, a filtered view or the
seeds, alone or two side by side. Heavy numbers are cached per data version; a
data set seen first is prepared in a run of its own, its spaCy parse under a
progress bar with the controls disabled."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard.datasize import scaling_tab
from dashboard.diversity import diversity_tab
from dashboard.state import data_version, open_store, workspace_id
from dashboard.text import md
from selfinstruct import analysis, charts
from selfinstruct.store import RunInfo, Store
from selfinstruct.filter_views import view_tasks
from selfinstruct.progress_line import ProgressLine

AUTO_LIMIT = 5000  # above this many instructions, wait for a click before parsing
REDRAW_EVERY = 0.25  # seconds between redraws of the parse's progress bar
Key = tuple[str, int, str, str | None, tuple]  # what ``report`` is cached by: path, run id, what, view, version
# The headline tiles: (label, report key, help)
TILES = (("Instructions", "n_instructions", None),
         ("Instances", "n_instances", None),
         ("Root verbs", "distinct_verbs", "Distinct root verbs of the instructions"),
         ("ROUGE-L vs seeds", "rouge_vs_seeds_mean",
          "Mean ROUGE-L of each instruction with its most similar seed instruction"),
         ("Classification", "classification_share", "Share of classification tasks"),
         ("Vendi score", "vendi_score", "Effective number of distinct instructions (ROUGE-L kernel): see Diversity"))

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


def key_of(store: Store, run_id: int, what: str, view: str | None) -> Key:
    """The arguments ``report`` is cached by: they change whenever the data set's data does."""
    return str(store.path), run_id, what, view, data_version(store, store.run(run_id)) + (what, view)


@st.cache_data(show_spinner="Computing the analysis…", max_entries=16)
def report(path: str, run_id: int, what: str, view: str | None, version: tuple) -> dict[str, Any]:
    """Full report and lengths of one data set; ``version`` invalidates it when the data changes."""
    s = open_store(path)
    run = s.run(run_id)
    tasks = tasks_of(s, run, what, view)
    seeds = [t.instruction for t in s.tasks(run_id, origin="seed")]
    return {"report": analysis.full_report(tasks, seeds=seeds or None, cache=s),
            "lengths": analysis.lengths(tasks), "n": len(tasks), "n_seeds": len(seeds)}


@st.cache_resource(show_spinner=False)
def ready() -> set[Key]:
    """The reports computed in this server, drawn at once with live controls; any other is
    prepared first (``prepare``), in a run whose controls are disabled."""
    return set()


def prepare(store: Store, keys: list[Key]) -> None:
    """Parse the instructions of the data sets ``keys`` into the workspace's cache under a progress
    bar, then compute their reports: everything slow, while the controls are disabled."""
    st.info("First analysis of this data: the spaCy verb–noun parse runs once and is kept in the workspace "
            "(`python -m selfinstruct stats` or `prepare` does it ahead). The controls come alive when the "
            "analysis is ready.", icon="⏳")
    bar = st.progress(0.0, text="Reading the instructions…")
    texts = [t.instruction for k in keys for t in tasks_of(store, store.run(k[1]), k[2], k[3])]
    analysis.verb_noun(texts, cache=store, progress=ProgressLine(
        "Verb–noun parse", "instructions", lambda share, text: bar.progress(share, text=text),
        starting=" · starting spaCy…", every=REDRAW_EVERY))
    bar.progress(1.0, text="Verb–noun parse done · computing ROUGE-L overlap, lengths and Table 1…")
    for k in keys:
        report(*k)
        ready().add(k)


def tiles(r: dict[str, Any], per_row: int, base: dict[str, Any] | None = None) -> None:
    """The headline figures of report ``r`` in rows of ``per_row`` tiles (few enough per row that no
    label is cut off); with ``base``, each tile also shows its change from that report (none: no arrow)."""
    for start in range(0, len(TILES), per_row):
        for col, (label, key, help) in zip(st.columns(per_row), TILES[start:start + per_row]):
            changed = base is not None and base.get(key) != r.get(key)
            col.metric(label, analysis.figure(r, key) or "—", help=help, delta_color="off",
                       delta=analysis.figure_change(base, r, key) if changed else None)


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
busy = st.session_state.get(f"{an}.busy", False)  # this run prepares data: the controls are disabled
if busy:  # pin their values: a disabled widget drops a change that reached it in the run that found the work
    for key in (f"{an}.a", f"{an}.compare", f"{an}.b"):
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]
opts = sources(store)
labels = list(opts)
default = next((i for i, l in enumerate(labels) if opts[l][0] == st.session_state.get("run_id")), 0)
c1, c2, c3 = st.columns([3, 1, 3], vertical_alignment="bottom")
a_label = c1.selectbox("Data set", labels, index=default, key=f"{an}.a", disabled=busy)
others = [label for label in labels if label != a_label]  # a data set is never compared with itself
if not others:
    st.session_state[f"{an}.compare"] = False
compare = c2.toggle("Compare", key=f"{an}.compare", disabled=busy or not others)
if others:
    if st.session_state.get(f"{an}.b") not in others:
        # Set the new choice in the session state before the box is drawn: only then does the browser
        # show it (a dropped key would leave the box showing the old, now hidden, data set).
        after = [label for label in labels[labels.index(a_label) + 1:] if label != a_label]
        st.session_state[f"{an}.b"] = (after or others)[0]
    b_label = c3.selectbox("with", others, key=f"{an}.b", disabled=busy or not compare)
else:
    b_label = None
    c3.caption("This workspace holds one data set only: nothing to compare it with. Save a filtered view on "
               "**Filters**, or add a run, to compare two.")


picked = [a_label] + ([b_label] if compare and b_label else [])
keys = [key_of(store, *opts[label]) for label in picked]
todo = [k for k in keys if k not in ready()]
counts = [store.counts(k[1]) for k in todo]
big = any(c["seeds"] + c["generated"] > AUTO_LIMIT for c in counts)
if big and not st.session_state.get(f"{an}.go"):
    st.info(f"Over {AUTO_LIMIT:,} instructions: the first verb–noun parse takes a while (it is cached after).",
            icon="⏳")
    if st.button("Compute the analysis", type="primary"):
        st.session_state[f"{an}.go"] = True
        st.rerun()
    st.stop()
if todo or busy:
    if not busy:
        st.session_state[f"{an}.busy"] = True
        st.rerun()  # draw the controls disabled, then prepare
    try:
        prepare(store, todo)
    finally:  # done, failed or cut short (another page, another run): the controls come alive again
        st.session_state[f"{an}.busy"] = False
    st.rerun()

results = [report(*k) for k in keys]
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

percent = b is not None and a["n"] != b["n"]  # sets of unequal size: histograms in percent of each set
if b is None:
    tiles(a["report"], per_row=3)
else:  # side by side; the second set's tiles show its change from the first
    left, right = st.columns(2, border=True)
    for col, name, r, base in ((left, names[0], a, None), (right, names[1], b, a["report"])):
        with col:
            st.markdown(f"**{md(name)}**")
            tiles(r["report"], per_row=2, base=base)

series = list(zip(names, results))
tabs = st.tabs(["🌞 Verb–noun", "📏 Lengths", "🔁 ROUGE-L overlap", "📋 Table 1", "🌈 Diversity", "📈 Data size"])
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
    st.plotly_chart(charts.length_histograms(a["lengths"], b["lengths"] if b else None, names=names, groups=split,
                                             share=percent), key="lengths")
with tabs[2]:

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
                              share=percent), key="rouge_seeds")
    drawn = keep_drawn(series, lambda n, r: None if r["report"]["rouge_within_mean"] is not None else (
        f"**{md(n)}**: fewer than two instructions, so there is no overlap within the pool."))
    if drawn:
        st.plotly_chart(chart(charts.within_histogram, [(n, r["report"]["rouge_within_hist"]) for n, r in drawn],
                              share=percent), key="rouge_within")
        st.plotly_chart(chart(charts.pairwise_histogram_chart,
                              [(n, r["report"]["rouge_pairwise_hist"]) for n, r in drawn]), key="rouge_pairs")
with tabs[3]:
    table = pd.DataFrame(analysis.metric_table(*[r["report"] for r in results], names=names))
    st.caption("The paper's Table 1 and the figures beyond it" + ("; *diff* is the second set minus the first "
               "(shares in percentage points)." if b else "."))
    st.dataframe(table, width="stretch", height=35 * (len(table) + 1) + 3,
                 column_config={c: st.column_config.TextColumn(alignment="right") for c in table.columns})
with tabs[4]:
    diversity_tab([(n, r["report"]) for n, r in series])
with tabs[5]:
    scaling_tab(lambda: tasks_of(store, store.run(keys[0][1]), keys[0][2], keys[0][3]), a["n_seeds"], keys[0],
                key=f"{an}.scaling")
