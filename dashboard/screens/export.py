"""Export: write what the chosen run (or one of its filtered views) keeps in a fine-tuning
format, and bring data sets people already have into the workspace as runs."""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from dashboard.datasize import subsets_form
from dashboard.state import current_run, open_store, run_key, workspace_id
from dashboard.text import md
from selfinstruct.formats import FORMATS, ExportOptions, FileFormatError, ImportRefused, export_run, import_file
from selfinstruct.store import StoreError
from selfinstruct.store.responses import response_sets


DOWNLOAD_LIMIT = 200 * 1024 * 1024  # larger files are left on disk only


def export_folder(workspace: Path) -> Path:
    """Where exports go by default: ``exports/<workspace name>/`` beside the workspace file, so data
    never lands in the source tree of a project that only happens to be the current folder."""
    return workspace.resolve().parent / "exports" / workspace.stem


st.title("📦 Export")
store = open_store()
if store is None:
    st.stop()

export_tab, import_tab = st.tabs(["Export", "Import"])

with export_tab:
    run = current_run(store)
    if run is not None:
        st.caption(f"Run **{md(run.name)}** ({run.kind}) · choose another in the sidebar")
        c1, c2 = st.columns(2)
        view_names = store.views(run.id) if run.kind == "generate" else []
        view = c1.selectbox("Data", [None, *view_names], key=run_key("ex_view", run.id),
                            format_func=lambda v: "stored verdicts (what the run kept)" if v is None else f"view {v}")
        sets = [s.name for s in response_sets(store, run.id)]
        responses = c2.selectbox("Outputs", [None, *sets], key=run_key("ex_resp", run.id),
                                 format_func=lambda s: "original outputs" if s is None else f"response set {s}")
        fmt = st.radio("Format", list(FORMATS), key="ex_fmt", horizontal=True,
                       format_func=lambda f: FORMATS[f].title)
        st.caption(FORMATS[fmt].description)
        with st.expander("Options"):
            o1, o2 = st.columns(2)
            seed = o1.number_input("Shuffle seed (GPT-3)", value=42, step=1, key="ex_seed")
            cap = o2.number_input("Instances per task (GPT-3)", value=5, min_value=1, step=1, key="ex_cap")
            system = st.text_area("System message (chat, ShareGPT)", key="ex_system", height=80)
        stem = f"{run.name}{'-' + view if view else ''}{'-' + responses if responses else ''}-{fmt}"
        out = st.text_input("Write to", value=str(export_folder(Path(store.path)) / f"{stem}{FORMATS[fmt].suffix}"),
                            key=f"ex_out.{workspace_id()}.{stem}",
                            help="A file, or a folder for the Hugging Face format. By default beside the workspace, "
                                 "in exports/ and a folder named after it.")
        clicked = st.button("Export", type="primary", icon="📦")
        if clicked and not out.strip():  # Path("") is the current folder: the export would land in the project
            st.error("Nothing was exported: **Write to** is empty. Give the file to write (for the Hugging Face "
                     "format, the folder).", icon="🚫")
        elif clicked:
            try:
                with st.spinner("Writing…"):
                    result = export_run(store, run, fmt=fmt, out=Path(out.strip()).expanduser(), view=view,
                                        responses=responses,
                                        options=ExportOptions(seed=int(seed), max_instances=int(cap), system=system))
            except (StoreError, FileFormatError, ValueError, OSError) as e:
                st.error(md(str(e)))
            else:
                c = result.manifest["counts"]
                st.success(f"Wrote {c['records']:,} records to `{result.path}`")
                m1, m2, m3 = st.columns(3)
                m1.metric("Instructions", f"{c['instructions_exported']:,}")
                m2.metric("Instances", f"{c['instances_exported']:,}")
                m3.metric("Left out (no kept instance)", f"{c['instructions_without_instances']:,}")
                with st.expander("Manifest"):
                    st.json(result.manifest)
                if result.path.is_file() and result.path.stat().st_size <= DOWNLOAD_LIMIT:
                    st.download_button("Download", result.path.read_bytes(), file_name=result.path.name, icon="⬇️")
        subsets_form(store, run, fmt=fmt, view=view, responses=responses,
                     options=ExportOptions(seed=int(seed), max_instances=int(cap), system=system),
                     folder=export_folder(Path(store.path)) / f"{stem}-subsets", key=f"ex_subsets.{workspace_id()}.{stem}")

with import_tab:
    st.caption("Alpaca JSON/JSONL, OpenAI chat JSONL, ShareGPT, GPT-3 prompt/completion, CSV, Parquet, "
               "and the Self-Instruct seed and user-oriented files. Records with the same instruction become "
               "one task; a file with bad records is refused unless you skip them.")
    upload = st.file_uploader("Data set file", type=["json", "jsonl", "csv", "parquet"], key="im_file")
    i1, i2, i3 = st.columns([2, 2, 1])
    fmt_in = i1.selectbox("Format", [None, *FORMATS], key="im_fmt",
                          format_func=lambda f: "detect" if f is None else FORMATS[f].title)
    name = i2.text_input("Run name", value=Path(upload.name).stem if upload else "", key="im_name")
    skip = i3.checkbox("Skip bad records", key="im_skip")
    if upload is not None and st.button("Import", type="primary", icon="📥"):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / Path(upload.name).name
            path.write_bytes(upload.getvalue())
            try:
                result = import_file(store, path, fmt=fmt_in, name=name.strip() or None, skip_bad=skip)
            except ImportRefused as e:
                st.error(md(str(e).splitlines()[0].replace(str(path), upload.name)))
                st.code("\n".join(str(b).replace(str(path), upload.name) for b in e.bad), language=None)
            except (StoreError, FileFormatError, ValueError, OSError) as e:
                st.error(md(str(e).replace(str(path), upload.name)))
            else:
                p = result.parsed
                st.session_state["run_id"] = result.run.id
                st.success(f"Imported {p.records:,} records as run **{md(result.run.name)}**: "
                           f"{len(p.tasks):,} tasks, {p.instances:,} instances. It is now the chosen run.")
                if p.bad:
                    st.warning(f"Skipped {len(p.bad)} bad records")
                    st.code("\n".join(str(b).replace(str(path), upload.name) for b in p.bad), language=None)
