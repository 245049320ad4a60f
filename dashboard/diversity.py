"""The Analysis page's Diversity tab: the Vendi score (ROUGE-L kernel) of one or two data sets
beside their n-gram repetition (distinct-1/2/3), from the reports the page already holds."""

from __future__ import annotations

from typing import Any, Sequence

import pandas as pd
import streamlit as st

from dashboard.text import md


def vendi_note(vendi: dict[str, Any] | None) -> str:
    """How a Vendi score was reached, for people: exact, or from how many samples of what size."""
    if vendi is None:
        return "no instruction"
    if vendi["exact"]:
        return f"exact, over all {vendi['n']:,} instructions"
    return (f"estimated from {vendi['n_samples']} random samples of {vendi['sample_size']:,} instructions "
            f"(seed {vendi['seed']}): ± {vendi['std']:.1f} (std of the samples' estimates)")


def diversity_rows(report: dict[str, Any]) -> dict[str, str]:
    """One column of the diversity table: Vendi, its share of the set size, and distinct-n with
    its repetition (1 - distinct-n: the share of n-grams that repeat an earlier one)."""
    vendi = report.get("vendi")
    n = report["n_instructions"]
    rows = {"Vendi score (effective distinct instructions)": f"{vendi['score']:,.1f}" if vendi else "—",
            "Vendi score / instructions": f"{vendi['score'] / n:.1%}" if vendi and n else "—",
            "how": vendi_note(vendi)}
    for k in (1, 2, 3):
        d = report[f"distinct_{k}"]
        rows[f"distinct-{k}"] = f"{d:.3f}"
        rows[f"{k}-gram repetition (1 - distinct-{k})"] = f"{1 - d:.1%}"
    return rows


def diversity_tab(series: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """The Vendi score and n-gram repetition of each (name, full report), side by side."""
    st.caption("The **Vendi score** (Friedman & Dieng, 2023) is the effective number of distinct instructions: "
               "exp of the entropy of the eigenvalues of the ROUGE-L similarity matrix over n, the same exact "
               "ROUGE-L as the novelty filter. It runs from 1 (all alike) to the number of instructions (nothing "
               "shared): exact up to 5,000 instructions, estimated from samples above. Distinct-n counts words "
               "only: the share of n-grams that are not repeats.")
    table = pd.DataFrame({name: diversity_rows(report) for name, report in series})
    st.dataframe(table, width="stretch", height=35 * (len(table) + 1) + 3,
                 column_config={c: st.column_config.TextColumn(alignment="right") for c in table.columns})
    for name, report in series:
        vendi = report.get("vendi")
        if vendi and vendi["negative_mass"] > 0.01:
            st.caption(f"**{md(name)}**: the ROUGE-L matrix is not positive semi-definite (negative eigenvalues "
                       f"sum to -{vendi['negative_mass']:.3f} of 1); the score is that of its nearest PSD matrix.")
