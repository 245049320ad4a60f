"""Generate: start, pause, resume or step a run and watch each iteration as it happens.

The work runs in a background thread (``dashboard.jobs``); this page polls
the job's in-memory snapshot and the workspace, so a reload or a second tab
shows the same run.
"""

from __future__ import annotations

import time

import plotly.express as px
import streamlit as st

from dashboard.state import current_run, data_version, fake_allowed, open_store, registry, run_progress, workspace_path
from dashboard.text import compact, md
from dashboard.widgets import plain_alert, render_iteration
from selfinstruct.charts import reason_colors, reason_order
from selfinstruct.config import RunConfig
from selfinstruct.costs import money
from selfinstruct.estimates import run_estimate
from dashboard.iterations import iteration_view, live_view
from selfinstruct.lm.base import LMError
from selfinstruct.pipeline import GENERATION_STEPS, estimate_cost
from selfinstruct.store import sum_usage

POLL_S = 0.7

st.title("⚙️ Generate")
store = open_store()
run = current_run(store, kinds=("generate",)) if store is not None else None
if run is None:
    st.stop()
cfg = RunConfig.from_dict(run.config)
st.caption(f"Run **{md(run.name)}** · choose another in the sidebar")
reg = registry()
job = reg.get(workspace_path(), run.id)


def launch(iterations: int | None) -> None:
    """Build (or reuse) the run's LM and hand the run to a background job."""
    if cfg.lm.backend == "fake" and not fake_allowed():
        st.error("This run uses the fake test LM; set SELFINSTRUCT_ALLOW_FAKE=1 to drive it.")
        return
    key = st.session_state.get("api_key") if cfg.lm.backend == "openai" else None
    try:
        lm = reg.lm(cfg.lm, api_key=key)
    except (ValueError, LMError) as e:
        st.error(md(f"Cannot use the model: {e}"))
        return
    reg.launch(workspace_path(), run.id, lm, iterations)  # atomic: two tabs pressing at once share one worker


def controls(active: bool) -> None:
    c = st.columns(5)
    if c[0].button("Start / resume", icon="▶️", type="primary", disabled=active or run.state == "done",
                   width="stretch"):
        launch(None)
        st.rerun()
    if c[1].button("Step one iteration", icon="⏭️", disabled=active or run.state == "done", width="stretch"):
        launch(1)
        st.rerun()
    if c[2].button("Pause", icon="⏸️", disabled=not active, width="stretch",
                   help="Stop once the current iteration is saved."):
        job.pause()
        st.rerun()
    if c[3].button("Cancel", icon="⏹️", disabled=not active, width="stretch",
                   help="Stop now; the iteration in flight is redone on resume (finished calls are cached)."):
        job.cancel()
        st.rerun()
    c[4].caption(f"Model: **{cfg.lm.backend}** {md(cfg.lm.model)}" +
                 (" · key held in memory" if st.session_state.get("api_key") else ""))


def estimate_note() -> None:
    """What the rest of the run should take, measured on its calls so far (priors before any),
    beside the buttons that spend it."""
    st.caption("  \n".join(md(line) for line in run_estimate(store, run.id, cfg).describe().splitlines()))


snap0 = job.snapshot() if job else None
estimate_note()
controls(bool(snap0 and snap0.active))


