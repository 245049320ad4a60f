"""Evaluate: review a run's quality, rate and judge models' responses, score ROUGE-L,
and bring in evaluation sets and predictions. The logic is in ``selfinstruct.evaluate``."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.state import current_run, open_store, registry, run_key
from dashboard.text import md
from dashboard.widgets import lm_form, long_text, task_text
from selfinstruct.config import LMConfig
from selfinstruct.evaluate import figures
from selfinstruct.evaluate import judge as J
from selfinstruct.evaluate.evalsets import EvalSetError, import_eval_bytes
from selfinstruct.evaluate.ratings import GRADE_TEXT, grade_counts, next_unrated, rating_queue
from selfinstruct.evaluate.review import (
    QUESTIONS,
    REVIEW_TEMPLATE,
    judge_review,
    next_unanswered,
    review_sample,
    review_summary,
)
from selfinstruct.evaluate.rouge import PredictionFileError, import_prediction_sets, model_name, parse_predictions, score_sets
from selfinstruct.lm.base import LM, LMError
from selfinstruct.store import StoreError
from selfinstruct.store.evals import GRADES, ReviewAnswer, judges, ratings, review_answers, save_rating, save_review_answers
from selfinstruct.store.responses import answered_instance_ids, response_sets
from dashboard.tables import judge_table
from dashboard.experiments import length_score_section, output_quality_section, ranked_groups_section
from dashboard.hhh import hhh_section


st.title("⚖️ Evaluate")
store = open_store()
if store is None:
    st.stop()
run = current_run(store)
if run is None:
    st.stop()
st.caption(f"Run **{md(run.name)}** · {run.kind}")


def build_lm(cfg: LMConfig) -> LM:
    """The model for ``cfg``, built once per server (loading the embedded one takes a moment)."""
    return registry().lm(cfg, api_key=st.session_state.get("api_key") if cfg.backend == "openai" else None)


@st.cache_data(show_spinner="Scoring ROUGE-L…", max_entries=16)
def rouge_table(path: str, run_id: int, names: tuple[str, ...], stem: bool, version: tuple[int, ...]) -> list:
    """ROUGE-L per set, recomputed only when the sets' sizes (``version``) change."""
    s = open_store(path)
    return score_sets(s, s.run(run_id), list(names), stem=stem)


def progress_bar(label: str):
    bar = st.progress(0.0, text=label)
    return lambda done, total: bar.progress(done / max(total, 1), text=f"{label}: {done:,}/{total:,}")


sets = response_sets(store, run.id)
set_names = [s.name for s in sets]
review_tab, rate_tab, hhh_tab, judge_tab, rouge_tab, import_tab, length_tab, quality_tab = st.tabs(
    ["Quality review", "Rate responses", "HHH comparison", "Judge", "ROUGE-L", "Import & answer", "Length vs score",
     "Output quality"])

# ------------------------------------------------------------------ quality review
with review_tab:
    st.markdown("The paper's four questions over a random sample of the run's instances, one at a time. "
                "Answers are saved as you go; come back any time to go on. Keys: **Y** yes, **N** no.")
    c1, c2 = st.columns(2)
    n = int(c1.number_input("Sample size", 1, 10_000, 200, key="ev.review.n"))
    seed = int(c2.number_input("Sample seed", 0, 1_000_000, 0, key="ev.review.seed"))
    items = review_sample(store, run, n, seed)
    where = next_unanswered(items, review_answers(store, run.id, "human"))
    if not items:
        st.info("This run has no kept instances to review yet.")
    elif where is None:
        st.success(f"All {len(items)} sampled instances are reviewed.")
    else:
        i, q = where
        item = items[i]
        st.progress(i / len(items), text=f"Instance {i + 1} of {len(items)} · question {q} of 4")
        # long text scrolls in a box of its own, so the Yes/No buttons below stay in view
        st.markdown("**Instruction**")
        long_text(item.instruction)
        st.markdown("**Input**")
        long_text(item.input or "(empty)")
        st.markdown("**Output**")
        long_text(item.output)
        st.markdown(f"#### Q{q}. {QUESTIONS[q - 1]}")

        def answer(yes: bool, instance_id: int = item.instance_id, question: int = q) -> None:
            save_review_answers(store, [ReviewAnswer(run.id, instance_id, "human", question, yes, None)])

        b1, b2, _ = st.columns([1, 1, 6])
        b1.button("Yes", key="review_yes", shortcut="Y", type="primary", on_click=answer, args=(True,))
        b2.button("No", key="review_no", shortcut="N", on_click=answer, args=(False,))

    summary = review_summary(store, run)
    if summary.rates:
        st.subheader("Results")
        table = {"question": [f"Q{k}. {t}" for k, t in enumerate(QUESTIONS, start=1)]}
        for rater, rates in summary.rates.items():
            table[f"{rater} (Yes %)"] = [round(r.percent, 1) for r in rates]
            table[f"{rater} (n)"] = [r.n for r in rates]
        st.dataframe(pd.DataFrame(table), hide_index=True, width="stretch")
        for rater, ags in summary.agreement.items():
            st.markdown(f"**Human vs {md(rater)}**: agreement on the instances both answered")
            st.dataframe(pd.DataFrame({
                "question": [f"Q{a.about}" for a in ags], "n": [a.n for a in ags],
                "agreement %": [round(a.percent, 1) for a in ags],
                "Cohen's kappa": [None if a.kappa is None else round(a.kappa, 3) for a in ags],
            }), hide_index=True, width="stretch")

    with st.expander("Let a judge model answer the four questions for this sample"):
        template = st.text_area("Judge prompt ({instruction}, {input}, {output})", REVIEW_TEMPLATE, height=300,
                                key="ev.review.template")
        review_cfg = lm_form("ev.review.lm")
        if st.button("Judge the sample", key="ev.review.run", disabled=not items):
            try:
                rep = judge_review(store, run, build_lm(review_cfg), items, template=template, on_progress=progress_bar("Judging"))
                st.success(f"{rep.answered:,} answers stored, {rep.unreadable:,} unreadable.")
            except (ValueError, LMError, StoreError) as e:
                st.error(md(str(e)))

