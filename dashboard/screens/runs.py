"""Runs: open a workspace, see every run's size, cost and state, and start a new one."""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from dashboard.state import default_seeds, default_workspace, DEMO_SHIPPED, is_demo_copy, open_store, ROOT, workspace_path, writable_workspace
from dashboard.text import md, plural
from dashboard.widgets import lm_form
from selfinstruct.config import LIST_RULE, ConfigError, RunConfig, items_to_text, quote_item, text_to_items
from dashboard.tables import run_summary
from selfinstruct.pipeline import PipelineError, start_run
from selfinstruct.store import StoreError
from selfinstruct.filter_views import MIN_THRESHOLD

# Help text for every RunConfig field, shown beside its widget.
HELP: dict[str, str] = {
    "target": "Stop once this many machine instructions are kept.",
    "seed": "Random seed for sampling in-context instructions: the same seed replays the same prompts.",
    "max_iterations": "Stop after this many iterations (0: only the target stops the run).",
    "n_prompt_instructions": "In-context instructions per prompt (the paper uses 8).",
    "n_machine": "How many of them come from the machine pool once it has some (the paper uses 2).",
    "request_batch_size": "Prompts per iteration.",
    "temperature": "Sampling temperature.",
    "top_p": "Nucleus sampling mass.",
    "presence_penalty": "Penalty on tokens already present (pushes towards new tasks).",
    "frequency_penalty": "Penalty growing with how often a token appeared.",
    "max_tokens": "Longest completion, in tokens.",
    "stop": "Stop sequences: the completion ends where one of them appears.",
    "max_instances": "Most instances kept per instruction.",
    "rouge_threshold": "Drop a candidate whose ROUGE-L with any pool instruction is above this. From "
                       f"{MIN_THRESHOLD} (the lowest the Filters page's what-if can replay) to 1.",
    "similar_k": "How many most-similar pool instructions to record per candidate.",
    "tokenizer": "'rouge' matches the paper (ASCII words); 'unicode' also splits other scripts.",
    "min_words": "Drop instructions shorter than this.",
    "max_words": "Drop instructions longer than this.",
    "blacklist": "Drop instructions containing any of these words: tasks a text model cannot do.",
    "forbidden_prefixes": "Drop instructions starting with these.",
    "drop_punctuation_start": "Drop instructions that start with punctuation.",
    "drop_non_ascii_start": "Drop instructions that start with a non-ASCII character.",
    "drop_duplicates": "Drop exact repeats of a pool instruction.",
    "drop_output_equals_input": "Drop instances whose output repeats the input.",
    "drop_empty_output": "Drop instances with an empty output.",
    "drop_conflicting_outputs": "Drop instances whose input has several different outputs.",
    "drop_colon_ending": "Drop instances whose input or output ends with ':'.",
}
STEPS = {"generate": "1 · Instruction generation", "classify": "2 · Classification",
         "instances": "3 · Instance generation", "filters": "4 · Filters"}

def field_widgets(obj: Any, prefix: str, section: str, problems: list[str]) -> dict[str, Any]:
    """A widget per dataclass field of config ``section`` ("" for the run's own), typed by its default;
    returns the values as entered. No widget has bounds: a browser would replace a value out of them
    silently, so ``RunConfig.validate`` refuses it by name instead. A list that cannot be read is left
    out and its problems are added to ``problems``."""
    out: dict[str, Any] = {}
    cols = st.columns(3)
    for n, f in enumerate(fields(obj)):
        value, key, label = getattr(obj, f.name), f"{prefix}.{f.name}", f.name.replace("_", " ")
        with cols[n % 3]:
            if is_dataclass(value):
                continue
            if isinstance(value, bool):
                out[f.name] = st.toggle(label, value, key=key, help=HELP.get(f.name))
            elif isinstance(value, int):
                out[f.name] = int(st.number_input(label, value=value, step=1, key=key, help=HELP.get(f.name)))
            elif isinstance(value, float):
                out[f.name] = float(st.number_input(label, value=value, step=0.05, key=key, help=HELP.get(f.name),
                                                    format="%.3f"))
            elif isinstance(value, list):
                text = st.text_area(label, items_to_text(value), key=key, height=100,
                                    help=f"{HELP.get(f.name, '')} {LIST_RULE}")
                try:
                    out[f.name] = items = text_to_items(text, f"{section}.{f.name}" if section else f.name)
                except ConfigError as e:
                    problems.extend(e.problems)
                    st.error(md(" · ".join(e.problems)), icon="🚫")
                else:
                    st.caption(md(f"Stored as {plural(len(items), 'item')}: [{', '.join(map(quote_item, items))}]"))
            else:
                out[f.name] = st.text_input(label, value, key=key, help=HELP.get(f.name))
    return out


@st.cache_data(show_spinner=False, max_entries=256)
def summary(path: str, run_id: int, version: str) -> dict[str, Any]:
    """One row of the runs table, read again only when the run's ``version`` changes."""
    s = open_store(path)
    return run_summary(s, s.run(run_id))


