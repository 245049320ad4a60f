"""Filters: move a slider and see at once what the run would keep, recomputed from
the stored candidates with no LM call (``selfinstruct.filter_views.replay``, greedy order
kept). Apply saves the setting as a named view for Analysis and Export. The first
visit builds the run's similarity graph under a progress bar, controls disabled."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import plotly.express as px
import streamlit as st

from dashboard.state import current_run, data_version, follow_selection, keep_widgets, kept_widgets, open_store, run_key
from dashboard.text import md
from dashboard.widgets import long_text, verdict_label
from selfinstruct.charts import reason_colors, reason_order
from selfinstruct.config import LIST_RULE, ConfigError, FilterConfig, RunConfig, items_to_text, text_to_items
from selfinstruct.filter_views import MIN_THRESHOLD, WhatIf, graph_ready, prepare_graph, save_view, view_settings

st.title("🎚️ Filters")
store = open_store()
run = current_run(store, kinds=("generate",)) if store is not None else None
if run is None:
    st.stop()
base = RunConfig.from_dict(run.config).filters
st.caption(f"Run **{md(run.name)}** · choose another in the sidebar")
if base.rouge_threshold < MIN_THRESHOLD:  # made outside the Runs form (which refuses it), e.g. on the command line
    st.warning(md(f"This run was made with ROUGE-L threshold {base.rouge_threshold:g}, below what the what-if "
                  f"can replay ({MIN_THRESHOLD}–1.0). The slider starts at {MIN_THRESHOLD:.2f}, so Kept differs "
                  "from the run's own verdicts even before you move anything; the run's verdicts themselves are "
                  "unchanged (see them on Data)."), icon="⚠️")


@st.cache_resource(show_spinner="Reading the run and its similarity graph…", max_entries=2)
def what_if(path: str, run_id: int, tokenizer: str, version: tuple) -> WhatIf:
    """The run's stored candidates, loaded once per data version; slider moves reuse them."""
    store = open_store(path)
    return WhatIf(store, store.run(run_id), tokenizer)


def lines(label: str, key: str, setting: str, help: str) -> list[str]:
    """A list setting, one item per line by the Runs form's rule (``config.text_to_items``);
    an unreadable line is named and the box's items are left out until it is fixed."""
    text = st.text_area(label, key=key, help=help + " " + LIST_RULE, height=140, disabled=off)
    try:
        return text_to_items(text, setting)
    except ConfigError as e:
        st.error(md(str(e)), icon="🚫")
        return []


TOGGLES = {
    "drop_punctuation_start": "Drop if it starts with punctuation",
    "drop_non_ascii_start": "Drop if it starts with a non-ASCII character",
    "drop_duplicates": "Drop exact duplicates",
    "drop_empty_output": "Instances: drop empty outputs",
    "drop_output_equals_input": "Instances: drop output = input",
    "drop_conflicting_outputs": "Instances: drop conflicting outputs",
    "drop_colon_ending": "Instances: drop text ending with ':'",
}


def widget_values(f: FilterConfig) -> dict[str, object]:
    """The sidebar widgets' values (by key suffix) that show filter setting ``f``."""
    return {
        ".rouge": min(1.0, max(MIN_THRESHOLD, float(f.rouge_threshold))),
        ".words": (min(f.min_words, 300), min(max(f.max_words, f.min_words), 300)),
        ".maxinst": min(max(f.max_instances, 1), 20),
        **{f".{name}": bool(getattr(f, name)) for name in TOGGLES},
        ".black": items_to_text(f.blacklist), ".prefix": items_to_text(f.forbidden_prefixes),
    }


def load_view() -> None:
    """Put a saved view's settings back into the widgets (a callback: it runs before they are drawn)."""
    name = st.session_state.get(f"{k}.load")
    if not name:
        return
    try:
        for suffix, value in widget_values(view_settings(store, run, name)).items():
            st.session_state[k + suffix] = value
        st.session_state[f"{k}.name"] = name
        st.session_state[f"{k}.note"] = f"Loaded view {name!r}."
    except ValueError as e:
        st.session_state[f"{k}.note"] = f"Cannot load view {name!r}: {e}"


def reset() -> None:
    for suffix, value in widget_values(base).items():
        st.session_state[k + suffix] = value


def build_graph() -> None:
    """Build (or read back) the run's similarity graph under a progress bar with counts and time left."""
    st.info("The what-if needs the run's similarity graph. It is built once and kept in the workspace "
            "(`python -m selfinstruct prepare` builds it ahead); the controls come alive when it is ready.",
            icon="⏳")
    bar = st.progress(0.0, text="Reading the run and its similarity graph…")
    prepare_graph(store, run, base.tokenizer, show=lambda share, text: bar.progress(share, text=text))