# ------------------------------------------------------------------ blind rating
with rate_tab:
    st.markdown("Rate responses on the paper's scale, without knowing which model wrote them. "
                "Keys: **1**–**4** for A–D. Model names appear when every response is rated.")
    st.dataframe(pd.DataFrame({"grade": list(GRADE_TEXT), "meaning": list(GRADE_TEXT.values())}), hide_index=True)
    chosen = st.multiselect("Response sets to rate", set_names, default=[s for s in set_names if s != "reference"],
                            key=run_key("ev.rate.sets", run.id))  # per workspace and run: each has its own sets
    if chosen:
        queue = rating_queue(store, run, chosen, seed=int(st.session_state.get("ev.review.seed", 0)))
        ids = [s.id for s in sets if s.name in chosen]
        done = ratings(store, ids, rater="human")
        k = next_unrated(queue, done)
        if k is not None:
            it = queue[k]
            st.progress(k / len(queue), text=f"Response {k + 1} of {len(queue)}")
            task_text(it.instruction, it.input)
            st.markdown("**Response**")
            long_text(it.response)

            def rate(grade: str, set_id: int = it.set_id, instance_id: int = it.instance_id) -> None:
                save_rating(store, set_id, instance_id, grade)

            row = st.container(horizontal=True)  # the four grade buttons side by side
            for n, g in enumerate(GRADES, start=1):
                # Streamlit keeps C and R for itself, so the keys are 1-4.
                row.button(f"{g} ({n})", key=f"rate_{g}", shortcut=str(n), help=GRADE_TEXT[g], on_click=rate, args=(g,))
        reveal = k is None or st.checkbox("Reveal model names now (ends the blind rating)", key="ev.rate.reveal")
        if reveal and done:
            st.plotly_chart(figures.ratings_figure(grade_counts(store, run, chosen)), key="ev.rate.chart")
        elif k is None:
            st.info("Nothing to rate in these sets.")

# ------------------------------------------------------------------ LLM judge
with judge_tab:
    st.markdown("A judge model scores responses 1–10, each alone or two side by side (in both orders, "
                "so position bias cancels). Totals are shown relative to a reference set.")
    chosen = st.multiselect("Response sets", set_names, default=set_names[:2], key=run_key("ev.judge.sets", run.id))
    if chosen:
        reference = st.selectbox("Reference", chosen, key=run_key("ev.judge.ref", run.id))
        pairwise = st.radio("Mode", ["alone", "pairwise"], horizontal=True, key="ev.judge.mode") == "pairwise"
        default = J.PAIR_TEMPLATE if pairwise else J.SINGLE_TEMPLATE
        template = st.text_area("Judge prompt", default, height=320, key=f"ev.judge.template.{pairwise}",
                                help="Placeholders: {instruction}, {input}, and {response} (alone) or "
                                     "{response_1}, {response_2} (pairwise).")
        judge_cfg = lm_form("ev.judge.lm")
        others = [c for c in chosen if c != reference]
        if st.button("Run the judge", key="ev.judge.run", disabled=pairwise and not others):
            reports = []
            try:
                lm = build_lm(judge_cfg)
                if pairwise:
                    for other in others:
                        reports.append(J.judge_pairs(store, run, lm, reference, other, template=template,
                                                     on_progress=progress_bar(f"{reference} vs {other}")))
                else:
                    reports.append(J.judge_single(store, run, lm, chosen, template=template,
                                                  on_progress=progress_bar("Judging")))
            except (ValueError, LMError, StoreError) as e:
                st.error(md(str(e)))
            if reports:
                judged, bad = sum(r.judged for r in reports), sum(r.unreadable for r in reports)
                skipped = sum(r.skipped for r in reports)
                said = f"{judged:,} judged, {bad:,} unreadable" + (f", {skipped:,} judged before" if skipped else "")
                if judged and bad == judged:
                    st.warning(f"{said}: no answer of the judge held a score from 1 to 10. Check the prompt, "
                               "or use a stronger judge model.", icon="⚠️")
                else:
                    st.success(said + ".")
        used = judges(store, [s.id for s in sets if s.name in chosen], paired=pairwise)
        if used:
            names = sorted({j for j, _, _ in used})
            judge_name = st.selectbox("Scores of judge", names, key="ev.judge.which")
            # every chosen set's own scores (and unreadable answers), also when there is only one set
            st.dataframe(judge_table(store, {s.name: s.id for s in sets if s.name in chosen}, judge=judge_name,
                                     template=J.template_id(template), paired=pairwise), hide_index=True)
        if used and others:
            ranked_groups_section(store, run, reference, others, judge_names=names, judge=judge_name, paired=pairwise,
                                  template=template)

