"""The Responses page: each tab shows its own job's progress."""

from __future__ import annotations

from pathlib import Path

from selfinstruct.store import Store
from tests.apptest_util import page

from conftest import wait_until


def test_responses_tabs_show_each_jobs_own_progress(ws):
    at = page("responses")
    at.radio(key="ans.backend").set_value("fake").run()
    at.number_input(key="ans.limit").set_value(5).run()
    at.button(key="ans.go").click().run()
    wait_for(lambda s: (rs := s.query("SELECT COUNT(*) FROM responses")) and rs[0][0] >= 5, ws)
    at.radio(key="tr.backend").set_value("fake").run()
    at.number_input(key="tr.limit").set_value(3).run()
    at.button(key="tr.go").click().run()
    wait_for(lambda s: any(r.kind == "translation" and r.state == "done" for r in s.runs()), ws)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    answer, translate, compare_tab = at.tabs
    assert [s.value for s in answer.subheader] == ["Job: answer → answers"]
    assert [s.value for s in translate.subheader] == ["Job: translate → zh"]
    assert not [s.value for s in compare_tab.subheader if s.value.startswith("Job:")]


def wait_for(ready, path: Path, timeout_s: float = 60) -> None:
    """Wait until ``ready(store)`` holds for the workspace at ``path``."""
    def check():
        with Store(path) as s:
            return ready(s)

    wait_until(check, timeout_s, message="the background job")
