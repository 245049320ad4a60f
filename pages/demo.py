"""Demo: replay a recorded run iteration by iteration, completions streaming as
they did, with no LM at all. For talks; the shipped recording was made by the
embedded model (``demo/demo.sqlite``)."""

from __future__ import annotations

import streamlit as st

from pages.common import (
    data_version,
    DEMO_REPLAY,
    DEMO_SHIPPED,
    ensure_router,
    open_store,
    render_iteration,
    run_progress,
    workspace_id,
    workspace_path,
)
from selfinstruct.replay import iteration_view, prepare_copy, reveal, total_chars

SHIPPED, COPY = DEMO_SHIPPED, DEMO_REPLAY
TICK_S = 0.25
HOLD_TICKS = 8  # pause on a finished iteration before the next one

ensure_router()
st.title("🎬 Demo replay")
st.caption("Plays a stored run as if it were generating now. No model is loaded or called.")

choices = {"shipped": "Recorded demo (embedded model)"} if SHIPPED.exists() else {}
choices["workspace"] = "A run of the open workspace"
source = st.radio("Replay", list(choices), format_func=choices.__getitem__, horizontal=True, key="demo_source")
if source == "shipped":
    path = str(prepare_copy(SHIPPED, COPY))
else:
    path = workspace_path()
store = open_store(path)
runs = [r for r in store.runs() if r.kind == "generate"] if store is not None else []
if not runs:
    st.info("No generation run to replay here.", icon="ℹ️")
    st.stop()
names = {r.id: r.name for r in runs}
pick_key = f"demo_run_{source}" + (f".{workspace_id()}" if source == "workspace" else "")  # per workspace
run_id = st.selectbox("Run", list(names), format_func=names.__getitem__, key=pick_key)
total = store.completed_iterations(run_id)
if not total:
    st.info("This run has no completed iteration yet.", icon="ℹ️")
    st.stop()

state = st.session_state.setdefault("demo", {"key": None, "it": 1, "chars": 0, "hold": 0, "playing": False})
if state["key"] != (path, run_id):
    state.update(key=(path, run_id), it=1, chars=0, hold=0, playing=False)

c = st.columns([1, 1, 1, 1, 3])
if c[0].button("Pause" if state["playing"] else "Play", icon="⏸️" if state["playing"] else "▶️", type="primary",
               width="stretch"):
    state["playing"] = not state["playing"]
    st.rerun()
if c[1].button("Restart", icon="⏮️", width="stretch"):
    state.update(it=1, chars=0, hold=0)
    st.rerun()
if c[2].button("Next iteration", icon="⏭️", width="stretch", disabled=state["it"] >= total):
    state.update(it=state["it"] + 1, chars=0, hold=0)
    st.rerun()
if c[3].button("Show whole", icon="⏩", width="stretch"):
    state["chars"] = 10**9
    st.rerun()
speed = c[4].slider("Speed (characters per tick)", 5, 200, 40, key="demo_speed")
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
