"""The Evaluate page's HHH comparison: two response sets judged blind, one item at a time, on
helpful, honest and harmless; the results as bars and counts; a judge model and its agreement
with people. The logic is in ``selfinstruct.evaluate.hhh``; this draws it."""

from __future__ import annotations

from typing import Callable, Sequence

import pandas as pd
import streamlit as st

from dashboard.state import run_key
from dashboard.text import md
from dashboard.widgets import lm_form, long_text, task_text
from selfinstruct.config import LMConfig
from selfinstruct.evaluate.figures import hhh_figure
from selfinstruct.evaluate.hhh import (
    HHHItem,
    HHHPair,
    hhh_items,
    hhh_pair,
    hhh_summary,
    judge_hhh,
    next_unjudged,
    verdicts_of,
)
from selfinstruct.evaluate.review import HUMAN
from selfinstruct.lm.base import LM, LMError
from selfinstruct.prompts.hhh import CRITERIA, CRITERION_TEXT, HHH_TEMPLATE, VERDICTS
from selfinstruct.store import RunInfo, Store, StoreError
from selfinstruct.store.hhh import hhh_judgements, save_hhh
from selfinstruct.store.responses import ResponseSet

CHOICES = {"better": "A is better", "tie": "Tie", "worse": "B is better"}


def hhh_section(store: Store, run: RunInfo, sets: Sequence[ResponseSet], build_lm: Callable[[LMConfig], LM],
                progress_bar: Callable[[str], Callable[[int, int], None]]) -> None:
    """The whole section: pick two sets, judge the next item, run a judge, see the results."""
    st.markdown("Two response sets, answer by answer, without knowing which set wrote which: each item shows "
                "**Answer A** and **Answer B** in a random (seeded) order and sides. Say whether A is better, "
                "tied or worse on each of **helpful**, **honest** and **harmless**; every item is saved as you go, "
                "and the page opens at the next one to judge.")
    names = [s.name for s in sets]
    if len(names) < 2:
        st.info("The HHH comparison needs two response sets of this run: answer it with two models, or import "
                "their predictions, on the Import & answer tab.")
        return
    c1, c2, c3 = st.columns([2, 2, 1])
    first = c1.selectbox("Set 1 (counts are from its side)", names, index=0, key=run_key("ev.hhh.set1", run.id))
    second = c2.selectbox("Set 2", names, index=1, key=run_key("ev.hhh.set2", run.id))
    seed = int(c3.number_input("Order seed", 0, 1_000_000, 0, key="ev.hhh.seed"))
    if first == second:
        st.info("Pick two different sets.")
        return
    pair = hhh_pair(store, run, first, second)
    items = hhh_items(store, pair, seed)
    k = next_unjudged(items, hhh_judgements(store, pair.first.id, pair.second.id, HUMAN))
    if not items:
        st.info(f"No instance has an answer in both {first!r} and {second!r}.")
    elif k is None:
        st.success(f"All {len(items)} items are judged.")
    else:
        _judge_item(store, pair, items, k)
    _judge_model(store, run, pair, items, build_lm, progress_bar)
    _results(store, pair, len(items))


def _judge_item(store: Store, pair: HHHPair, items: Sequence[HHHItem], k: int) -> None:
    """Item ``k`` blind, and the three questions in one form (one save per item)."""
    item = items[k]
    st.progress(k / len(items), text=f"Item {k + 1} of {len(items)}")
    task_text(item.instruction, item.input)
    left, right = st.columns(2)
    with left:
        st.markdown("**Answer A**")
        long_text(item.answer_a)
    with right:
        st.markdown("**Answer B**")
        long_text(item.answer_b)
    with st.form("ev.hhh.form", border=True):
        picks = {c: st.radio(f"**{c.capitalize()}**: {CRITERION_TEXT[c]}", VERDICTS, index=None, horizontal=True,
                             format_func=CHOICES.__getitem__, key=f"ev.hhh.{c}.{item.instance_id}")
                 for c in CRITERIA}
        if st.form_submit_button("Save & next", type="primary", key="ev.hhh.save"):
            missing = [c for c, v in picks.items() if v is None]
            if missing:
                st.warning(f"Pick a verdict for {', '.join(missing)} too: nothing of this item was saved.")
            else:
                save_hhh(store, verdicts_of(pair, item, HUMAN, picks))
                st.rerun()


def _results(store: Store, pair: HHHPair, n_items: int) -> None:
    summary = hhh_summary(store, pair)
    if not summary.counts:
        return
    st.subheader("Results")
    first, second = pair.first.name, pair.second.name
    for rater, counts in summary.counts.items():
        st.markdown(f"**{md(rater)}**: {summary.judged[rater]:,} of {n_items:,} items judged")
        st.plotly_chart(hhh_figure(counts, first, second, rater), key=f"ev.hhh.chart.{rater}")
        st.dataframe(pd.DataFrame({
            "criterion": list(counts), f"{first} better": [o.win for o in counts.values()],
            "tie": [o.tie for o in counts.values()], f"{second} better": [o.lose for o in counts.values()],
            "n": [o.n for o in counts.values()],
        }), hide_index=True)
    for rater, ags in summary.agreement.items():
        st.markdown(f"**Human vs {md(rater)}**: agreement on the items both judged")
        st.dataframe(pd.DataFrame({
            "criterion": [a.about for a in ags], "n": [a.n for a in ags],
            "agreement %": [round(a.percent, 1) for a in ags],
            "Cohen's kappa": [None if a.kappa is None else round(a.kappa, 3) for a in ags],
        }), hide_index=True)


def _judge_model(store: Store, run: RunInfo, pair: HHHPair, items: Sequence[HHHItem],
                 build_lm: Callable[[LMConfig], LM], progress_bar: Callable[[str], Callable[[int, int], None]]) -> None:
    with st.expander("Let a judge model answer the three questions (each item in both orders)"):
        template = st.text_area("Judge prompt ({instruction}, {input}, {answer_a}, {answer_b})", HHH_TEMPLATE,
                                height=300, key="ev.hhh.template")
        cfg = lm_form("ev.hhh.lm")
        if st.button("Judge the pair", key="ev.hhh.run", disabled=not items):
            try:
                rep = judge_hhh(store, run, build_lm(cfg), pair, items, template=template,
                                on_progress=progress_bar("Judging"))
                st.success(f"{rep.judged:,} items judged in both orders, {rep.skipped:,} judged before, "
                           f"{rep.unreadable:,} verdicts unreadable.")
            except (ValueError, LMError, StoreError) as e:
                st.error(md(str(e)))
