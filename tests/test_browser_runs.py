"""The Runs page's form and the address in a real browser (Chromium via Playwright).

An untouched form stores exactly ``RunConfig()``, newline stop sequences included; values out
of range are named, never replaced; and a reload or a new tab keeps the workspace and run opened.
One server serves the module: each test has its own browser session.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Iterator

import pytest

from selfinstruct.config import RunConfig
from selfinstruct.store import Store
from tests.apptest_util import make_workspace
from tests.browser_util import browser_page, goto, needs_chromium, streamlit_server, wait_idle

pytestmark = [pytest.mark.browser, needs_chromium, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[str, Path, Path]]:
    """(base URL, default workspace, another workspace): the default holds run "first", the other "a" and "b"."""
    tmp = tmp_path_factory.mktemp("runs")
    ws, other = make_workspace(tmp / "ws.sqlite", "first"), make_workspace(tmp / "other.sqlite", "a", "b")
    with streamlit_server(ws, tmp / "server.log") as base:  # the default backend: the embedded model
        yield base, ws, other


def run_names(path: Path) -> list[str]:
    with Store(path) as s:
        return [r.name for r in s.runs()]


def fill(page, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Enter")
    wait_idle(page)


def sidebar_run(page) -> str:
    return page.locator('[data-testid="stSidebar"]').get_by_role("combobox", name="Run").input_value()


def sidebar_workspace(page) -> str:
    return page.locator('[data-testid="stSidebar"]').get_by_text("Workspace:").first.inner_text()


def test_an_untouched_form_stores_the_default_config_and_starts_nothing(server):
    base, ws, _ = server
    with browser_page() as page:
        goto(page, base)
        fill(page, "Run name", "browser-defaults")
        page.get_by_role("button", name="Create run").click()
        page.get_by_role("heading", name="Generate").wait_for()
        wait_idle(page)
        page.wait_for_timeout(1000)
    with Store(ws) as s:
        run = s.run("browser-defaults")
        stored = RunConfig.from_dict(run.config)
        assert run.state == "new" and s.usage(run.id)["calls"] == 0 and s.completed_iterations(run.id) == 0
    default = RunConfig()
    assert (stored.target, stored.seed, stored.max_iterations) == (default.target, default.seed, default.max_iterations)
    for section in ("generate", "classify", "instances", "filters", "lm"):
        for f in fields(getattr(default, section)):
            assert getattr(getattr(stored, section), f.name) == getattr(getattr(default, section), f.name), \
                f"{section}.{f.name}"
    assert stored.generate.stop == ["\n\n", "\n16", "16.", "16 ."] and stored.classify.stop == ["\n", "Task"]
    assert stored == default


def test_three_values_out_of_range_are_all_named_and_no_run_is_created(server):
    base, ws, _ = server
    before = run_names(ws)
    with browser_page() as page:
        goto(page, base)
        fill(page, "Run name", "browser-out-of-range")
        page.get_by_text("4 · Filters").click()
        wait_idle(page)
        for label, value in (("target", "-3"), ("rouge threshold", "0.1"), ("min words", "-5")):
            fill(page, label, value)
        assert [float(page.get_by_label(label, exact=True).input_value())
                for label in ("target", "rouge threshold", "min words")] == [-3, 0.1, -5]  # shown as typed
        page.get_by_role("button", name="Create run").click()
        refusal = page.locator('[data-testid="stAlert"]').filter(has_text="The run was not created")
        refusal.wait_for()
        text = refusal.inner_text()
        assert page.get_by_role("heading", name="Runs").count() == 1
    assert "target: must be at least 1, got -3" in text
    assert "filters.rouge_threshold: must be between 0.3 and 1, got 0.1" in text
    assert "filters.min_words: must be at least 0, got -5" in text
    assert run_names(ws) == before


def test_a_reload_and_a_new_tab_keep_the_workspace_and_run_opened(server, tmp_path):
    base, _, other = server
    with browser_page() as page:
        goto(page, base)
        fill(page, "Workspace file", str(other))
        page.locator('[data-testid="stMain"]').get_by_role("button", name="Open", exact=True).click()
        page.wait_for_timeout(300)
        wait_idle(page)
        assert "other.sqlite" in sidebar_workspace(page)
        page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first.click()
        page.get_by_role("option", name="a · generate · new", exact=True).click()
        page.wait_for_timeout(300)
        wait_idle(page)
        page.locator('[data-testid="stSidebarNav"]').get_by_text("Seeds", exact=True).click()
        page.wait_for_timeout(300)
        wait_idle(page)
        for view in ("reload", "new tab"):
            if view == "reload":
                page.reload()
                shown = page
            else:
                shown = page.context.browser.new_page()
                shown.goto(page.url)
            wait_idle(shown)
            shown.get_by_role("heading", name="Seeds").first.wait_for()
            assert "other.sqlite" in sidebar_workspace(shown), view
            assert sidebar_run(shown) == "a · generate · new", view
        missing = tmp_path / "nowhere" / "gone.sqlite"
        goto(page, f"{base}/?ws={missing}")
        page.get_by_text(f"No workspace at {missing}").wait_for()
        assert "ws.sqlite" in sidebar_workspace(page)
    assert not missing.parent.exists()
