"""What every dashboard page shares: the open workspace, the chosen run, the job
registry, and safe ways to show generated text.

Generated text is untrusted: it is shown with ``st.text``/``st.code``/
``st.dataframe`` or escaped Markdown, never as HTML.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
import streamlit as st

from dashboard.iterations import CandidateView, IterationView, SlotView
from dashboard.tables import progress
from dashboard.workspaces import private_workspace
from selfinstruct.config import LMConfig
from dashboard.jobs import JobRegistry
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
ORIGIN_MARK = {"seed": "🧑 human", "machine": "🤖 machine", "import": "📥 import", "translation": "🌐 translation"}


def fake_allowed() -> bool:
    """The scripted fake LM is for tests and offline demos only: opt in with SELFINSTRUCT_ALLOW_FAKE=1."""
    return os.environ.get("SELFINSTRUCT_ALLOW_FAKE") == "1"


LM_CHOICES = {"llamacpp": "Embedded model (Gemma 3 270M, llama.cpp, offline)", "openai": "OpenAI-compatible endpoint"}
JOB_LM = LMConfig(api_mode="chat", concurrency=8)  # what a job's form starts from: chat models, 8 at once


def lm_form(prefix: str, base: LMConfig = JOB_LM, *, costs: bool = False, context: bool = False,
            key_box: bool = False) -> LMConfig:
    """The model a run or a job uses: one form for the Runs page and every job, starting from
    ``base``. No number box has bounds: a browser would replace a value out of them silently, so
    ``LMConfig.validate`` names it instead. The API key is never a field here: ``key_box`` offers to
    hold one in this session's memory (the Runs page); otherwise the held one or $OPENAI_API_KEY is used."""
    choices = dict(LM_CHOICES)
    if fake_allowed():
        choices["fake"] = "Fake scripted LM (tests only)"
    cfg = replace(base, backend=st.radio("Language model", list(choices), format_func=choices.__getitem__,
                                         key=f"{prefix}.backend", horizontal=True))
    if cfg.backend == "openai":
        c = st.columns(4)
        cfg.model = c[0].text_input("Model", key=f"{prefix}.model", placeholder="gpt-4o-mini",
                                    help="The model name the endpoint serves.")
        cfg.base_url = c[1].text_input("Base URL", key=f"{prefix}.base_url", placeholder="https://api.openai.com/v1",
                                       help="Any OpenAI-compatible server: OpenAI, vLLM, Ollama, llama.cpp server…")
        modes = [base.api_mode, *(m for m in ("completion", "chat") if m != base.api_mode)]
        cfg.api_mode = c[2].selectbox("API", modes, key=f"{prefix}.api_mode",
                                      help="'completion' for base models, as in the paper; 'chat' for chat models.")
        cfg.concurrency = int(c[3].number_input("Concurrent requests", value=base.concurrency, step=1,
                                                key=f"{prefix}.conc"))
        if costs:
            c = st.columns(2)
            cfg.price_in_per_1m = c[0].number_input("Price per 1M input tokens ($)", value=base.price_in_per_1m,
                                                    key=f"{prefix}.pin")
            cfg.price_out_per_1m = c[1].number_input("Price per 1M output tokens ($)", value=base.price_out_per_1m,
                                                     key=f"{prefix}.pout")
        if key_box:
            api_key_box()
        else:
            st.caption("API key: the one held in this session (Runs page), else $OPENAI_API_KEY.")
    elif cfg.backend == "llamacpp":
        cfg.model_path = st.text_input("GGUF model file", key=f"{prefix}.model_path",
                                       help="Leave empty for the packaged Gemma 3 270M.")
        if context:
            cfg.n_ctx = int(st.number_input("Context size (tokens)", value=base.n_ctx, step=512, key=f"{prefix}.n_ctx"))
    return cfg


def _take_key() -> None:
    """Move a typed key out of the widget into memory, so it is never echoed back to the page."""
    typed = st.session_state.get("api_key_input", "").strip()
    if typed:
        st.session_state["api_key"] = typed
    st.session_state["api_key_input"] = ""


def api_key_box() -> None:
    """A key typed here lives in this browser session's server memory only."""
    held = bool(st.session_state.get("api_key"))
    st.text_input("API key", type="password", key="api_key_input", on_change=_take_key,
                  placeholder="key held (type to replace)" if held else "sk-…  (or set OPENAI_API_KEY)",
                  help="Kept in this browser session's server memory only: never written to the workspace, "
                       "a log or the page. Press Enter to use it.")
    if held:
        c1, c2 = st.columns([4, 1])
        c1.success("An API key is held in memory for this session.", icon="🔑")
        if c2.button("Forget key"):
            st.session_state.pop("api_key", None)
            st.rerun()


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


def long_text(text: str, *, max_chars: int = 1500, max_lines: int = 20, height: int = 320) -> None:
    """Untrusted text as ``st.text``; a long one in a scrollable box ``height`` pixels high, so
    what follows it (buttons) stays in view."""
    if len(text) > max_chars or text.count("\n") >= max_lines:
        with st.container(height=height, border=True):
            st.text(text)
    else:
        st.text(text)


def data_version(store: Store, run: RunInfo) -> tuple[Any, ...]:
    """Changes whenever the run's stored data does: the key for cached analysis."""
    fresh = store.run(run.id)
    return (str(store.path), run.id, fresh.updated_at, store.completed_iterations(run.id),
            store.counts(run.id)["generated"])


@st.cache_data(show_spinner=False, max_entries=8)
def run_progress(path: str, run_id: int, version: tuple) -> pd.DataFrame:
    """Per-iteration counts of a run (``tables.progress``), read once per data version."""
    return progress(_store(path).instructions(run_id, origin="machine"))


