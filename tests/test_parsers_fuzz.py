"""Property tests: no parser of LM output or of files fails with anything but its own clear error.

The LM-output parsers of the pipeline are covered in test_prompts; the judge's in
test_evaluate. Here: every import format, evaluation and prediction files, and
translations.
"""

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from selfinstruct.evaluate.evalsets import parse_eval_set
from selfinstruct.evaluate.review import parse_review
from selfinstruct.evaluate.rouge import parse_predictions
from selfinstruct.formats import FORMATS, FileFormatError, ImportRefused, read_file
from selfinstruct.responses import parse_translation
from selfinstruct.seeds import SeedFileError

FILE_FORMATS = [f for f in FORMATS.values() if f.suffix and f.name != "hf"]
KEYS = ["instruction", "input", "output", "prompt", "completion", "messages", "conversations", "role",
        "content", "from", "value", "id", "name", "instances", "is_classification", "text", "question_id"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=4),
    max_leaves=10,
)
EXPECTED = (FileFormatError, ImportRefused, SeedFileError, ValueError)


def _read(fmt, payload: bytes):
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / f"data{fmt.suffix}"
        p.write_bytes(payload)
        try:
            parsed = read_file(p, fmt.name)
        except EXPECTED as e:
            assert str(e), "an error must say what is wrong"
            return
        assert all(t.instruction for t in parsed.tasks)
        for bad in parsed.bad:
            assert str(bad)


@pytest.mark.parametrize("fmt", FILE_FORMATS, ids=lambda f: f.name)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.binary(max_size=200))
def test_import_readers_on_any_bytes(fmt, payload):
    _read(fmt, payload)


@pytest.mark.parametrize("fmt", FILE_FORMATS, ids=lambda f: f.name)
@settings(max_examples=60, deadline=None)
@given(records=st.lists(json_values, max_size=4), as_array=st.booleans())
def test_import_readers_on_any_json(fmt, records, as_array):
    text = json.dumps(records) if as_array else "\n".join(json.dumps(r) for r in records)
    _read(fmt, text.encode())


@settings(max_examples=150, deadline=None)
@given(records=st.lists(json_values, max_size=4), as_array=st.booleans())
def test_eval_and_prediction_files(records, as_array):
    raw = (json.dumps(records, indent=1) if as_array else "\n".join(json.dumps(r) for r in records)).encode()
    for parse in (lambda: parse_eval_set(raw, "f.jsonl"), lambda: parse_predictions(raw, "f.jsonl")):
        try:
            parse()
        except EXPECTED as e:
            assert str(e)


@settings(max_examples=300, deadline=None)
@given(raw=st.text(max_size=300), source=st.text(max_size=60))
def test_translation_and_review_parsers_never_raise(raw, source):
    assert isinstance(parse_translation(raw, source), str)
    answers = parse_review(raw)
    assert len(answers) == 4 and all(a in (True, False, None) for a in answers)
