"""Data: every instruction of a run with its verdict, reason and scores; pick one
to see its instances, the prompt it came from and the model's raw completion."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.state import current_run, data_version, follow_selection, open_store, run_key
from dashboard.widgets import ORIGIN_MARK, render_candidates
from dashboard.iterations import provenance
from dashboard.tables import instances_table, instruction_table

ROWS, ROW_PX = 25, 35  # the table shows this many rows before it scrolls (Streamlit's rows are 35 px high)
# What decides a verdict first, then the counts: at 1,400 px the columns up to "why" fit without scrolling.
COLUMNS = ("id", "verdict", "reason", "max_rouge", "instruction", "detail", "iteration", "origin", "classification",
           "instances", "instances_kept", "seq")

st.title("🔎 Data")
store = open_store()
run = current_run(store) if store is not None else None
if run is None:
    st.stop()


@st.cache_data(show_spinner="Loading the run…", max_entries=8)
def table(path: str, run_id: int, version: tuple):
    return instruction_table(open_store(path), run_id)


frame = table(str(store.path), run.id, data_version(store, run))
c1, c2, c3, c4 = st.columns([3, 1, 1, 2])
query = c1.text_input("Search instructions", key="data_q", placeholder="words to find")
verdict = c2.selectbox("Verdict", ["all", "keep", "drop"], key="data_v")
origins = ["all", *sorted(frame["origin"].unique())]
origin = c3.selectbox("Origin", origins, index=origins.index("machine") if "machine" in origins else 0, key="data_o",
                      help="Generated candidates by default; 'all' adds the seeds.")
reasons = sorted(r for r in frame["reason"].unique() if r)
reason = c4.multiselect("Drop reason", reasons, key="data_r")

shown = frame
if query:
    shown = shown[shown["instruction"].str.contains(query, case=False, regex=False)]
if verdict != "all":
    shown = shown[shown["verdict"] == verdict]
if origin != "all":
    shown = shown[shown["origin"] == origin]
if reason:
    shown = shown[shown["reason"].isin(reason)]
st.caption(f"{len(shown):,} of {len(frame):,} instructions · click a column header to sort, a row to read "
           "it in full below, with its reason and why")
# The detail panel follows an instruction id, not a row number: a filter change keeps it on the same
# instruction, or closes it when that instruction is filtered out.
shown_ids = [int(i) for i in shown["id"]]
pick_key, table_key = run_key("data_pick", run.id), run_key("data_table", run.id)  # per workspace and run
follow_selection(table_key, pick_key, shown_ids)
pick = st.dataframe(
    shown, hide_index=True, width="stretch", height=ROW_PX * (min(max(len(shown), 1), ROWS) + 1) + 3,
    on_select="rerun", selection_mode="single-row", key=table_key, column_order=COLUMNS,
    column_config={
        "id": st.column_config.NumberColumn("id", width=56),
        "verdict": st.column_config.TextColumn("verdict", width=64),
        "reason": st.column_config.TextColumn("reason", width=112, help="Why a candidate was dropped"),
        "instruction": st.column_config.TextColumn("instruction", width=300),
        "detail": st.column_config.TextColumn("why", width=300, help="The filter's evidence, in full below "
                                                                    "when the row is selected"),
        "max_rouge": st.column_config.NumberColumn("max ROUGE-L", format="%.3f", width=96),
        "iteration": st.column_config.NumberColumn("iteration", width=72),
        "instances_kept": st.column_config.NumberColumn("kept instances", width=110),
    },
)
picked = follow_selection(table_key, pick_key, shown_ids, pick.selection.rows)
if picked is None:
    st.stop()
row = shown.iloc[shown_ids.index(picked)]
st.divider()
st.subheader(f"Instruction {row['id']} · {ORIGIN_MARK.get(row['origin'], row['origin'])}")
st.text(row["instruction"])
inst = instances_table(store, int(row["id"]))
st.markdown("**Instances**")
st.dataframe(inst, hide_index=True, width="stretch")
if row["origin"] == "machine" and pd.notna(row["iteration"]):
    found = provenance(store, run.id, int(row["id"]), int(row["iteration"]))
    if found is not None:
        slot, cand = found
        left, right = st.columns(2)
        with left:
            st.markdown(f"**Prompt** (iteration {int(row['iteration'])}, prompt {slot.slot + 1})")
            st.code(slot.prompt, language=None, wrap_lines=True, height=320)
        with right:
            st.markdown(f"**Raw completion** · finish: {slot.finish_reason}")
            st.code(slot.completion, language=None, wrap_lines=True, height=320)
        render_candidates([cand], key="data_cand")
