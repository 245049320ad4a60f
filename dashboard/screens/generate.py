"""Generate: start, pause, resume or step a run and watch it as it happens.

The work runs in a background thread (``dashboard.jobs``); this page polls
the job's in-memory snapshot and the workspace, so a reload or a second tab
shows the same run. Many iterations are under way at once, so the live view shows every
prompt in flight side by side, then the oldest iteration (the next saved) in detail.
"""

from __future__ import annotations

import time
from collections import Counter

import plotly.express as px
import streamlit as st

from dashboard.state import current_run, data_version, fake_allowed, open_store, registry, run_progress, workspace_path
from dashboard.text import compact, md, plural
from dashboard.widgets import plain_alert, render_iteration, slot_status
from selfinstruct.charts import reason_colors, reason_order
from selfinstruct.config import RunConfig
from selfinstruct.costs import money
from selfinstruct.estimates import run_estimate
from dashboard.iterations import STATE_ICONS, IterationView, iteration_view, live_view, live_views
from selfinstruct.lm.base import LMError
from selfinstruct.pipeline import GENERATION_STEPS, Stats, estimate_cost
from selfinstruct.progress_line import duration
from selfinstruct.store import sum_usage

POLL_S = 0.7
LIVE_ITERATIONS = 6  # iterations under way drawn prompt by prompt (oldest first); later ones are counted
PER_ROW = 5  # prompt cells in a row
TAIL_LINES, TAIL_CHARS = 4, 100  # the end of a completion shown in its cell: a few lines, the newest text

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
                   help="Launch nothing more; stop once the iterations under way are saved."):
        job.pause()
        st.rerun()
    if c[3].button("Cancel", icon="⏹️", disabled=not active, width="stretch",
                   help="Stop now; the iterations under way are redone on resume (finished calls are cached)."):
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


def speed_line(stats: Stats) -> None:
    """The scheduler's numbers: how busy it keeps the endpoint and how fast the set grows."""
    eta = duration(stats.eta_s) if stats.eta_s is not None else "—"
    st.caption(f"In flight **{stats.in_flight}** · queued **{stats.queued}** · **{stats.kept_per_s:.2f}** kept/s · "
               f"**{compact(stats.tokens_per_s)}** tokens/s · ETA **{eta}**",
               help="Requests at the endpoint now and waiting for a free place; instructions kept and completion "
                    "tokens (every step) per second of this job; time to the target at that pace.")


def tally(views: list[IterationView]) -> str:
    """``✅ 2 · ⏳ 5 · 🕒 3``: how many prompts of ``views`` are in each state."""
    n = Counter(s.state for v in views for s in v.slots)
    return " · ".join(f"{icon} {n[state]}" for state, icon in STATE_ICONS.items() if n[state])


def tail(text: str) -> str:
    """The end of a completion, short enough for its cell: the newest text stays in view."""
    lines = text.splitlines()
    if len(lines) <= TAIL_LINES and len(text) <= TAIL_CHARS:
        return text
    return "…" + "\n".join(lines[-TAIL_LINES:])[-TAIL_CHARS:]


def prompts_in_flight(views: list[IterationView]) -> None:
    """Every prompt under way at once, by iteration, oldest (the next saved) first: its state and the
    end of its completion as it streams. Iterations past ``LIVE_ITERATIONS`` are only counted."""
    st.markdown(f"**Prompts under way** · {plural(len(views), 'iteration')} · {tally(views)}")
    with st.container(key="live-prompts"):
        for view in views[:LIVE_ITERATIONS]:
            with st.container(border=True):
                st.markdown(f"**Iteration {view.iteration}** · {tally([view])} · "
                            f"{plural(len(view.candidates), 'candidate')}, {sum(c.keep for c in view.candidates)} kept")
                for row in range(0, len(view.slots), PER_ROW):
                    for col, s in zip(st.columns(PER_ROW), view.slots[row:row + PER_ROW]):
                        col.caption(f"Prompt {s.slot + 1} · {slot_status(s, view.candidates)}")
                        col.code(tail(s.completion) + ("" if s.done else "▌"), language=None, wrap_lines=True)
    rest = views[LIVE_ITERATIONS:]
    if rest:
        st.caption(f"and {plural(len(rest), 'more iteration')} under way "
                   f"({rest[0].iteration}–{rest[-1].iteration}): {tally(rest)}")


@st.fragment(run_every=POLL_S if snap0 and snap0.active else None)
def live() -> None:
    snap = job.snapshot() if job else None
    fresh = store.run(run.id)
    if (snap0 and snap0.active and snap and not snap.active) or fresh.state != run.state:
        st.rerun()  # the job ended or the run's state moved on: redraw the whole page (controls, sidebar)
    active = bool(snap and snap.active)
    counts = store.counts(run.id)
    unsaved_generated, unsaved_kept = snap.unsaved() if active else (0, 0)  # the iterations under way
    kept, generated = counts["kept"] + unsaved_kept, counts["generated"] + unsaved_generated
    by_step = store.usage_by_step(run.id)  # read once a poll: both sums below come from it
    usage = sum_usage(by_step, GENERATION_STEPS)  # the generation's own calls: not answers, translations or judges
    # two rows of short values, so no tile is cut off on a narrow window (the widest, "cancelling", on top)
    top, bottom = st.columns(3), st.columns(4)
    top[0].metric("State", snap.state if active else fresh.state)
    top[1].metric("Iterations", f"{counts['iterations']:,}",
                  help="Saved iterations" + (f"; {snap.under_way()} under way" if active and snap.open else ""))
    top[2].metric("Kept", f"{kept:,}", help=f"Machine instructions kept, of the target {cfg.target:,} "
                                            "(the iterations under way included)")
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
    view = None
    if active:
        if snap.stats is not None:
            speed_line(snap.stats)
        views = live_views(snap)
        if views:
            prompts_in_flight(views)
            st.caption("In detail, the oldest iteration under way: its verdicts come in prompt order, "
                       "and it is saved next.")
        view = views[0] if views else live_view(snap)
    if view is None and counts["iterations"]:
        view = iteration_view(store, run.id, counts["iterations"])
    if view is not None:
        render_iteration(view, key="live")
    else:
        st.info("No iteration yet: press **Step one iteration** or **Start**.", icon="ℹ️")


tab_now, tab_time, tab_past = st.tabs(["Live", "Over time", "Past iterations"])
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
