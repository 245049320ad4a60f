"""Demo: replay a recorded run iteration by iteration, completions streaming as
they did, with no LM at all. For talks; the shipped recording was made by the
embedded model (``demo/demo.sqlite``)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard.state import current_run, data_version, DEMO_REPLAY, DEMO_SHIPPED, is_demo_copy, open_store, run_progress
from dashboard.text import md
from dashboard.widgets import render_iteration
from dashboard.iterations import iteration_view, reveal, total_chars
from dashboard.workspaces import prepare_copy

SHIPPED, COPY = DEMO_SHIPPED, DEMO_REPLAY
TICK_S = 0.25
HOLD_TICKS = 8  # pause on a finished iteration before the next one

st.title("🎬 Demo replay")
st.caption("Plays a stored run as if it were generating now. No model is loaded or called.")

store = open_store()
if store is None:
    st.stop()
# The run shown is the sidebar's, as on every other page. Only the shipped recording, offered while
# another workspace is open, has a run of its own: the sidebar cannot name it, so the page does.
on_demo = is_demo_copy(str(store.path))
source = "workspace"
if SHIPPED.exists() and not on_demo:
    choices = {"workspace": "The run chosen in the sidebar", "shipped": "The recorded demo (embedded model)"}
    has_generation = any(r.kind == "generate" for r in store.runs())
    source = st.radio("Replay", list(choices), format_func=choices.__getitem__, index=0 if has_generation else 1,
                      horizontal=True, key="demo_source")
if source == "workspace":
    run = current_run(store, kinds=("generate",))
    if run is None:
        st.stop()
    where = "the recorded demo (a private copy)" if on_demo else f"workspace {md(Path(store.path).name)}"
    st.caption(f"Run **{md(run.name)}** of {where} · choose another run in the sidebar")
else:
    store = open_store(str(prepare_copy(SHIPPED, COPY)))
    recorded = [r for r in store.runs() if r.kind == "generate"] if store is not None else []
    if not recorded:
        st.info("The recording holds no generation run to replay.", icon="ℹ️")
        st.stop()
    run = recorded[-1]
    st.caption(f"Run **{md(run.name)}** of the shipped recording `demo/demo.sqlite`, not the sidebar's run "
               "(that one belongs to the open workspace): choose *The run chosen in the sidebar* to replay it, "
               "or open `demo/demo.sqlite` on **Runs** to pick the recording's runs in the sidebar.")
run_id, path = run.id, str(store.path)
total = store.completed_iterations(run_id)
if not total:
    st.info("This run has no completed iteration yet.", icon="ℹ️")
    st.stop()

state = st.session_state.setdefault("demo", {"key": None, "it": 1, "chars": 0, "hold": 0, "playing": False})
if state["key"] != (path, run_id):
    state.update(key=(path, run_id), it=1, chars=0, hold=0, playing=False)

# One wrapping row of content-wide buttons: a label is never cut, however narrow the page.
bar = st.container(horizontal=True, vertical_alignment="bottom", key="demo_controls")
if bar.button("Pause" if state["playing"] else "Play", icon="⏸️" if state["playing"] else "▶️", type="primary"):
    state["playing"] = not state["playing"]
    st.rerun()
if bar.button("Restart", icon="⏮️"):
    state.update(it=1, chars=0, hold=0)
    st.rerun()
if bar.button("Next iteration", icon="⏭️", disabled=state["it"] >= total):
    state.update(it=state["it"] + 1, chars=0, hold=0)
    st.rerun()
if bar.button("Show whole", icon="⏩"):
    state["chars"] = 10**9
    st.rerun()
speed = bar.slider("Speed (characters per tick)", 5, 200, 40, key="demo_speed", width=320)
frame = run_progress(str(store.path), run_id, data_version(store, store.run(run_id)))


@st.fragment(run_every=TICK_S if state["playing"] else None)
def player() -> None:
    full = iteration_view(store, run_id, state["it"])
    view, finished = reveal(full, state["chars"])
    if state["playing"]:
        if not finished:
            state["chars"] += speed
        elif state["hold"] < HOLD_TICKS:
            state["hold"] += 1
        elif state["it"] < total:
            state.update(it=state["it"] + 1, chars=0, hold=0)
        else:
            state["playing"] = False
            st.rerun()
    upto = frame.loc[: state["it"]]
    shown = upto.iloc[:-1] if not finished and len(upto) else upto
    m = st.columns(4)
    m[0].metric("Iteration", f"{state['it']} / {total}")
    m[1].metric("Generated", int(shown["generated"].sum()) if len(shown) else 0)
    m[2].metric("Kept", int(shown["kept"].sum()) if len(shown) and "kept" in shown else 0)
    streamed, chars = min(state["chars"], total_chars(full)), total_chars(full)
    m[3].metric("Streamed", f"{streamed / chars:.0%}" if chars else "—",
                help=f"{streamed:,} of {chars:,} characters of this iteration's completions")
    render_iteration(view, key="demo")


player()
