"""The dashboard's session state: the open workspace and run (and the address that keeps them
across a reload), the job registry, per-run widget keys, and widget values that survive a page switch."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
import streamlit as st

from dashboard.jobs import JobRegistry
from dashboard.tables import progress
from dashboard.text import md
from dashboard.workspaces import private_workspace
from selfinstruct.records import Task
from selfinstruct.seeds import load_tasks
from selfinstruct.store import RunInfo, Store, StoreError

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WORKSPACE = "runs/studio.sqlite"
OFFICIAL_SEEDS = ROOT.parent / "shared" / "data" / "self-instruct" / "seed_tasks.jsonl"
OWN_SEEDS = ROOT / "seeds" / "seed_tasks.jsonl"
DEMO_SHIPPED = ROOT / "demo" / "demo.sqlite"  # the shipped recording: never opened for writing
DEMO_REPLAY = ROOT / "runs" / "demo-replay.sqlite"  # the Demo page's private copy of it
DEMO_WORKSPACE = ROOT / "runs" / "demo-workspace.sqlite"  # the copy opened when it is chosen as the workspace


def fake_allowed() -> bool:
    """The scripted fake LM is for tests and offline demos only: opt in with SELFINSTRUCT_ALLOW_FAKE=1."""
    return os.environ.get("SELFINSTRUCT_ALLOW_FAKE") == "1"


def default_workspace() -> str:
    return os.environ.get("SELFINSTRUCT_WORKSPACE") or str(ROOT / DEFAULT_WORKSPACE)


def writable_workspace(path: str) -> str:
    """The file to open for ``path``: the private copy when it is the shipped demo recording."""
    return str(private_workspace(path, DEMO_SHIPPED, DEMO_WORKSPACE))


def is_demo_copy(path: str) -> bool:
    """Whether ``path`` is the private copy that stands in for the shipped demo recording."""
    return Path(path).resolve() == Path(DEMO_WORKSPACE).resolve()


def workspace_path() -> str:
    """The open workspace. A session starts on the one its address names (``?ws=``, and the run
    ``?run=``; see ``remember_in_address``), so a reload or a new tab keeps them, else on the default.
    An address naming no existing file never creates a workspace: the default opens, with a note."""
    if "workspace" not in st.session_state:
        path = default_workspace()
        asked, run = st.query_params.get("ws", "").strip(), st.query_params.get("run", "")
        if asked and not Path(asked).expanduser().exists():
            st.warning(md(f"No workspace at {asked} (named in the address): opened {path} instead. "
                          "Nothing was created; open or create a workspace on the Runs page."), icon="⚠️")
        else:
            path = asked or path
            if run.isdigit():
                st.session_state["run_id"] = int(run)
        try:
            path = writable_workspace(path)
        except OSError as e:  # no copy could be made: open_store refuses the shipped file below
            st.error(md(f"Cannot copy the demo recording {path}: {e}"))
        st.session_state["workspace"] = path
    return st.session_state["workspace"]


def remember_in_address(run_id: int | None) -> None:
    """Put the open workspace and run ``run_id`` in the address (``?ws=&run=``), where
    ``workspace_path`` finds them after a reload. Only the path and the id: never a secret."""
    wanted = {"ws": workspace_path()} | ({} if run_id is None else {"run": str(run_id)})
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)


@st.cache_data(show_spinner=False)
def default_seeds() -> list[Task]:
    """Our own seed tasks: what a run starts from unless the Seeds page says otherwise."""
    return load_tasks(OWN_SEEDS)


@st.cache_resource(show_spinner=False)
def registry() -> JobRegistry:
    """One job registry per server: every tab sees the same background jobs."""
    return JobRegistry()


@st.cache_resource(show_spinner=False)
def _store(path: str) -> Store:
    return Store(path)


def open_store(path: str | None = None) -> Store | None:
    """The workspace, opened once per server; shows the error and returns None when it cannot be."""
    path = path or workspace_path()
    try:
        path = writable_workspace(path)  # the shipped demo is never written: its private copy stands in
        return _store(str(Path(path).expanduser().resolve()))
    except StoreError as e:
        st.error(md(str(e)))
        return None
    except OSError as e:
        st.error(md(f"workspace {path}: {e.strerror or e}"))
        return None


def workspace_id(path: str | None = None) -> str:
    """A short, stable id of a workspace file (default: the open one), for widget keys."""
    resolved = str(Path(path or workspace_path()).expanduser().resolve())
    return hashlib.sha256(resolved.encode()).hexdigest()[:10]


def run_key(prefix: str, run_id: int, workspace: str | None = None) -> str:
    """The session-state key of a per-run widget: ``prefix``, the workspace and the run id, so
    run 1 of another workspace never inherits this one's settings."""
    return f"{prefix}.{workspace_id(workspace)}.{run_id}"