def compact(x: float, unit: str = "") -> str:
    """A number short enough for a metric tile: 950, 12.3k, 346k, 4.1M."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= size:
            v = x / size
            return f"{v:.1f}{suffix}{unit}" if abs(v) < 100 else f"{v:.0f}{suffix}{unit}"
    return f"{x:.1f}{unit}" if 0 < abs(x) < 100 and x != int(x) else f"{x:.0f}{unit}"


def plural(n: int, word: str) -> str:
    """``1 task``, ``2 tasks``."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


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


def md(text: str) -> str:
    """Escape text for Markdown (no links, images, HTML or emphasis survive)."""
    out = []
    for ch in text:
        if ch in "\\`*_{}[]()<>#+-.!|~$&":
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def plain_alert(text: str, *, kind: str = "error", title: str = "") -> None:
    """An alert whose body is plain text (an endpoint's error, a stored status): shown as
    written, with no Markdown, links or visible escapes; ``title`` is our own words."""
    colour, icon = {"error": ("red", "🚨"), "warning": ("orange", "⚠️"), "info": ("blue", "ℹ️")}[kind]
    with st.container(border=True):
        if title:
            st.markdown(f"{icon} :{colour}[**{md(title)}**]")
        st.text(text)


def verdict_label(keep: bool, reason: str | None) -> str:
    return "✅ kept" if keep else f"❌ {reason or 'dropped'}"


def slot_status(slot: SlotView, candidates: list[CandidateView]) -> str:
    """Where a prompt stands, for its expander's label: waiting, streaming, or finished with its yield."""
    if slot.done:
        mine = [c for c in candidates if c.slot == slot.slot]
        return f"✅ finished · {plural(len(mine), 'candidate')}, {sum(c.keep for c in mine)} kept"
    return "⏳ streaming…" if slot.completion else "🕒 waiting"


def render_iteration(view: IterationView, key: str) -> None:
    """One iteration: prompts with their in-context instructions, completions, candidates, instances.

    Prompts still streaming are open; finished ones say what they yielded (their candidates
    and verdicts are in the table below as soon as each completion ends)."""
    st.subheader(f"Iteration {view.iteration}")
    streaming = [s.slot for s in view.slots if not s.done and s.completion]
    for s in view.slots:
        label = f"Prompt {s.slot + 1} · {slot_status(s, view.candidates)} · " \
                f"{sum(i['origin'] != 'seed' for i in s.in_context)} machine + " \
                f"{sum(i['origin'] == 'seed' for i in s.in_context)} human instructions"
        with st.expander(label, expanded=s.slot in streaming or (not streaming and s.slot == 0)):
            left, right = st.columns(2)
            with left:
                st.markdown("**In-context instructions**")
                st.dataframe(
                    {"origin": [ORIGIN_MARK.get(i["origin"], i["origin"]) for i in s.in_context],
                     "instruction": [i["text"] for i in s.in_context]},
                    hide_index=True, width="stretch",
                )
                st.markdown("**Exact prompt**")
                st.code(s.prompt, language=None, wrap_lines=True, height=220)
            with right:
                status = f"finish: {s.finish_reason}" if s.done else "streaming…" if s.completion else "waiting…"
                tokens = f" · {s.tokens_out} tokens" if s.done and s.tokens_out else ""
                st.markdown(f"**Raw completion** · {status}{tokens}")
                long = s.completion.count("\n") > 14 or len(s.completion) > 1200  # scrolls, so the page stays short
                st.code(s.completion + ("▌" if not s.done else ""), language=None, wrap_lines=True,
                        height=320 if long else "content")
    if not view.candidates:
        st.caption("No candidates parsed yet.")
        return
    render_candidates(view.candidates, key)


def render_candidates(candidates: list[CandidateView], key: str) -> None:
    kept = sum(c.keep for c in candidates)
    st.markdown(f"**Candidates** · {kept} kept of {len(candidates)}")
    st.dataframe(
        {
            "prompt": [c.slot + 1 for c in candidates],
            "verdict": [verdict_label(c.keep, c.reason) for c in candidates],
            "max ROUGE-L": [round(c.max_rouge or 0.0, 3) for c in candidates],
            "instruction": [c.text for c in candidates],
            "why": [c.detail for c in candidates],
            "classification": [{True: "yes", False: "no"}.get(c.is_classification, "") for c in candidates],
            "instances kept": [sum(i["keep"] for i in c.instances) for c in candidates],
        },
        hide_index=True, width="stretch", key=f"{key}-cands",
    )
    pick = st.selectbox(
        "Inspect a candidate", range(len(candidates)), key=f"{key}-pick",
        format_func=lambda i: f"{i + 1}. {candidates[i].text[:90]}",
    )
    c = candidates[pick]
    cols = st.columns([3, 2])
    with cols[0]:
        st.markdown(f"**Verdict:** {verdict_label(c.keep, c.reason)}")
        st.text(c.text)
        if c.detail:
            st.caption(md(c.detail))
        st.markdown("**Most similar pool instructions**")
        st.dataframe({"ROUGE-L": [round(s, 3) for _, s in c.similar], "instruction": [t for t, _ in c.similar]},
                     hide_index=True, width="stretch")
    with cols[1]:
        clf = {True: "yes (output-first instances)", False: "no (input-first instances)"}.get(c.is_classification, "—")
        st.markdown(f"**Classification task:** {clf}")
        st.markdown("**Instances**")
        if c.instances:
            st.dataframe(
                {"verdict": [verdict_label(i["keep"], i["reason"]) for i in c.instances],
                 "input": [i["input"] for i in c.instances], "output": [i["output"] for i in c.instances]},
                hide_index=True, width="stretch",
            )
        else:
            st.caption("none (dropped candidates get no instances)" if not c.keep else "not generated yet")