k = run_key("flt", run.id)  # per workspace and run: run 1 of another workspace starts afresh
defaults = widget_values(base) | {".name": "filtered"}
kept_widgets(k, defaults)  # this run's settings survive a visit to another page
version = data_version(store, run)
# First visit: nothing to compute until the graph is in memory. Asked once per data version (it counts the run's rows).
off = st.session_state.get(f"{k}.ready") != version and not graph_ready(store, run, base.tokenizer)
with st.sidebar:
    st.markdown("### Filter settings")
    views = store.views(run.id)
    if views:
        c1, c2 = st.columns([3, 2], vertical_alignment="bottom")
        c1.selectbox("Saved view", views, key=f"{k}.load", disabled=off)
        c2.button("Load view", key=f"{k}.loadbtn", on_click=load_view, width="stretch", disabled=off,
                  help="Put the view's settings back into the widgets below.")
        if note := st.session_state.pop(f"{k}.note", None):
            st.caption(md(note))
    rouge = st.slider("ROUGE-L threshold", MIN_THRESHOLD, 1.0, step=0.01, key=f"{k}.rouge", disabled=off,
                      help="Drop a candidate more similar than this to an instruction kept before it.")
    words = st.slider("Instruction length (words)", 0, 300, key=f"{k}.words", disabled=off,
                      help="Drop instructions shorter or longer than this.")
    max_inst = st.slider("Max instances per instruction", 1, 20, key=f"{k}.maxinst", disabled=off)
    flags = {name: st.toggle(label, key=f"{k}.{name}", disabled=off) for name, label in TOGGLES.items()}
    blacklist = lines("Blacklist words", f"{k}.black", "filters.blacklist", "One word or phrase per line.")
    prefixes = lines("Forbidden prefixes", f"{k}.prefix", "filters.forbidden_prefixes", "One prefix per line.")
    st.button("Reset to the run's settings", key=f"{k}.reset", width="stretch", on_click=reset, disabled=off)

keep_widgets(k, defaults)
if off:
    build_graph()
    st.rerun()  # now in memory: draw the controls live
st.session_state[f"{k}.ready"] = version
settings = replace(base, rouge_threshold=float(rouge), min_words=words[0], max_words=words[1],
                   max_instances=max_inst, blacklist=blacklist, forbidden_prefixes=prefixes, **flags)
result = what_if(str(store.path), run.id, settings.tokenizer, version).replay(settings)
n = len(result.rows)
if not n:
    st.info("This run has no generated candidates yet.", icon="ℹ️")
    st.stop()
stored_kept = sum(r.verdict == "keep" for r in result.rows)
inst_kept = sum(sum(v) for v in result.instance_keep.values())

m = st.columns(5)
m[0].metric("Candidates", f"{n:,}")
diff = result.kept - stored_kept
m[1].metric("Kept", f"{result.kept:,}", delta=f"{diff:+,} vs run" if diff else "same as run",
            delta_color="normal" if diff else "off", delta_arrow="auto" if diff else "off",  # no change, no arrow
            help="Kept under these settings, against the run's own verdicts.")
m[2].metric("Dropped", f"{n - result.kept:,}")
m[3].metric("Change verdict", f"{len(result.changed):,}")
m[4].metric("Instances kept", f"{inst_kept:,}")

order = reason_order(result.counts)  # one order and colour per reason, whatever the counts
counts = pd.DataFrame({"reason": order, "count": [result.counts[r] for r in order]})
st.plotly_chart(px.bar(counts, x="count", y="reason", orientation="h", color="reason", height=320,
                       color_discrete_map=reason_colors(order), category_orders={"reason": order},
                       title="Kept and dropped, by reason"), key="filter_counts")

st.markdown(f"**Examples that change verdict** ({len(result.changed):,}; first 200). Select a row to read it whole.")
ch = result.changed[:200]
table, pick, ids = f"{k}.changed", f"{k}.changed_pick", [result.rows[i].id for i in ch]
follow_selection(table, pick, ids)
# Fixed widths, the verdicts first: a long instruction is cut at its column's edge, never pushing them out of view.
event = st.dataframe(
    {"now": [verdict_label(result.keep[i], result.reason[i]) for i in ch],
     "run said": [verdict_label(result.rows[i].verdict == "keep", result.rows[i].reason) for i in ch],
     "why": [result.detail[i] for i in ch],
     "instruction": [result.rows[i].text for i in ch]},
    column_config={"now": st.column_config.TextColumn(width=150),
                   "run said": st.column_config.TextColumn(width=150),
                   "why": st.column_config.TextColumn(width=220),
                   "instruction": st.column_config.TextColumn(width=420, help="Select a row to read it whole")},
    hide_index=True, width="stretch", height=360, key=table, on_select="rerun", selection_mode="single-row",
)
chosen = follow_selection(table, pick, ids, event.selection.rows)
if chosen is not None:
    i = ch[ids.index(chosen)]
    with st.container(border=True):
        st.caption(md(f"Run said {verdict_label(result.rows[i].verdict == 'keep', result.rows[i].reason)} · "
                      f"now {verdict_label(result.keep[i], result.reason[i])}"
                      + (f" · {result.detail[i]}" if result.detail[i] else "")))
        long_text(result.rows[i].text)

with st.container(border=True):
    c1, c2, c3 = st.columns([3, 1, 1], vertical_alignment="bottom")
    name = c1.text_input("View name", key=f"{k}.name",
                         help="Analysis and Export can use the data set this view keeps.")
    exists = name.strip() in views
    replace_ok = c3.checkbox("Replace it", key=f"{k}.replace", disabled=not exists,
                             help="A view of this name exists: tick to overwrite it with these settings.")
    if c2.button("Apply: save view", type="primary", icon="💾", width="stretch"):
        if exists and not replace_ok:
            st.warning(md(f"A view named {name.strip()!r} exists already: ") +
                       "tick **Replace it** to overwrite it, or give another name. Nothing was saved.", icon="⚠️")
        else:
            try:
                save_view(store, run, name, settings)
                st.success(md(f"Saved view {name.strip()!r}: {result.kept:,} instructions kept."))
                views = store.views(run.id)
            except ValueError as e:
                st.error(md(str(e)))
    st.caption("Saved views: " + (md(", ".join(views)) if views else "none yet"))
