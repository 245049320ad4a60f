"""Exact-string tests of the prompt builders and robustness tests of the parsers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from selfinstruct.prompts import (
    CLASSIFICATION_EXAMPLES,
    CLASSIFICATION_HEADER,
    INPUT_FIRST_EXAMPLES,
    INPUT_FIRST_HEADER,
    OUTPUT_FIRST_EXAMPLES,
    OUTPUT_FIRST_HEADER,
    build_classification_prompt,
    build_instance_prompt,
    build_instruction_prompt,
    parse_classification,
    parse_instances,
    parse_instructions,
    render_classification_completion,
    render_instance_completion,
    render_instruction_completion,
)
from selfinstruct.records import Instance

# --- instruction generation ---------------------------------------------------------


def test_instruction_prompt_exact():
    assert build_instruction_prompt(["Name a colour.", "Add two numbers."]) == (
        "Come up with a series of tasks:\n1. Name a colour.\n2. Add two numbers.\n3."
    )


def test_instruction_prompt_normalises_whitespace():
    prompt = build_instruction_prompt(["  Write\na haiku\r\n about  tea. ", "Say hi."])
    assert prompt == "Come up with a series of tasks:\n1. Write a haiku about tea.\n2. Say hi.\n3."


def test_instruction_prompt_eight_items_ends_with_nine():
    prompt = build_instruction_prompt([f"Task number {i}." for i in range(1, 9)])
    assert prompt.endswith("\n8. Task number 8.\n9.")
    assert prompt.count("\n") == 9


def test_instruction_prompt_empty_list():
    assert build_instruction_prompt([]) == "Come up with a series of tasks:\n1."


def test_render_instruction_completion_format():
    assert render_instruction_completion(["a b", "c", "d"]) == " a b\n10. c\n11. d"
    assert render_instruction_completion(["x", "y"], start=3) == " x\n4. y"
    assert render_instruction_completion([]) == ""


@pytest.mark.parametrize(
    "completion, expected",
    [
        (
            " Name three rivers.\n10. Explain tides.\n11. Sort the list.",
            ["Name three rivers.", "Explain tides.", "Sort the list."],
        ),
        (" A.\n10 . B.\n11 .C.", ["A.", "B.", "C."]),
        ("\n10. A.\n11. B.", ["A.", "B."]),
        (" A.\r\n10. B.\r\n11. C.", ["A.", "B.", "C."]),
        (" A.\rB continues.\r10. C.", ["A. B continues.", "C."]),
        (" A.\n\n   \n10.   B.  \n\n11. C.\n", ["A.", "B.", "C."]),
        (" A.\n  10. B.\n\t11.\tC.", ["A.", "B.", "C."]),
        (" A.\n1. B.\n2. C.", ["A.", "B.", "C."]),  # restarted numbering
        (" A.\n10. B.\n14. C.", ["A.", "B.", "C."]),  # skipped numbers
        ("Here are more:\n10. B.", ["Here are more:", "B."]),  # text before the first number
        ("10. A.\n11. B.", ["A.", "B."]),  # chat-style restart at the very start
        (" A.\n10.\n11. C.", ["A.", "C."]),  # empty item
        (" Weigh\n2.5 kg of flour.\n10. B.", ["Weigh 2.5 kg of flour.", "B."]),  # decimal is no number
        (" Use 3. as a literal.\n10. B.", ["Use 3. as a literal.", "B."]),  # only line starts count
        ("", []),
        ("   \n\n ", []),
        ("\n10.\n11.", []),
    ],
)
def test_parse_instructions(completion, expected):
    assert parse_instructions(completion) == expected


def test_parse_instructions_length_drops_cut_item():
    text = " A.\n10. B.\n11. Describe the"
    assert parse_instructions(text, finish_reason="length") == ["A.", "B."]
    assert parse_instructions(text, finish_reason="stop") == ["A.", "B.", "Describe the"]


def test_parse_instructions_length_cut_right_after_number_keeps_previous():
    assert parse_instructions(" A.\n10. B.\n11.", finish_reason="length") == ["A.", "B."]


def test_parse_instructions_length_single_item():
    assert parse_instructions(" Describe the", finish_reason="length") == []
    assert parse_instructions("", finish_reason="length") == []


one_line = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1).map(lambda s: " ".join(s.split()))


@given(st.lists(one_line.filter(lambda s: s and not s[0].isdigit()), max_size=12))
def test_instruction_round_trip(items):
    assert parse_instructions(render_instruction_completion(items)) == items


@given(st.lists(one_line.filter(lambda s: s and not s[0].isdigit()), max_size=10))
def test_instruction_prompt_round_trip(items):
    """The prompt itself, read from after "1.", parses back to its items."""
    prompt = build_instruction_prompt(items)
    body = prompt.split("\n", 1)[1][2:]
    assert parse_instructions(body) == items


@given(st.text(), st.sampled_from(["stop", "length", ""]), st.integers())
def test_parse_instructions_never_raises(text, reason, start):
    out = parse_instructions(text, start=start, finish_reason=reason)
    assert isinstance(out, list)
    assert all(isinstance(s, str) and s and s == s.strip() and "\n" not in s for s in out)


# --- classification -----------------------------------------------------------------


def test_classification_examples_shape():
    assert 25 <= len(CLASSIFICATION_EXAMPLES) <= 40
    yes = sum(label for _, label in CLASSIFICATION_EXAMPLES)
    assert 0.3 <= yes / len(CLASSIFICATION_EXAMPLES) <= 0.5
    assert len({text for text, _ in CLASSIFICATION_EXAMPLES}) == len(CLASSIFICATION_EXAMPLES)
    assert all("\n" not in text for text, _ in CLASSIFICATION_EXAMPLES)


def test_classification_prompt_exact_small():
    prompt = build_classification_prompt(
        "Is this\n  word a verb?", examples=[("Pick red or blue.", True), ("Write a joke.", False)]
    )
    assert prompt == (
        f"{CLASSIFICATION_HEADER}\n\n"
        "Task: Pick red or blue.\nIs it classification? Yes\n\n"
        "Task: Write a joke.\nIs it classification? No\n\n"
        "Task: Is this word a verb?\nIs it classification?"
    )


def test_classification_prompt_default_examples():
    prompt = build_classification_prompt("Guess the mood of the song lyrics.")
    assert prompt.startswith(CLASSIFICATION_HEADER + "\n\nTask: ")
    assert "\n" not in CLASSIFICATION_HEADER
    assert prompt.endswith("\n\nTask: Guess the mood of the song lyrics.\nIs it classification?")
    for text, label in CLASSIFICATION_EXAMPLES:
        assert f"Task: {text}\nIs it classification? {'Yes' if label else 'No'}\n\n" in prompt


def test_render_classification_completion():
    assert render_classification_completion(True) == " Yes"
    assert render_classification_completion(False) == " No"


@pytest.mark.parametrize(
    "completion, expected",
    [
        (" Yes", True), ("yes", True), (" Yes.", True), ("YES\n", True), ("\n- yes, it is", True),
        (" No", False), ("NO", False), ("no,", False), (" No.", False), ('"No"', False),
        ("", None), ("   ", None), (" Maybe", None), (" Not sure", None), (" Nope", None),
        (" Yesterday", None), (" It is yes", None), ("42", None),
    ],
)
def test_parse_classification(completion, expected):
    assert parse_classification(completion) is expected


@given(st.text())
def test_parse_classification_never_raises(text):
    assert parse_classification(text) in (True, False, None)


@given(st.booleans())
def test_classification_round_trip(label):
    assert parse_classification(render_classification_completion(label)) is label


# --- instance generation ------------------------------------------------------------

SMALL_INPUT_FIRST = [
    ("Add the numbers.", (Instance("2, 3", "5"), Instance("1, 1", "2"))),
    ("Name a fruit.", (Instance("", "Pear"),)),
]
SMALL_OUTPUT_FIRST = [("Is the number even or odd?", (Instance("4", "Even"), Instance("7", "Odd")))]


def test_instance_prompt_input_first_exact_small():
    prompt = build_instance_prompt("List two\nprimes.", False, examples=SMALL_INPUT_FIRST)
    assert prompt == (
        f"{INPUT_FIRST_HEADER}\n\n"
        "Task: Add the numbers.\n"
        "Example 1\nInput: 2, 3\nOutput: 5\n\n"
        "Example 2\nInput: 1, 1\nOutput: 2\n\n"
        "Task: Name a fruit.\n"
        "Example 1\nInput:\nOutput: Pear\n\n"
        "Task: List two primes.\n"
    )


def test_instance_prompt_output_first_exact_small():
    prompt = build_instance_prompt("Is the word a noun?", True, examples=SMALL_OUTPUT_FIRST)
    assert prompt == (
        f"{OUTPUT_FIRST_HEADER}\n\n"
        "Task: Is the number even or odd?\n"
        "Class label: Even\nInput: 4\n\n"
        "Class label: Odd\nInput: 7\n\n"
        "Task: Is the word a noun?\n"
    )


@pytest.mark.parametrize(
    "is_cls, examples, header",
    [(False, INPUT_FIRST_EXAMPLES, INPUT_FIRST_HEADER), (True, OUTPUT_FIRST_EXAMPLES, OUTPUT_FIRST_HEADER)],
)
def test_instance_prompt_default_examples(is_cls, examples, header):
    prompt = build_instance_prompt("Do the thing.", is_cls)
    assert prompt.startswith(header + "\n\nTask: ")
    assert "\n" not in header
    assert prompt.endswith("\n\nTask: Do the thing.\n")
    for text, instances in examples:
        assert 1 <= len(instances) <= 3
        block = f"Task: {text}\n{render_instance_completion(instances, is_classification=is_cls)}\n\n"
        assert block in prompt


def test_builtin_examples_cover_no_input_and_multiline():
    inputs = [i.input for _, ins in INPUT_FIRST_EXAMPLES for i in ins]
    outputs = [i.output for _, ins in INPUT_FIRST_EXAMPLES for i in ins]
    assert "" in inputs
    assert any("\n" in s for s in inputs) and any("\n" in s for s in outputs)
    assert len(INPUT_FIRST_EXAMPLES) >= 3 and len(OUTPUT_FIRST_EXAMPLES) >= 3


@pytest.mark.parametrize("is_cls", [False, True])
def test_builtin_examples_round_trip(is_cls):
    for _, instances in OUTPUT_FIRST_EXAMPLES if is_cls else INPUT_FIRST_EXAMPLES:
        text = render_instance_completion(instances, is_classification=is_cls)
        assert parse_instances(text, is_classification=is_cls) == list(instances)


def test_render_instance_completion_formats():
    ins = [Instance("a", "b"), Instance("", "d")]
    assert render_instance_completion(ins, is_classification=False) == (
        "Example 1\nInput: a\nOutput: b\n\nExample 2\nInput:\nOutput: d"
    )
    assert render_instance_completion(ins, is_classification=True) == (
        "Class label: b\nInput: a\n\nClass label: d\nInput:"
    )
    assert render_instance_completion([], is_classification=False) == ""


def _io(text, **kw):
    return [(i.input, i.output) for i in parse_instances(text, is_classification=False, **kw)]


def _lo(text, **kw):
    return [(i.output, i.input) for i in parse_instances(text, is_classification=True, **kw)]


@pytest.mark.parametrize(
    "completion, expected",
    [
        ("Example 1\nInput: a\nOutput: b\n\nExample 2\nInput: c\nOutput: d", [("a", "b"), ("c", "d")]),
        ("Example 1\nInput:\nOutput: only output", [("", "only output")]),
        ("Example 1\nOutput: no input line", [("", "no input line")]),
        (
            "Example 1\nInput: line one\nline two\nOutput: out one\n\nout two\n\n",
            [("line one\nline two", "out one\n\nout two")],
        ),
        (
            "Example 1\r\nInput: a\r\nOutput: b\r\n\r\nExample 2\r\nInput: c\r\nOutput: d\r\n",
            [("a", "b"), ("c", "d")],
        ),
        ("Example 1:\n  Input 1: a\n  Output 1 : b\nExample 2.\nInput:c\nOutput:d", [("a", "b"), ("c", "d")]),
        ("Example 1\nInput: a\n\nExample 2\nInput: c\nOutput: d", [("c", "d")]),  # no Output: skipped
        ("Example 1\nInput: a\nOutput: b\nInput: c\nOutput: d", [("a", "b"), ("c", "d")]),  # missing header
        ("Example 1\nInput: a\nOutput: b\nOutput: b2", [("a", "b"), ("a", "b2")]),
        ("Sure! Here they are.\nExample 1\nInput: a\nOutput: b", [("a", "b")]),  # preamble ignored
        ("Example 1\nInput: a\nOutput: b\n\nTask: Next task\nExample 1\nInput: x\nOutput: y", [("a", "b")]),
        ("Example 1\nInput: a\nOutput:\n", [("a", "")]),  # empty output kept for the filters
        ("Example 1\nInput: a\nOutput: say Input: twice", [("a", "say Input: twice")]),  # mid-line: text
        ("", []),
        ("just some words", []),
        ("Output: x", [("", "x")]),
    ],
)
def test_parse_instances_input_first(completion, expected):
    assert _io(completion) == expected


@pytest.mark.parametrize(
    "completion, expected",
    [
        ("Class label: Yes\nInput: a\n\nClass label: No\nInput: b", [("Yes", "a"), ("No", "b")]),
        (
            "Class label: Python\nInput: for x in y:\n    pass\n\nClass label: C\nInput: int x;",
            [("Python", "for x in y:\n    pass"), ("C", "int x;")],
        ),
        ("Class Label: A\r\nInput: a\r\n", [("A", "a")]),
        ("Class label: A\n\nClass label: B\nInput: b", [("B", "b")]),  # no Input: skipped
        ("Class label: A\nInput: a1\nInput: a2", [("A", "a1"), ("A", "a2")]),
        (
            "Example 1\nClass label: A\nInput: a\nExample 2\nClass label: B\nInput: b",
            [("A", "a"), ("B", "b")],
        ),
        ("Class label: A\nInput: a\nTask: next\nClass label: B\nInput: b", [("A", "a")]),
        ("Class label: A\nInput:", [("A", "")]),
        ("", []),
        ("Input: a", [("", "a")]),
    ],
)
def test_parse_instances_output_first(completion, expected):
    assert _lo(completion) == expected


def test_parse_instances_length_drops_open_instance():
    text = "Example 1\nInput: a\nOutput: b\n\nExample 2\nInput: c\nOutput: half of"
    assert _io(text, finish_reason="length") == [("a", "b")]
    assert _io(text, finish_reason="stop") == [("a", "b"), ("c", "half of")]
    # Cut before the Output: line: the open block had no output anyway; earlier ones stay.
    cut_early = "Example 1\nInput: a\nOutput: b\n\nExample 2\nInput: c"
    assert _io(cut_early, finish_reason="length") == [("a", "b")]
    cut_label = "Class label: A\nInput: a\n\nClass label: B\nInput: cut"
    assert _lo(cut_label, finish_reason="length") == [("A", "a")]


def test_parse_instances_length_with_task_line_keeps_last():
    """A Task: line shows the last instance was finished before the cut."""
    text = "Example 1\nInput: a\nOutput: b\nTask: Another one\nExample 1\nInput: x"
    assert _io(text, finish_reason="length") == [("a", "b")]


field_text = st.text(st.sampled_from("abc xyz\n\t.,"), max_size=30).map(str.strip)
instances = st.lists(st.builds(Instance, field_text, field_text), max_size=6)


@given(instances)
def test_input_first_round_trip(items):
    text = render_instance_completion(items, is_classification=False)
    assert parse_instances(text, is_classification=False) == items


@given(instances)
def test_output_first_round_trip(items):
    text = render_instance_completion(items, is_classification=True)
    assert parse_instances(text, is_classification=True) == items


@given(st.text(), st.booleans(), st.sampled_from(["stop", "length", "other"]))
def test_parse_instances_never_raises(text, is_cls, reason):
    out = parse_instances(text, is_classification=is_cls, finish_reason=reason)
    assert isinstance(out, list)
    for inst in out:
        assert isinstance(inst, Instance)
        assert isinstance(inst.input, str) and isinstance(inst.output, str)
        assert inst.input == inst.input.strip() and inst.output == inst.output.strip()


marker_soup = st.lists(
    st.sampled_from(
        ["Example 1", "Example 2:", "Input:", "Input: a", "Output:", "Output: b", "Class label: X",
         "Task:", "", "  ", "text", "\r", "10.", " 11 .", "Yes", "no"]
    ),
    max_size=20,
).map("\n".join)


@given(marker_soup, st.booleans(), st.sampled_from(["stop", "length"]))
def test_parsers_survive_marker_soup(text, is_cls, reason):
    found = parse_instances(text, is_classification=is_cls, finish_reason=reason)
    assert all(isinstance(i, Instance) for i in found)
    assert all(isinstance(s, str) for s in parse_instructions(text, finish_reason=reason))
    assert parse_classification(text) in (True, False, None)
