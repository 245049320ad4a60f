"""The data-size experiment on the dashboard: nested subsets on the Export page, and the
scaling chart (a metric against the subset size, log axis) on the Analysis page."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable, Hashable

import pandas as pd
import streamlit as st

from dashboard.text import md
from selfinstruct import scaling
from selfinstruct.formats import ExportOptions, FileFormatError
from selfinstruct.formats.subsets import DOUBLING, export_subsets, subset_sizes, subset_summary
from selfinstruct.records import Task
from selfinstruct.store import RunInfo, Store, StoreError


def subsets_form(store: Store, run: RunInfo, *, fmt: str, view: str | None, responses: str | None,
                 options: ExportOptions, folder: Path, key: str) -> None:
    """Write nested random subsets of what the export above would hold, in its format."""
    with st.expander("Nested subsets for a data-size experiment"):
        st.caption("Random subsets of the exported instructions, each holding every smaller one (prefixes of one "
                   "seeded order), one file and manifest per size, in the format above. Fine-tune on each, "
                   "evaluate, and chart the scores on **Analysis** · *Data size*.")
        c1, c2 = st.columns([3, 1])
        sizes = c1.text_input("Sizes", value=DOUBLING, key=f"{key}.sizes",
                              help="'doubling' (from the run's seed count up to the whole set) or sizes such as "
                                   "100,200,400")
        seed = c2.number_input("Subset seed", value=0, step=1, key=f"{key}.seed")
        out = st.text_input("Folder", value=str(folder), key=f"{key}.folder")
        if st.button("Write subsets", icon="🪆", key=f"{key}.go"):
            try:
                with st.spinner("Writing…"):
                    result = export_subsets(store, run, fmt=fmt, out=Path(out.strip()).expanduser(), sizes=sizes,
                                            seed=int(seed), view=view, responses=responses, options=options)
            except (StoreError, FileFormatError, ValueError, OSError) as e:
                st.error(md(str(e)))
            else:
                st.success(f"Wrote {len(result.sizes)} nested subsets to `{result.folder}` "
                           f"(index: `{result.index_path.name}`)")
                st.dataframe(pd.DataFrame(subset_summary(result)), hide_index=True)


def scaling_tab(load_tasks: Callable[[], list[Task]], n_seeds: int, ident: Hashable, key: str) -> None:
    """The scaling chart: from a metrics file the user uploads, or the diversity of the chosen data
    set's nested subsets (the very ones the Export page writes with the same sizes and seed).
    ``load_tasks`` is called only on a click; ``ident`` names the data set and its version, so a
    table computed for other data is never drawn."""
    st.caption("The Self-Instruct data-size experiment: a metric per nested subset against its size, on a log "
               "axis. Upload the scores of the models tuned on each subset (CSV or JSON: a `size` column, then "
               "one column per metric), or compute the subsets' own diversity.")
    upload = st.file_uploader("Metrics per subset size", type=["csv", "json"], key=f"{key}.file")
    table, labels = None, {}
    if upload is not None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / Path(upload.name).name
            path.write_bytes(upload.getvalue())
            try:
                table = scaling.read_metrics(path)
            except (ValueError, OSError) as e:
                st.error(md(str(e)))
    else:
        c1, c2 = st.columns([3, 1])
        sizes = c1.text_input("Sizes", value=DOUBLING if n_seeds else "", key=f"{key}.sizes",
                              help="as on the Export page: 'doubling' or sizes such as 100,200,400")
        seed = c2.number_input("Subset seed", value=0, step=1, key=f"{key}.seed")
        done = st.session_state.get(f"{key}.table")
        if st.button("Compute the subsets' diversity", key=f"{key}.go"):
            usable = [t for t in load_tasks() if t.instances]
            try:
                wanted = subset_sizes(sizes, len(usable), n_seeds)
            except ValueError as e:
                st.error(md(str(e)))
            else:
                with st.spinner("Vendi score and distinct-n of each subset…"):
                    done = (sizes, int(seed), ident, scaling.subset_metrics(usable, wanted, int(seed)))
                st.session_state[f"{key}.table"] = done
        if done is not None and done[:3] == (sizes, int(seed), ident):
            table, labels = done[3], scaling.DATA_METRICS
    if table:
        st.plotly_chart(scaling.scaling_chart(table, labels=labels), key=f"{key}.chart")
        st.dataframe(pd.DataFrame({labels.get(m, m): dict(points) for m, points in table.items()})
                     .rename_axis("size"), width="stretch")
