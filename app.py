"""Self-Instruct Studio: the dashboard. Start it with ``make run`` (``streamlit run app.py``).

This file only routes: the pages live in ``dashboard/``, the logic in ``selfinstruct/``.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard.state import open_store, remember_in_address, workspace_path
from dashboard.text import md

HERE = Path(__file__).resolve().parent

st.set_page_config(page_title="Self-Instruct Studio", page_icon="🌱", layout="wide")

PAGES = {
    "Build": [
        ("dashboard/screens/runs.py", "Runs", "🗂️"),
        ("dashboard/screens/seeds.py", "Seeds", "🌱"),
        ("dashboard/screens/generate.py", "Generate", "⚙️"),
        ("dashboard/screens/filters.py", "Filters", "🎚️"),
    ],
    "Study": [
        ("dashboard/screens/analysis.py", "Analysis", "📊"),
        ("dashboard/screens/data.py", "Data", "🔎"),
        ("dashboard/screens/responses.py", "Responses", "💬"),
        ("dashboard/screens/evaluate.py", "Evaluate", "⚖️"),
        ("dashboard/screens/export.py", "Export", "📦"),
    ],
    "Present": [
        ("dashboard/screens/demo.py", "Demo", "🎬"),
    ],
}


def sidebar() -> None:
    """Workspace and run chosen once for every page."""
    store = open_store()
    with st.sidebar:
        st.caption(f"Workspace: {md(Path(workspace_path()).name)}", help=md(workspace_path()))
        runs = [] if store is None else store.runs()
        if not runs:
            remember_in_address(None)
            if store is not None:
                st.caption("No run yet")
            return
        ids = [r.id for r in runs]
        if st.session_state.get("run_id") not in ids:
            # a fresh session shows the newest generation run (an import or translation only if there is none)
            st.session_state["run_id"] = next((r.id for r in reversed(runs) if r.kind == "generate"), ids[-1])
        st.session_state["run_pick"] = st.session_state["run_id"]
        remember_in_address(st.session_state["run_id"])  # a reload or a new tab reopens this workspace and run
        names = {r.id: f"{r.name} · {r.kind} · {r.state}" for r in runs}
        st.selectbox("Run", ids, key="run_pick", format_func=names.__getitem__, on_change=_pick)


def _pick() -> None:
    st.session_state["run_id"] = st.session_state["run_pick"]


navigation = st.navigation({
    section: [st.Page(path, title=title, icon=icon) for path, title, icon in pages if (HERE / path).exists()]
    for section, pages in PAGES.items()
})
sidebar()
navigation.run()
