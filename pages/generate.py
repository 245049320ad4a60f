"""Generate: start, pause, resume or step a run and watch each iteration as it happens.

The work runs in a background thread (``selfinstruct.jobs``); this page polls
the job's in-memory snapshot and the workspace, so a reload or a second tab
shows the same run.
"""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from pages.common import (
    compact,
    current_run,
    data_version,
    ensure_router,
    fake_allowed,
    md,
    open_store,
    registry,
    render_iteration,
    run_progress,
    workspace_path,
)
from selfinstruct.config import RunConfig
from selfinstruct.replay import iteration_view, live_view
from selfinstruct.jobs import Job
from selfinstruct.lm.base import LMError
from selfinstruct.pipeline import estimate_cost

POLL_S = 0.7

ensure_router()
st.title("⚙️ Generate")
store = open_store()
run = current_run(store, kinds=("generate",)) if store is not None else None
if run is None:
    st.stop()
cfg = RunConfig.from_dict(run.config)
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
    j: Job = reg.job(workspace_path(), run.id, lm)
    if not j.running:
        j.start(iterations)


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


snap0 = job.snapshot() if job else None
controls(bool(snap0 and snap0.active))


@st.fragment(run_every=POLL_S if snap0 and snap0.active else None)
def live() -> None:
    snap = job.snapshot() if job else None
    fresh = store.run(run.id)
    counts, usage = store.counts(run.id), store.usage(run.id)
    if snap0 and snap0.active and snap and not snap.active:
        st.rerun()  # the job ended: redraw the whole page (controls, past iterations)
    m = st.columns(7)
    m[0].metric("State", snap.state if snap and snap.active else fresh.state)
    m[1].metric("Iterations", counts["iterations"])
    m[2].metric("Kept", f"{counts['kept']:,} / {cfg.target:,}")
    m[3].metric("Generated", f"{counts['generated']:,}")
    m[4].metric("Tokens", compact(usage["tokens_in"] + usage["tokens_out"]),
                help=f"{usage['tokens_in']:,} prompt + {usage['tokens_out']:,} completion tokens")
    rate = snap.stream_rate if snap and snap.active else (usage["tokens_out"] / usage["lm_seconds"]
                                                          if usage["lm_seconds"] else 0.0)
    m[5].metric("Tokens/s", compact(rate), help=f"Rate: {rate:,.1f} completion tokens per second")
    m[6].metric("Cost", f"${estimate_cost(usage, cfg):.4f}")
    st.progress(min(1.0, counts["kept"] / cfg.target) if cfg.target else 0.0,
                text=f"{counts['kept']} of {cfg.target} instructions kept")
    message = snap.message if snap and snap.active else fresh.status
    if fresh.state == "failed" or (snap and snap.state == "failed"):
        st.error(md(snap.message if snap and snap.state == "failed" else fresh.status), icon="🚨")
    elif message:
        st.caption(f"Status: {md(message)}")
    view = live_view(snap) if snap and snap.active else None
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
            st.plotly_chart(px.bar(long, x="iteration", y="dropped", color="reason",
                                   title="Drop reasons by iteration"), key="reasons_chart")
        st.plotly_chart(px.line(frame.reset_index(), x="iteration", y=["kept_total"], markers=True,
                                title="Kept instructions so far"), key="kept_chart")
with tab_past:
    done = store.completed_iterations(run.id)
    if not done:
        st.caption("No completed iteration yet.")
    else:
        it = st.number_input("Iteration", 1, done, done, key="past_it")
        render_iteration(iteration_view(store, run.id, int(it)), key="past")
