"""Responses: re-answer the chosen run with another model, translate it, and compare
response sets side by side ("Instruction Tuning with GPT-4").

Jobs run on background threads (``dashboard.jobs.BatchJob``) kept
per server, so a reload or a second tab sees the same progress; stopping ends
after the batch in flight, and starting the same job again resumes it.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from dashboard.state import current_run, data_version, open_store, registry, run_key, workspace_path
from dashboard.text import compact, md
from dashboard.widgets import lm_form
from selfinstruct import compare
from selfinstruct.config import LMConfig
from selfinstruct.costs import money
from selfinstruct.lm.base import LMError
from selfinstruct.responses import (
    AnswerSettings,
    TranslateSettings,
    answer_set,
    plan_answers,
    plan_translation,
    resolve_language,
    translate_run,
)
from selfinstruct.store import Store
from dashboard.jobs import BatchJob
from selfinstruct.store.responses import answered_instance_ids, response_sets


POLL_S = 1.0

st.title("💬 Responses")
store = open_store()
run = current_run(store) if store is not None else None
if run is None:
    st.stop()
st.caption(f"Run **{md(run.name)}** · {run.kind} · language {md(run.language)}")


@st.cache_resource(show_spinner=False)
def jobs() -> dict[tuple[str, int, str], BatchJob]:
    """Answer/translate jobs of this server, one per (workspace, run, kind): a translate job
    never hides the answer job's progress."""
    return {}


def scope(prefix: str) -> tuple[str | None, bool, int | None]:
    """(view, include seeds, limit): which part of the run a job works on."""
    c = st.columns(3)
    view = None
    if run.kind == "generate":
        views = store.views(run.id)
        view = c[0].selectbox("Filtered view", [None, *views], key=run_key(f"{prefix}.view", run.id),
                              format_func=lambda v: "stored verdicts" if v is None else v)
        seeds = c[1].checkbox("Include seed tasks", key=f"{prefix}.seeds")
    else:
        seeds = False
    limit = int(c[2].number_input("First N records (0: all)", 0, 10_000_000, 0, key=f"{prefix}.limit"))
    return view, seeds, limit or None


def start(kind: str, label: str, cfg: LMConfig, work) -> None:
    key = (workspace_path(), run.id, kind)
    try:
        lm = registry().lm(cfg, api_key=st.session_state.get("api_key") if cfg.backend == "openai" else None)
    except (ValueError, LMError) as e:
        st.error(md(f"Cannot use the model: {e}"))
        return
    path = str(store.path)
    jobs()[key] = BatchJob(label, lambda on_progress, should_stop: work(Store(path), lm, on_progress,
                                                                            should_stop)).start()


KINDS = ("answer", "translate")
busy = {kind: bool((j := jobs().get((workspace_path(), run.id, kind))) and j.running) for kind in KINDS}


@st.fragment(run_every=POLL_S if any(busy.values()) else None)
def progress_panel(kind: str) -> None:
    """The progress of this run's ``kind`` job, shown in that job's own tab."""
    j = jobs().get((workspace_path(), run.id, kind))
    if j is None:
        return
    if busy[kind] and not j.running:
        st.rerun()  # finished: redraw the page (sets, buttons)
    snap = j.snapshot()
    p = snap.progress
    st.subheader(f"Job: {j.label}" + (" · running" if j.running else ""))
    st.progress(p.done / p.total if p.total else 0.0, text=f"{p.done:,} of {p.total:,} done")
    m = st.columns(5)
    m[0].metric("LM calls", f"{p.calls:,}")
    m[1].metric("From cache", f"{p.cached:,}")
    m[2].metric("Tokens", compact(p.tokens_in + p.tokens_out), help=f"{p.tokens_in:,} in + {p.tokens_out:,} out")
    m[3].metric("Cost", money(p.cost))
    m[4].metric("Errors", f"{p.errors:,}")
    if j.running:
        if st.button("Stop after this batch", icon="⏹️", key=f"job.stop.{kind}"):
            j.stop()
    elif snap.failure:
        st.error(md(snap.failure), icon="🚨")
    elif snap.result is not None:
        r = snap.result
        if r.error:
            st.error(md(f"{r.error}. What was done is saved: start the same job again to resume."), icon="🚨")
        elif r.stopped == "budget":
            st.warning("Stopped: the budget is spent. Raise it and start again to go on.", icon="💰")
        elif r.stopped:
            st.info("Stopped. Start the same job again to resume.", icon="⏸️")
        else:
            st.success("Finished.", icon="✅")


answer_tab, translate_tab, compare_tab = st.tabs(["Answer", "Translate", "Compare"])