KIND_WORDS = {"generate": "generation", "import": "import", "translation": "translation"}


def current_run(store: Store, kinds: tuple[str, ...] | None = None) -> RunInfo | None:
    """The run chosen in the sidebar, or None with a note.

    With ``kinds``, a chosen run of another kind is never swapped for one of these silently:
    the page says so and offers to switch (the page stops on None).
    """
    every = store.runs()
    runs = [r for r in every if kinds is None or r.kind in kinds]
    if not runs:
        if every and kinds == ("generate",):
            st.info("No generation run here yet: this workspace holds only imported or translated data "
                    "(study it on **Analysis**, **Data** and **Responses**). To grow instructions, create a "
                    "run under **New run** on the **Runs** page.", icon="ℹ️")
        elif every:
            st.info(f"No run of kind {md(' or '.join(kinds or ()))} here yet.", icon="ℹ️")
        else:
            st.info("No run here yet. Create one on the **Runs** page.", icon="ℹ️")
        return None
    wanted = st.session_state.get("run_id")
    chosen = next((r for r in every if r.id == wanted), None)
    if chosen is None:  # nothing chosen yet (the sidebar chooses on every page): the newest of these kinds
        return runs[-1]
    if kinds is None or chosen.kind in kinds:
        return chosen
    wanted_kind = " or ".join(KIND_WORDS.get(k, k) for k in kinds)
    st.warning(f"The chosen run **{md(chosen.name)}** is a {md(KIND_WORDS.get(chosen.kind, chosen.kind))} run, "
               f"not a {md(wanted_kind)} run, so this page has nothing to show for it. Switch to a "
               f"{md(wanted_kind)} run below, or choose one in the sidebar.", icon="↔️")
    names = {r.id: f"{r.name} · {r.state}" for r in reversed(runs)}  # the newest first
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    pick = c1.selectbox(f"Switch to a {wanted_kind} run", list(names), format_func=names.__getitem__,
                        key=f"switch_run.{workspace_id()}")
    if c2.button("Switch", type="primary", icon="↔️", width="stretch"):
        st.session_state["run_id"] = pick
        st.rerun()
    return None


def data_version(store: Store, run: RunInfo) -> tuple[Any, ...]:
    """Changes whenever the run's stored data does: the key for cached analysis."""
    fresh = store.run(run.id)
    return (str(store.path), run.id, fresh.updated_at, store.completed_iterations(run.id),
            store.counts(run.id)["generated"])


@st.cache_data(show_spinner=False, max_entries=8)
def run_progress(path: str, run_id: int, version: tuple) -> pd.DataFrame:
    """Per-iteration counts of a run (``tables.progress``), read once per data version."""
    return progress(_store(path).instructions(run_id, origin="machine"))


def kept_widgets(prefix: str, defaults: dict[str, Any]) -> None:
    """Give the widgets ``prefix + name`` their value from before a page switch, or the default.

    Streamlit forgets a widget's value when a page without it is shown; a copy under
    ``_kept.`` + key survives. Call before drawing the widgets (and draw them with no
    ``value``), then ``keep_widgets`` after.
    """
    for name, default in defaults.items():
        key = prefix + name
        if key not in st.session_state:
            st.session_state[key] = st.session_state.get("_kept." + key, default)


def keep_widgets(prefix: str, names: Iterator[str] | list[str]) -> None:
    """Copy the widgets' current values where ``kept_widgets`` finds them after a page switch."""
    for name in names:
        key = prefix + name
        if key in st.session_state:
            st.session_state["_kept." + key] = st.session_state[key]


def follow_selection(table: str, pick: str, ids: list[Any], rows: list[int] | None = None) -> Any:
    """Keep the one-row selection of table ``table`` on an item's id (``session_state[pick]``),
    not on a row number, so a filter that changes the rows never moves it to another item.

    Call it before drawing the table (no ``rows``): when the shown ``ids`` changed since the
    last run, it moves the table's selection to the picked item's new row, or clears the
    selection and the pick when the item is filtered out. Call it again after, with the
    table's ``selection.rows``: the row the user picked becomes the pick. Returns the pick.
    """
    seen = f"_shown.{table}"
    if rows is None:
        if st.session_state.get(seen) != ids:
            was = st.session_state.get(pick)
            row = ids.index(was) if was is not None and was in ids else None
            if row is None:
                st.session_state.pop(pick, None)
            st.session_state[table] = {"selection": {"rows": [] if row is None else [row], "columns": []}}
            st.session_state[seen] = list(ids)
        return st.session_state.get(pick)
    chosen = ids[rows[0]] if rows and rows[0] < len(ids) else None
    if chosen is None:
        st.session_state.pop(pick, None)
    else:
        st.session_state[pick] = chosen
    return chosen
