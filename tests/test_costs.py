"""One price formula and one money format for the CLI, the dashboard and job estimates."""

from __future__ import annotations

import pytest

from selfinstruct.costs import cost_of, money
from selfinstruct.pipeline import RunCost


def test_cost_of_prices_prompt_and_completion_tokens_per_million():
    assert cost_of(1_000_000, 0, 2.5, 10) == pytest.approx(2.5)
    assert cost_of(2_000, 500, 2.5, 10) == pytest.approx(0.01)
    assert cost_of(123, 456, 0, 0) == 0


@pytest.mark.parametrize("dollars, shown", [
    (0, "$0.0000"), (0.0123, "$0.0123"), (0.99994, "$0.9999"), (1, "$1.00"), (12.345, "$12.35"),
    (1234.567, "$1,234.57"),
])
def test_money_reads_the_same_everywhere(dollars, shown):
    assert money(dollars) == shown


def test_run_cost_describes_with_the_same_format():
    assert RunCost(12.345, 3, 0, 0).describe() == "$12.35"
    assert RunCost(0.0123, 3, 1, 40).describe() == "$0.0123 + unknown"
    assert RunCost(0, 0, 1, 40).describe() == "unknown"
    assert RunCost(0, 0, 0, 0).describe() == "—"