with answer_tab:
    st.markdown("Answer every kept (instruction, input) of this run with another model. The answers form a "
                "**response set** beside the original outputs; answered instances are skipped on resume.")
    cfg = lm_form("ans", costs=True)
    view, seeds, limit = scope("ans")
    c = st.columns(4)
    name = c[0].text_input("Response set name", "answers", key="ans.name").strip()
    max_tokens = int(c[1].number_input("Max tokens", 1, 32768, 512, key="ans.maxtok"))
    temperature = float(c[2].number_input("Temperature", 0.0, 2.0, 0.0, 0.1, key="ans.temp"))
    max_cost = float(c[3].number_input("Stop at $ (0: no limit)", 0.0, 1e6, 0.0, key="ans.cost"))
    system = st.text_area("System text (optional)", key="ans.system", height=68).strip() or None
    settings = AnswerSettings(mode=cfg.api_mode, system=system, max_tokens=max_tokens, temperature=temperature)
    try:
        plan = plan_answers(store, run, cfg, name=name, settings=settings, view=view, include_seeds=seeds, limit=limit)
        st.caption(f"{len(plan.items):,} instances, {plan.done:,} already answered · "
                   f"estimate: {md(plan.estimate.describe())}")
    except ValueError as e:
        st.error(md(str(e)))
        plan = None
    if st.button("Start answering", icon="▶️", type="primary", disabled=busy["answer"] or not plan or not plan.todo
                 or not name, key="ans.go"):
        budget = max_cost or None
        start("answer", f"answer → {name}", cfg, lambda s, lm, p, stop: answer_set(
            s, run, lm, cfg, name=name, settings=settings, items=plan.items, max_cost=budget, on_progress=p,
            should_stop=stop))
        st.rerun()
    progress_panel("answer")

with translate_tab:
    st.markdown("Translate this run's kept instructions and inputs (optionally outputs) into a new run of kind "
                "**translation**, each record linked to its source. Answering that run gives a translated set.")
    cfg_t = lm_form("tr", costs=True)
    view_t, seeds_t, limit_t = scope("tr")
    c = st.columns(4)
    to = c[0].text_input("Target language (code or name)", "zh", key="tr.to")
    outputs = c[1].checkbox("Translate outputs too", key="tr.outputs")
    max_tokens_t = int(c[2].number_input("Max tokens", 1, 32768, 1024, key="tr.maxtok"))
    max_cost_t = float(c[3].number_input("Stop at $ (0: no limit)", 0.0, 1e6, 0.0, key="tr.cost"))
    settings_t = TranslateSettings(mode=cfg_t.api_mode, max_tokens=max_tokens_t, outputs=outputs)
    try:
        code, lang = resolve_language(to)
        plan_t = plan_translation(store, run, cfg_t, to=to, name=None, settings=settings_t, view=view_t,
                                  include_seeds=seeds_t, limit=limit_t)
        st.caption(f"{len(plan_t.items):,} records into {md(lang)} as run `{plan_t.name}`, {plan_t.done:,} already "
                   f"translated · estimate: {md(plan_t.estimate.describe())}")
    except ValueError as e:
        st.error(md(str(e)))
        plan_t = None
    if st.button("Start translating", icon="▶️", type="primary", disabled=busy["translate"] or not plan_t
                 or not plan_t.todo, key="tr.go"):
        budget_t = max_cost_t or None
        start("translate", f"translate → {code}", cfg_t, lambda s, lm, p, stop: translate_run(
            s, run, lm, cfg_t, to=to, settings=settings_t, view=view_t, include_seeds=seeds_t, records=plan_t.items,
            max_cost=budget_t, on_progress=p, should_stop=stop))
        st.rerun()
    progress_panel("translate")



@st.cache_data(show_spinner="Comparing…", max_entries=8)
def comparison(path: str, run_id: int, names: tuple[str, ...], version: tuple) -> dict[str, Any]:
    s = open_store(path)
    return compare.compare_sets(s, s.run(run_id), list(names))


with compare_tab:
    sets = response_sets(store, run.id)
    if not sets:
        st.info("No response set yet: answer this run first.", icon="ℹ️")
    else:
        stats = compare.response_set_stats(store, run)
        st.dataframe(pd.DataFrame(stats).T, width="stretch")
        options = [compare.ORIGINAL, *(s.name for s in sets)]
        picked = st.multiselect("Compare (the first is the base for ROUGE-L)", options,
                                default=options[:2], key=run_key("cmp.names", run.id))
        if len([n for n in picked if n != compare.ORIGINAL]) >= 1:
            counts = tuple(len(answered_instance_ids(store, s.id)) for s in sets)
            cmp = comparison(str(store.path), run.id, tuple(picked), data_version(store, run) + counts)
            st.caption(f"{cmp['n']:,} instances answered by every chosen set · lengths in {cmp['unit']} · "
                       f"ROUGE-L tokenizer: {cmp['tokenizer']} · {md(cmp['verb_noun_note'])}")
            figs = compare.comparison_figures(cmp)
            for key, fig in figs.items():
                st.plotly_chart(fig, key=f"cmp.{key}")
            if cmp["verb_noun"] is not None and "verb_noun_pairs" not in figs:
                st.info("No verb–noun pair was found in these outputs, so there is no verb–noun chart.", icon="ℹ️")
            rows = compare.side_by_side(store, run, picked)
            if rows:
                st.markdown("**Side by side**")
                st.dataframe(pd.DataFrame(rows).drop(columns="instance_id"), hide_index=True, width="stretch")
        else:
            st.caption("Pick at least one response set.")
