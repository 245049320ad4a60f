import json

import pytest

from selfinstruct.records import Instance, Task
from selfinstruct.formats.exporting import save_tasks
from selfinstruct.seeds import SeedFileError, load_tasks, parse_tasks

from conftest import OFFICIAL_SEEDS, OUR_SEEDS, USER_ORIENTED, shared_file


def test_our_seed_set_is_complete_and_varied():
    tasks = load_tasks(OUR_SEEDS)
    assert len(tasks) == 175
    assert 20 <= sum(t.is_classification for t in tasks) <= 30
    assert 40 <= sum(all(not i.input for i in t.instances) for t in tasks) <= 60
    assert len({t.id for t in tasks}) == 175


def test_reads_the_official_and_user_oriented_files():
    official = load_tasks(shared_file(OFFICIAL_SEEDS))
    assert len(official) == 175 and all(len(t.instances) == 1 for t in official)
    user = load_tasks(shared_file(USER_ORIENTED))
    assert len(user) == 252 and user[0].is_classification is None and user[0].name


GOOD = {"id": "t1", "name": "n", "instruction": "Say hi.", "instances": [{"input": "", "output": "hi"}],
        "is_classification": False}


def line(**changes) -> bytes:
    obj = {**GOOD, **changes}
    return json.dumps({k: v for k, v in obj.items() if v is not ...}).encode()


@pytest.mark.parametrize("raw, expected", [
    (b"", "holds no tasks"),
    (b"\n\n", "holds no tasks"),
    (b"{not json", ":1: invalid JSON"),
    (b"[1, 2]", ":1: expected a JSON object"),
    (line() + b"\n" + line(instruction=...), ":2: missing field 'instruction'"),
    (line(instances=...), "missing field 'instances'"),
    (line(instruction=""), "non-empty string"),
    (line(instruction=5), "non-empty string"),
    (line(instances=[]), "non-empty list"),
    (line(instances=[{"input": 1, "output": "x"}]), "string 'input'"),
    (line(instances=[{"input": "", "output": "x", "extra": 1}]), "unknown field"),
    (line(is_classification="yes"), "true or false"),
    (line(color="red"), "unknown field(s) 'color'"),
    (line() + b"\n" + line(), ":2: duplicate id 't1' (first on line 1)"),
    (b"\xef\xbb\xbf" + line(), "byte-order mark"),
    (line()[:-2] + b"\xff\xfe}", ":1: not valid UTF-8"),
    (b'{"id": "' + b"a" * 50_000_000 + b'"}', ":1: line is 50,000,010 bytes"),
    (line()[:-1] + b', "instruction": "again"}', ":1: key 'instruction' appears twice"),
    (line(instruction="Say \ud800 twice."), ":1: text holds a lone UTF-16 surrogate"),
    (b"[" * 100_000 + b"]" * 100_000, ":1: JSON nested too deeply"),
])
def test_broken_files_fail_whole_with_file_and_line(raw, expected):
    with pytest.raises(SeedFileError) as e:
        parse_tasks(raw, "seeds.jsonl")
    assert str(e.value).startswith("seeds.jsonl") and expected in str(e.value)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(SeedFileError, match="no such file"):
        load_tasks(tmp_path / "nope.jsonl")


def test_save_round_trip(tmp_path):
    tasks = [Task("a", "Name a colour.", (Instance("", "Blue"),), False, name="colour")]
    save_tasks(tmp_path / "s.jsonl", tasks)
    assert load_tasks(tmp_path / "s.jsonl") == tasks
    assert not list(tmp_path.glob(".*tmp"))


from hypothesis import given, settings, strategies as st

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["id", "name", "instruction", "instances", "is_classification", "input", "output", "x"]),
        inner, max_size=5),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_either_load_or_fail_with_a_seed_file_error(raw):
    try:
        tasks = parse_tasks(raw, "f.jsonl")
    except SeedFileError as e:
        assert str(e).startswith("f.jsonl")
    else:
        assert tasks and all(t.instruction for t in tasks)


@settings(max_examples=300, deadline=None)
@given(st.lists(_json_values, min_size=1, max_size=4))
def test_any_json_lines_either_load_or_fail_with_a_seed_file_error(objs):
    raw = "\n".join(json.dumps(o) for o in objs).encode()
    try:
        parse_tasks(raw, "f.jsonl")
    except SeedFileError as e:
        assert str(e).startswith("f.jsonl:")