@st.fragment(run_every=POLL_S if snap0 and snap0.active else None)
def live() -> None:
    snap = job.snapshot() if job else None
    fresh = store.run(run.id)
    if (snap0 and snap0.active and snap and not snap.active) or fresh.state != run.state:
        st.rerun()  # the job ended or the run's state moved on: redraw the whole page (controls, sidebar)
    active = bool(snap and snap.active)
    counts = store.counts(run.id)
    unsaved_generated, unsaved_kept = snap.unsaved() if active else (0, 0)  # the iteration in flight
    kept, generated = counts["kept"] + unsaved_kept, counts["generated"] + unsaved_generated
    by_step = store.usage_by_step(run.id)  # read once a poll: both sums below come from it
    usage = sum_usage(by_step, GENERATION_STEPS)  # the generation's own calls: not answers, translations or judges
    # two rows of short values, so no tile is cut off on a narrow window (the widest, "cancelling", on top)
    top, bottom = st.columns(3), st.columns(4)
    top[0].metric("State", snap.state if active else fresh.state)
    top[1].metric("Iterations", f"{counts['iterations']:,}",
                  help="Saved iterations" + (f"; iteration {snap.iteration} is under way" if active else ""))
    top[2].metric("Kept", f"{kept:,}", help=f"Machine instructions kept, of the target {cfg.target:,} "
                                            "(the iteration under way included)")
    bottom[0].metric("Generated", f"{generated:,}", help="Machine candidates, kept or dropped")
    if active:
        bottom[1].metric("Kept / min", compact(snap.kept_per_minute(kept)),
                         help="Instructions kept per minute since this job started: how fast the set grows")
    else:
        bottom[1].metric("Tokens", compact(usage["tokens_in"] + usage["tokens_out"]),
                         help=f"{usage['tokens_in']:,} prompt + {usage['tokens_out']:,} completion tokens in "
                              f"{usage['calls']:,} calls of the generation's own steps (instructions, "
                              "classification, instances)")
    speed = sum_usage(by_step, ("instructions",))
    rate = speed["tokens_out"] / speed["lm_seconds"] if speed["lm_seconds"] else 0.0
    bottom[2].metric("Tokens/s", compact(rate),
                     help=f"{rate:,.1f} completion tokens per second while the model writes instructions "
                          "(over the run's instruction calls): the model's generation speed")
    cost = estimate_cost(usage, cfg)
    bottom[3].metric("Cost", money(cost),
                     help="The generation's own calls at this run's prices. Answers, translations "
                          "and judges of the run are not in it (the Runs page counts them)")
    st.progress(min(1.0, kept / cfg.target) if cfg.target else 0.0, text=f"{kept} of {cfg.target} instructions kept")
    if active and snap.retry and time.time() - snap.retry_at < 120:
        plain_alert(f"The endpoint failed; retrying: {snap.retry}", kind="warning", title="Retrying")
    if snap and snap.state == "failed":
        plain_alert(snap.message, title="The run stopped")
    elif fresh.state == "failed":
        plain_alert(fresh.status + " Fix the setting, then press Start / resume.", title="The run failed")
    else:
        message = snap.message if active else fresh.status
        if message:
            st.caption("Status:")
            st.text(message)
    view = live_view(snap) if active else None
    if view is None and counts["iterations"]:
        view = iteration_view(store, run.id, counts["iterations"])
    if view is not None:
        render_iteration(view, key="live")
    else:
        st.info("No iteration yet: press **Step one iteration** or **Start**.", icon="ℹ️")


tab_now, tab_time, tab_past = st.tabs(["Current iteration", "Over time", "Past iterations"])
with tab_now:
    live()
with tab_time:
    frame = run_progress(str(store.path), run.id, data_version(store, run))
    if frame.empty:
        st.caption("Nothing generated yet.")
    else:
        reasons = [c for c in frame.columns if c not in ("generated", "kept", "kept_total")]
        if reasons:
            long = frame[reasons].reset_index().melt("iteration", var_name="reason", value_name="dropped")
            order = reason_order(reasons)  # each reason keeps its colour (as on Filters) whatever the counts
            st.plotly_chart(px.bar(long, x="iteration", y="dropped", color="reason", title="Drop reasons by iteration",
                                   color_discrete_map=reason_colors(order), category_orders={"reason": order}),
                            key="reasons_chart")
        st.plotly_chart(px.line(frame.reset_index(), x="iteration", y=["kept_total"], markers=True,
                                title="Kept instructions so far"), key="kept_chart")
with tab_past:
    done = store.completed_iterations(run.id)
    if not done:
        st.caption("No completed iteration yet.")
    else:
        it = st.number_input("Iteration", 1, done, done, key="past_it")
        render_iteration(iteration_view(store, run.id, int(it)), key="past")