def runs_table(store) -> None:
    runs = store.runs()
    if not runs:
        st.info("This workspace holds no run yet: create one below.", icon="ℹ️")
        return
    rows = [summary(str(store.path), r.id, repr((r.updated_at, r.state, r.status, store.counts(r.id),
                                                  store.usage(r.id)))) for r in runs]
    num = st.column_config.NumberColumn
    st.dataframe(
        pd.DataFrame(rows), hide_index=True, width="stretch",
        column_config={
            "id": num("id", width=40),
            "name": st.column_config.TextColumn("name", width=130),
            "kind": st.column_config.TextColumn("kind", width=80),
            "state": st.column_config.TextColumn("state", width=70),
            "language": st.column_config.TextColumn("lang", width=45, help="Language of the run's text"),
            "seeds": num("seeds", width=55, help="Seed tasks (generation runs)"),
            "generated": num("generated", width=75, help="Machine candidates (generation runs)"),
            "kept": num("kept", width=55, help="Generation: machine instructions kept. "
                                               "Import and translation: tasks."),
            "target": num("target", width=55),
            "model": st.column_config.TextColumn("model", width=90, help="The model the run was made with: "
                                                 "a generation run's backend (or endpoint model), a translation's "
                                                 "model; blank for an import"),
            "iterations": num("iter.", width=45, help="Completed iterations"),
            "instances": num("instances", width=70, help="Kept instances of the kept instructions (tasks)"),
            "tokens": num("tokens", format="compact", width=65,
                          help="Prompt + completion tokens of every LM call of the run (generation, answers, "
                               "translation, judge)"),
            "calls": None,
            "cost": st.column_config.TextColumn(
                "cost", width=120,
                help="A generation's own calls at the run's prices, answers at their response set's prices. "
                     "Calls whose prices the workspace does not hold (judge, translation) are 'unknown', never "
                     "priced at another model's rates. '—': no LM call."),
            "cost_usd": None,
            "unpriced_tokens": None,
            "status": st.column_config.TextColumn("status", width="medium"),
        },
    )


def new_run(store) -> None:
    seeds = st.session_state.get("seed_draft")
    with st.container(border=True):
        st.subheader("New run")
        c1, c2 = st.columns([2, 3])
        name = c1.text_input("Run name", value=f"run-{len(store.runs()) + 1}", key="new.name")
        if seeds:
            c2.info(f"Seeds: the {plural(len(seeds), 'task')} prepared on the **Seeds** page.", icon="🌱")
        else:
            c2.info("Seeds: our own `seeds/seed_tasks.jsonl` (edit them on the **Seeds** page).", icon="🌱")
        cfg = RunConfig()
        cfg.lm = lm_form("new.lm", cfg.lm, costs=True, context=True, key_box=True)
        st.markdown("**Run**")
        problems: list[str] = []
        vals = field_widgets(cfg, "new.run", "", problems)
        cfg.target, cfg.seed, cfg.max_iterations = vals["target"], vals["seed"], vals["max_iterations"]
        for step, title in STEPS.items():
            with st.expander(title):
                part = getattr(cfg, step)
                for k, v in field_widgets(part, f"new.{step}", step, problems).items():
                    setattr(part, k, v)
        if st.button("Create run", type="primary", icon="➕"):
            create(store, name.strip(), cfg, seeds, problems)


def create(store, name: str, cfg: RunConfig, seeds, problems: list[str]) -> None:
    """Create the run, or refuse it naming every setting to fix at once (nothing is created then)."""
    problems = list(problems)
    if not name:
        problems.insert(0, "run name: the run needs a name")
    if cfg.lm.backend == "openai" and not cfg.lm.model.strip():
        problems.append("lm.model: the OpenAI-compatible endpoint needs a model name")
    try:  # the threshold's floor is the lowest the Filters page's what-if can replay
        cfg.validate(min_rouge_threshold=MIN_THRESHOLD)
    except ConfigError as e:
        problems.extend(e.problems)
    if problems:
        st.error("The run was not created. Fix these settings:\n\n" + "\n".join(f"- {md(p)}" for p in problems),
                 icon="🚫")
        return
    try:
        run = start_run(store, name, seeds or default_seeds(), cfg)
    except (StoreError, PipelineError) as e:
        st.error(md(str(e)))
        return
    st.session_state["run_id"] = run.id
    st.switch_page("dashboard/screens/generate.py")


def workspace_box() -> None:
    c1, c2 = st.columns([5, 1], vertical_alignment="bottom")
    path = c1.text_input("Workspace file", workspace_path(),
                         help=f"A SQLite file holding runs, LM calls and decisions. Default {default_workspace()} "
                              "(or $SELFINSTRUCT_WORKSPACE); a path that does not exist creates a new workspace, "
                              "once you confirm it.").strip()
    target = Path(path).expanduser().resolve() if path else None
    is_new = target is not None and not target.exists()
    if is_new and path != workspace_path():
        missing = next((p for p in reversed(target.parents) if not p.exists()), None)
        st.info(md(f"No workspace at {target}: opening it creates a new, empty workspace there"
                   + (f", and the folder {missing}" if missing else "") + "."), icon="🆕")
        confirmed = st.checkbox("Create a new workspace there", key=f"ws.create.{target}",  # per path: ticked anew
                                help="Nothing is created until you tick this and press Open.")
    else:
        confirmed = True
    if c2.button("Open", width="stretch"):
        if not path:
            st.error("Give a workspace file, such as runs/studio.sqlite.")
            return
        if path == workspace_path():
            return
        if not confirmed:
            st.warning("Tick **Create a new workspace there** to create it; nothing was created.", icon="⚠️")
            return
        try:
            path = writable_workspace(path)  # the shipped demo recording opens as a private copy
        except OSError as e:
            st.error(md(f"Cannot copy the demo recording: {e}"))
            return
        if path != workspace_path() and open_store(path) is not None:
            st.session_state["workspace"] = path
            st.session_state.pop("run_id", None)
            st.rerun()
    if is_demo_copy(workspace_path()):
        st.info(f"{md(_short(DEMO_SHIPPED))} is the shipped demo recording, so this is a private copy of it, "
                f"{md(_short(Path(workspace_path())))}: what you do here changes only the copy, and the "
                "shipped file is never written.", icon="📋")


def _short(path: Path) -> str:
    """``path`` relative to the project when it lies inside it."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


st.title("🗂️ Runs")
workspace_box()
store = open_store()
if store is not None:
    runs_table(store)
    new_run(store)
