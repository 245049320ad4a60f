"""What LM tokens cost, and how a sum of dollars reads: one formula and one format, so a
cost reads the same in the CLI, the dashboard and an estimate before a job starts."""

from __future__ import annotations


def cost_of(tokens_in: int, tokens_out: int, price_in_per_1m: float, price_out_per_1m: float) -> float:
    """Dollars for ``tokens_in`` prompt and ``tokens_out`` completion tokens at prices per million."""
    return (tokens_in * price_in_per_1m + tokens_out * price_out_per_1m) / 1e6


def money(dollars: float) -> str:
    """``$0.0123`` below a dollar (local runs cost fractions of a cent), ``$12.35`` and
    ``$1,234.57`` from a dollar on."""
    return f"${dollars:,.2f}" if dollars >= 1 else f"${dollars:.4f}"
