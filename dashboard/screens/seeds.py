"""Seeds: the human-written tasks a run starts from. Browse, search, edit, add,
delete, upload; the prepared set is stored in the run when it is created."""

from __future__ import annotations

import itertools
import json

import streamlit as st

from dashboard.state import default_seeds, follow_selection, OFFICIAL_SEEDS, OWN_SEEDS
from dashboard.text import md, plural
from selfinstruct.records import Instance, Task
from selfinstruct.seeds import SeedFileError, load_tasks, parse_tasks, task_to_json

st.title("🌱 Seeds")
st.caption("The seed tasks prepared here are stored in a run when you create it on the **Runs** page.")

if "seed_draft" not in st.session_state:
    st.session_state["seed_draft"] = list(default_seeds())
    st.session_state["seed_source"] = str(OWN_SEEDS.relative_to(OWN_SEEDS.parent.parent))
    st.session_state["seed_source_short"] = "our file"
draft: list[Task] = st.session_state["seed_draft"]


def replace_draft(tasks: list[Task], source: str, short: str) -> None:
    """Use ``tasks``; ``source`` says where they came from, ``short`` in a few characters."""
    st.session_state["seed_draft"] = tasks
    st.session_state["seed_source"] = source
    st.session_state["seed_source_short"] = short
    st.session_state["seed_edits"] = {"added": 0, "changed": 0, "deleted": 0}
    st.session_state.pop("seed_pick", None)
    st.session_state.pop("seed_pending", None)


def edited(kind: str) -> None:
    """Count a manual edit (added, changed, deleted): a later file load asks before it drops them."""
    edits = st.session_state.setdefault("seed_edits", {"added": 0, "changed": 0, "deleted": 0})
    edits[kind] += 1


def offer(tasks: list[Task], source: str, short: str) -> None:
    """Load ``tasks`` in place of the draft, or, when the draft holds manual edits, ask first:
    a file chosen by mistake must never silently undo an afternoon's editing."""
    if any(st.session_state.get("seed_edits", {}).values()):
        st.session_state["seed_pending"] = (tasks, source, short)
    else:
        replace_draft(tasks, source, short)
    st.rerun()


with st.container(border=True):
    c1, c2, c3 = st.columns([1, 1, 2], vertical_alignment="bottom")
    if c1.button("Our seed file", icon="🌱", help=f"{OWN_SEEDS}", width="stretch"):
        offer(list(default_seeds()), "seeds/seed_tasks.jsonl", "our file")
    if c2.button("Official 175 seeds", icon="📄", disabled=not OFFICIAL_SEEDS.exists(), width="stretch",
                 help=str(OFFICIAL_SEEDS) if OFFICIAL_SEEDS.exists() else f"not found: {OFFICIAL_SEEDS}"):
        try:
            official = load_tasks(OFFICIAL_SEEDS)
        except SeedFileError as e:
            st.error(md(str(e)))
        else:
            offer(official, "the official Self-Instruct seeds", "official")
    upload = c3.file_uploader("Upload a seed file (JSONL, one task per line)", type=["jsonl", "json", "txt"])
    if upload is not None and st.session_state.get("seed_upload_id") != upload.file_id:
        st.session_state["seed_upload_id"] = upload.file_id
        try:
            tasks = parse_tasks(upload.getvalue(), upload.name)
        except SeedFileError as e:
            st.session_state["seed_upload_error"] = str(e)
        else:
            offer(tasks, f"uploaded file {upload.name}", "upload")
    if err := st.session_state.pop("seed_upload_error", None):
        st.error(md(f"Seed file rejected, nothing was changed: {err}"), icon="🚫")

if pending := st.session_state.get("seed_pending"):
    tasks, source, short = pending
    edits = st.session_state["seed_edits"]
    with st.container(border=True):
        st.warning(
            f"**Replace your edited seeds?** The editor holds {plural(len(draft), 'seed task')}, with your edits "
            f"since loading {md(st.session_state.get('seed_source', ''))}: {edits['added']} added, "
            f"{edits['changed']} changed, {edits['deleted']} deleted. {md(source[0].upper() + source[1:])} holds "
            f"{plural(len(tasks), 'task')}. Replacing drops all {len(draft):,} and your edits with them "
            "(the **Download** tab below saves a copy first).", icon="⚠️")
        b1, b2, _ = st.columns([1, 1, 3])
        if b1.button("Replace", key="seed_replace", type="primary", icon="🔁",
                     width="stretch"):
            replace_draft(tasks, source, short)
            st.rerun()
        if b2.button("Keep my edits", key="seed_keep", icon="✋", width="stretch"):
            st.session_state.pop("seed_pending")
            st.rerun()