# ------------------------------------------------------------------ ROUGE-L
with rouge_tab:
    st.markdown("Mean ROUGE-L F of each response set against the reference outputs (rouge-score semantics).")
    stem = st.checkbox("Porter stemming (as in the paper's evaluation)", True, key="ev.rouge.stem")
    scored = [s.name for s in sets if s.kind != "reference"]
    if scored:
        rows = rouge_table(str(store.path), run.id, tuple(scored), stem,
                           tuple(len(answered_instance_ids(store, s.id)) for s in sets))
        st.dataframe(pd.DataFrame([{"model": r.name, "ROUGE-L": None if r.mean is None else round(100 * r.mean, 1),
                                    "records": r.count, "tokenizer": r.tokenizer} for r in rows]), hide_index=True)
    else:
        st.info("No response sets yet: import predictions or generate responses on the next tab.")

# ------------------------------------------------------------------ import and answer
with import_tab:
    st.markdown("**Evaluation set** → a new run: the user-oriented 252 (tasks format), Vicuna 80 questions, "
                "or your own instruction/input/output file.")
    up = st.file_uploader("Evaluation set (JSONL)", type=["jsonl", "json"], key="ev.import.file")
    name = st.text_input("Run name", key="ev.import.name")
    if st.button("Import evaluation set", key="ev.import.go", disabled=up is None or not name.strip()):
        try:
            new = import_eval_bytes(store, up.getvalue(), up.name, name.strip())
            st.session_state["run_id"] = new.id
            st.success(f"Imported as run {new.name!r}; pick it in the sidebar.")
        except (EvalSetError, StoreError) as e:
            st.error(md(str(e)))
    st.divider()
    st.markdown("**Predictions** (instruction, input, response, target per line) → response sets of this run.")
    files = st.file_uploader("Prediction files", type=["jsonl", "json"], accept_multiple_files=True, key="ev.pred.files")
    replace = st.checkbox("Replace earlier imports of the same name (drops their judge scores and ratings)",
                          key="ev.pred.replace")
    if st.button("Import predictions", key="ev.pred.go", disabled=not files):
        try:  # all or nothing, as on the command line
            reports = import_prediction_sets(
                store, run, [(parse_predictions(f.getvalue(), f.name), model_name(f.name), f.name) for f in files],
                replace=replace)
            for f, rep in zip(files, reports):
                st.success(f"{f.name}: {rep.matched:,} responses as set {rep.set.name!r}"
                           + (f" ({rep.unmatched} matched no instance)" if rep.unmatched else ""))
        except (PredictionFileError, StoreError) as e:
            st.error(md(str(e)))
    st.divider()
    st.markdown("**Generate responses** of any model for every instance of this run (resumable, cached).")
    set_name = st.text_input("Response set name", key="ev.answer.name", placeholder="gemma-270m")
    answer_cfg = lm_form("ev.answer.lm")
    if st.button("Generate", key="ev.answer.go", disabled=not set_name.strip()):
        from selfinstruct.responses import ResponsesError, answer_set

        bar = st.progress(0.0, text="Answering")
        try:
            result = answer_set(store, run, build_lm(answer_cfg), answer_cfg, name=set_name.strip(),
                                on_progress=lambda p: bar.progress(p.done / max(p.total, 1),
                                                                   text=f"Answering: {p.done:,}/{p.total:,}"))
            if result.error:
                st.error(md(f"{result.error} — what was answered is saved; press Generate again to resume."))
            else:
                st.success(f"{result.progress.done:,} responses in set {set_name.strip()!r}.")
        except (ResponsesError, ValueError, LMError, StoreError) as e:
            st.error(md(str(e)))

# ------------------------------------------------------------------ HHH comparison
with hhh_tab:
    hhh_section(store, run, sets, build_lm, progress_bar)

# ------------------------------------------------------------------ length vs score
with length_tab:
    length_score_section(store, run, sets)

# ------------------------------------------------------------------ output quality
with quality_tab:
    output_quality_section(store, run, sets)
