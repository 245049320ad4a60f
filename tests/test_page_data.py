"""The Data page: search and filters over a run's instructions, the detail panel that follows its
instruction, and a table that shows 25 rows with room for the reason and its evidence."""

from __future__ import annotations

import json

import streamlit

from selfinstruct.store import Store
from dashboard.state import run_key
from tests.apptest_util import page


def test_data_page_searches_and_filters(ws):
    at = page("data")
    with Store(ws) as s:
        total = len(s.instructions(1))
        machine = len(s.instructions(1, origin="machine"))
        dropped = len(s.instructions(1, verdict="drop"))
    assert len(at.dataframe[0].value) == machine  # generated candidates by default
    at.selectbox(key="data_o").set_value("all").run()
    assert len(at.dataframe[0].value) == total
    at.selectbox(key="data_v").set_value("drop").run()
    assert len(at.dataframe[0].value) == dropped
    at.selectbox(key="data_v").set_value("all").run()
    at.text_input(key="data_q").set_value("haiku").run()
    assert all("haiku" in t.lower() for t in at.dataframe[0].value["instruction"])


def test_data_detail_follows_the_instruction_when_a_filter_changes(ws):
    at = page("data")
    shown = at.dataframe[0].value
    row = next(i for i, v in enumerate(shown["verdict"]) if v == "drop" and i > 0)
    wanted = int(shown["id"].iloc[row])
    at.session_state[run_key("data_table", 1, str(ws))] = {"selection": {"rows": [row], "columns": []}}
    at.run()
    assert any(s.value.startswith(f"Instruction {wanted} ") for s in at.subheader)
    at.selectbox(key="data_v").set_value("drop").run()  # the rows move: the panel stays on the instruction
    assert [s.value for s in at.subheader if s.value.startswith("Instruction ")] == \
           [next(s.value for s in at.subheader if s.value.startswith(f"Instruction {wanted} "))]
    at.selectbox(key="data_v").set_value("keep").run()  # filtered out: the panel closes
    assert not any(s.value.startswith("Instruction ") for s in at.subheader)


def test_data_table_shows_25_rows_and_room_for_reason_and_why(ws, monkeypatch):
    heights: dict[str, int] = {}
    original = streamlit.dataframe

    def spy(data, *args, **kwargs):
        heights[str(kwargs.get("key"))] = kwargs.get("height")
        return original(data, *args, **kwargs)

    monkeypatch.setattr(streamlit, "dataframe", spy)
    at = page("data")
    at.selectbox(key="data_o").set_value("all").run()  # the seeds too: far more than 25 rows
    assert len(at.dataframe[0].value) > 25
    assert next(h for k, h in heights.items() if k.startswith("data_table")) >= 26 * 35  # 25 rows and the header
    config = json.loads(at.dataframe[0].proto.columns)
    assert config["reason"]["width"] >= 100 and config["detail"]["width"] >= 250  # "rouge_similar", the evidence
    assert list(at.dataframe[0].proto.column_order)[:3] == ["id", "verdict", "reason"]