m1, m2, m3, m4 = st.columns(4)
m1.metric("Seed tasks", len(draft))
m2.metric("Classification", sum(t.is_classification is True for t in draft))
m3.metric("Instances", sum(len(t.instances) for t in draft))
m4.metric("Source", st.session_state.get("seed_source_short", ""), help=md(st.session_state.get("seed_source", "")))

query = st.text_input("Search", placeholder="words in the instruction or name", key="seed_query")
shown = [i for i, t in enumerate(draft) if query.lower() in (t.instruction + " " + t.name).lower()]
# The selection is a task id, not a row number: it follows its task when the search changes the rows,
# and is gone once the task is filtered out.
shown_ids = [draft[i].id for i in shown]
follow_selection("seed_table", "seed_pick", shown_ids)
table = st.dataframe(
    {"id": shown_ids, "name": [draft[i].name for i in shown],
     "instruction": [draft[i].instruction for i in shown],
     "classification": [bool(draft[i].is_classification) for i in shown],
     "instances": [len(draft[i].instances) for i in shown]},
    hide_index=True, width="stretch", height=320, on_select="rerun", selection_mode="single-row", key="seed_table",
    column_config={  # every column in view at 1,400 px; the full task opens below when its row is selected
        "id": st.column_config.TextColumn("id", width=110),
        "name": st.column_config.TextColumn("name", width=160),
        "instruction": st.column_config.TextColumn("instruction", width=420),
        "classification": st.column_config.CheckboxColumn("classification", width=100),
        "instances": st.column_config.NumberColumn("instances", width=80),
    },
)
pick_id = follow_selection("seed_table", "seed_pick", shown_ids, table.selection.rows)
picked = next((i for i in shown if draft[i].id == pick_id), None)


def editor(task: Task, index: int | None) -> None:
    """Edit one task (index None: a new one)."""
    with st.form(f"seed_form_{index}_{task.id}"):
        c1, c2, c3 = st.columns([1, 2, 1])
        tid = c1.text_input("id", task.id)
        name = c2.text_input("name", task.name)
        clf = c3.toggle("classification task", bool(task.is_classification))
        instruction = st.text_area("instruction", task.instruction, height=90)
        insts = st.data_editor(
            [{"input": i.input, "output": i.output} for i in task.instances] or [{"input": "", "output": ""}],
            num_rows="dynamic", width="stretch", key=f"seed_inst_{index}_{task.id}",
            column_config={"input": st.column_config.TextColumn("input", width="large"),
                           "output": st.column_config.TextColumn("output", width="large")},
        )
        save = st.form_submit_button("Save task" if index is not None else "Add task", type="primary")
    if save:
        instances = tuple(Instance(r.get("input") or "", r.get("output") or "") for r in insts
                          if (r.get("input") or r.get("output")))
        problem = None
        if not instruction.strip():
            problem = "the instruction is empty"
        elif not instances:
            problem = "a task needs at least one instance with an output"
        elif any(t.id == tid.strip() for i, t in enumerate(draft) if i != index):
            problem = f"another task already has id {tid.strip()!r}"
        if problem:
            st.error(md(f"Not saved: {problem}."))
            return
        new = Task(id=tid.strip(), instruction=instruction.strip(), instances=instances,
                   is_classification=clf, name=name.strip())
        if index is None:
            draft.append(new)
            edited("added")
        else:
            draft[index] = new
            edited("changed")
            st.session_state["seed_pick"] = new.id  # the selection follows an edited id
        st.rerun()


tab_edit, tab_add, tab_file = st.tabs(["✏️ Edit selected", "➕ Add", "💾 Download"])
with tab_edit:
    if picked is None:
        st.caption("Select a row above to edit or delete it.")
    else:
        st.caption(md(f"Task {draft[picked].id}" + (f" · {draft[picked].name}" if draft[picked].name else "")))
        editor(draft[picked], picked)
        if st.button("Delete this task", icon="🗑️"):
            del draft[picked]
            edited("deleted")
            st.session_state.pop("seed_pick", None)
            st.rerun()
with tab_add:
    taken = {t.id for t in draft}  # after a delete, len(draft) may name a task that is still there
    editor(Task(id=next(f"seed_task_{n}" for n in itertools.count(len(draft)) if f"seed_task_{n}" not in taken),
                instruction="", instances=()), None)
with tab_file:
    st.download_button("Download the seeds as JSONL", "".join(json.dumps(task_to_json(t), ensure_ascii=False) + "\n"
                                                             for t in draft),
                       file_name="seed_tasks.jsonl", mime="application/jsonl", icon="⬇️")
