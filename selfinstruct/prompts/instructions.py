"""Prompts of the three generation steps: instructions, classification, instances.

Every step is a pair: a builder that lays out a few-shot prompt, and a parser
that reads the model's continuation back into records. Parsers are forgiving
(models drift from the format) and never raise, so one odd completion costs
one candidate, not a run. The ``render_*`` helpers write a completion in the
exact format the parsers expect; the builders use them for the few-shot part
and the fake LM uses them to answer.

All few-shot text here is our own writing.
"""

from __future__ import annotations

import re
from typing import Sequence

from selfinstruct.records import Instance

# An instruction-generation few-shot is a numbered list under this line.
INSTRUCTION_HEADER = "Come up with a series of tasks:"

CLASSIFICATION_HEADER = (
    "For each task, say whether its answer is always one label taken from a "
    "small fixed set (Yes) or free-form text (No)."
)
INPUT_FIRST_HEADER = (
    "Every task below is followed by worked examples. Each example pairs an "
    "input with the right output; when a task needs no input, the Input line "
    "is left blank."
)
OUTPUT_FIRST_HEADER = (
    "Every task below sorts inputs into a few classes. For each class label, "
    "an example input that belongs to that class is shown."
)

# (instruction, is it classification?) -- 13 Yes, 18 No, topics mixed on purpose.
CLASSIFICATION_EXAMPLES: tuple[tuple[str, bool], ...] = (
    ("Decide whether the given email is spam or a legitimate message.", True),
    ("Write a four-line poem about a city bus at midnight.", False),
    ("Suggest three names for a bakery that specialises in sourdough bread.", False),
    ("Read the product review and label its tone as positive, neutral or negative.", True),
    ("Explain how a refrigerator keeps food cold, in words a ten-year-old would understand.", False),
    ("Translate the sentence into Spanish.", False),
    ("Sort the animal into mammal, bird, reptile, amphibian or fish.", True),
    ("Summarise the meeting notes in no more than three bullet points.", False),
    ("Given a sentence, say whether it is written in the active or the passive voice.", True),
    ("Convert the distance from miles to kilometres.", False),
    ("Plan a one-day walking tour of a city you know well.", False),
    ("Classify the recipe as vegetarian or non-vegetarian based on its ingredient list.", True),
    ("Rewrite the paragraph so that it sounds more polite.", False),
    ("Is the following number prime? Answer true or false.", True),
    ("List five questions to ask a landlord before signing a lease.", False),
    ("Find the longest word in the given sentence.", False),
    ("Determine whether the two words are synonyms, antonyms or unrelated.", True),
    ("Describe the smell of rain to someone who has never experienced it.", False),
    ("Rate how formal the paragraph is on a scale from 1 to 5.", True),
    ("Write a SQL query that returns the ten most recent rows of the orders table.", False),
    ("On which continent is the given capital city?", True),
    ("Give a step-by-step recipe for a vegetable curry using only pantry staples.", False),
    ("What are the main differences between a virus and a bacterium?", False),
    ("Check whether the date is written as YYYY-MM-DD. Reply valid or invalid.", True),
    ("Compose a polite reply declining a wedding invitation.", False),
    ("Tag the support ticket with the team that should handle it: billing, technical or sales.", True),
    ("Create a multiple-choice quiz question about the water cycle.", False),
    ("Count the vowels in the given word.", False),
    ("Given a chess position and a move, tell whether the move is legal.", True),
    ("Extract every email address that appears in the text.", False),
    ("Tell which season the described weather most likely belongs to.", True),
)

# A few-shot task for instance generation: its instruction and its examples.
Demo = tuple[str, tuple[Instance, ...]]

INPUT_FIRST_EXAMPLES: tuple[Demo, ...] = (
    (
        "Turn the list of ingredients into a shopping list grouped by store aisle.",
        (
            Instance(
                "eggs, apples, rice, cheddar, spinach, pasta",
                "Produce: apples, spinach\nDairy: eggs, cheddar\nDry goods: rice, pasta",
            ),
        ),
    ),
    (
        "Give three tips for staying focused while working from home.",
        (
            Instance(
                "",
                "1. Start at a fixed time with a short morning routine.\n"
                "2. Work in a spot that is used only for work.\n"
                "3. Silence notifications during blocks of deep work.",
            ),
        ),
    ),
    (
        "Convert the time from 24-hour format to 12-hour format.",
        (Instance("17:45", "5:45 PM"), Instance("00:10", "12:10 AM")),
    ),
    (
        "Answer the question using only the passage.",
        (
            Instance(
                "Passage: The library opens at nine on weekdays and at ten on Saturdays. "
                "It is closed on Sundays.\nQuestion: Can I borrow a book on Sunday morning?",
                "No, the library is closed on Sundays.",
            ),
        ),
    ),
    (
        "Fix the grammar mistakes in the sentence.",
        (
            Instance(
                "She don't like going their on weekends.",
                "She doesn't like going there on weekends.",
            ),
            Instance("Me and him was late to the match.", "He and I were late to the match."),
        ),
    ),
)

OUTPUT_FIRST_EXAMPLES: tuple[Demo, ...] = (
    (
        "Decide whether the customer message is a complaint or a compliment.",
        (
            Instance("The parcel arrived two weeks late and the box was crushed.", "Complaint"),
            Instance("Your support agent solved my issue in five minutes, thank you!", "Compliment"),
        ),
    ),
    (
        "Is the statement a fact or an opinion?",
        (
            Instance("Water boils at 100 degrees Celsius at sea level.", "Fact"),
            Instance("Summer is the best season for a holiday.", "Opinion"),
        ),
    ),
    (
        "Identify the programming language of the code snippet.",
        (
            Instance("for i in range(3):\n    print(i)", "Python"),
            Instance("console.log([1, 2, 3].map(x => x * 2));", "JavaScript"),
        ),
    ),
    (
        "Classify the triangle by the lengths of its sides.",
        (
            Instance("5 cm, 5 cm, 5 cm", "Equilateral"),
            Instance("4 cm, 4 cm, 6 cm", "Isosceles"),
            Instance("3 cm, 4 cm, 5 cm", "Scalene"),
        ),
    ),
)


def _one_line(text: str) -> str:
    """Collapse every whitespace run to one space, so one item stays on one line."""
    return " ".join(text.split())


def _newlines(text: str) -> str:
    """Normalise CRLF and lone CR so parsers only deal with ``\\n``."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


# --- Step 1: instruction generation -------------------------------------------------

def build_instruction_prompt(instructions: Sequence[str]) -> str:
    """Number the prompt instructions and leave the next number open for the model."""
    lines = [INSTRUCTION_HEADER]
    lines += [f"{i}. {_one_line(text)}" for i, text in enumerate(instructions, 1)]
    lines.append(f"{len(instructions) + 1}.")
    return "\n".join(lines)


def render_instruction_completion(items: Sequence[str], *, start: int = 9) -> str:
    """What a model writes after ``"{start}."``: the first item, then numbered ones."""
    if not items:
        return ""
    rest = "".join(f"\n{start + i}. {_one_line(t)}" for i, t in enumerate(items[1:], 1))
    return " " + _one_line(items[0]) + rest


# A number opens an item at the very start or after a newline: "10.", "10 .", "  3.".
# "(?!\d)" keeps decimals such as "2.5 kg" at a line start inside an item.
_ITEM_NUMBER = re.compile(r"(?:^|\n)[ \t]*\d+[ \t]*\.(?!\d)")


def parse_instructions(completion: str, *, start: int = 9, finish_reason: str = "stop") -> list[str]:
    """Split a continuation of the numbered list into instructions.

    Numbers are only separators, so restarted or skipped numbering does no
    harm; text before the first number is item ``start`` (it continues the
    prompt's open number). Whitespace inside an item is collapsed. When the
    model hit the token limit, the last item is cut off and dropped.
    ``start`` only documents which number the first item has.
    """
    segments = _ITEM_NUMBER.split(_newlines(completion))
    if finish_reason == "length":
        segments = segments[:-1]
    return [item for item in map(_one_line, segments) if item]


# --- Step 2: classification ---------------------------------------------------------

def render_classification_completion(is_classification: bool) -> str:
    """The answer after ``"Is it classification?"``."""
    return " Yes" if is_classification else " No"


def build_classification_prompt(
    instruction: str,
    *,
    examples: Sequence[tuple[str, bool]] = CLASSIFICATION_EXAMPLES,
) -> str:
    """Few-shot Yes/No question: is the task's output one of a few labels?"""
    shots = "".join(
        f"Task: {_one_line(text)}\nIs it classification?{render_classification_completion(label)}\n\n"
        for text, label in examples
    )
    return f"{CLASSIFICATION_HEADER}\n\n{shots}Task: {_one_line(instruction)}\nIs it classification?"


_YES_NO = re.compile(r"[\W_]*(yes|no)(?!\w)", re.IGNORECASE)


def parse_classification(completion: str) -> bool | None:
    """Yes/No at the start (case and punctuation ignored); anything else is unknown."""
    m = _YES_NO.match(completion)
    if m is None:
        return None
    return m.group(1).lower() == "yes"


# --- Step 3: instance generation ----------------------------------------------------

def _field(name: str, text: str) -> str:
    """``"Name: text"``, or a bare ``"Name:"`` when text is empty (no trailing space)."""
    return f"{name}: {text}" if text else f"{name}:"


def render_instance_completion(instances: Sequence[Instance], *, is_classification: bool) -> str:
    """Instances as the model should write them after ``"Task: ...\\n"``.

    Input-first: ``Example N`` blocks of ``Input:`` (bare when empty) and
    ``Output:``. Output-first: ``Class label:`` then ``Input:``. Blocks are
    separated by a blank line; no trailing newline.
    """
    if is_classification:
        blocks = [f"{_field('Class label', i.output)}\n{_field('Input', i.input)}" for i in instances]
    else:
        blocks = [
            f"Example {n}\n{_field('Input', i.input)}\n{_field('Output', i.output)}"
            for n, i in enumerate(instances, 1)
        ]
    return "\n\n".join(blocks)


def build_instance_prompt(
    instruction: str,
    is_classification: bool,
    *,
    examples: Sequence[Demo] | None = None,
) -> str:
    """Few-shot instance prompt: input-first, or output-first for classification.

    Output-first asks for the label before the input, so the model cannot
    drift towards one dominant class. ``examples`` defaults to the matching
    built-in set.
    """
    if examples is None:
        examples = OUTPUT_FIRST_EXAMPLES if is_classification else INPUT_FIRST_EXAMPLES
    header = OUTPUT_FIRST_HEADER if is_classification else INPUT_FIRST_HEADER
    shots = "".join(
        f"Task: {_one_line(text)}\n"
        f"{render_instance_completion(instances, is_classification=is_classification)}\n\n"
        for text, instances in examples
    )
    return f"{header}\n\n{shots}Task: {_one_line(instruction)}\n"


_TASK_LINE = re.compile(r"[ \t]*Task[ \t]*\d*[ \t]*:")
_EXAMPLE_LINE = re.compile(r"[ \t]*Example[ \t]*\d+[ \t]*[:.]?[ \t]*$")
_INPUT = re.compile(r"[ \t]*Input[ \t]*\d*[ \t]*:(.*)")
_OUTPUT = re.compile(r"[ \t]*Output[ \t]*\d*[ \t]*:(.*)")
_LABEL = re.compile(r"[ \t]*Class [Ll]abel[ \t]*\d*[ \t]*:(.*)")


def parse_instances(
    completion: str, *, is_classification: bool, finish_reason: str = "stop"
) -> list[Instance]:
    """Read instances back from an instance-generation completion.

    Reading is line by line. ``Example N`` lines close a block; the first
    field (``Input:``, or ``Class label:`` output-first) opens an instance and
    the second (``Output:``, or ``Input:``) completes it; lines in between
    continue the current field, so both may span several lines. An instance
    without its second field is skipped; a repeated second field starts a new
    instance that keeps the first. Reading stops at a ``Task:`` line. With
    ``finish_reason == "length"`` the instance still open at the end of the
    text was cut by the token limit and is dropped (unless a ``Task:`` line
    closed it). Text outside any field is ignored.
    """
    first, second = (_LABEL, _INPUT) if is_classification else (_INPUT, _OUTPUT)
    pairs: list[tuple[str, str]] = []
    current: list[list[str]] = [[], []]  # lines of the first and second field
    state = -1  # which field the next plain line continues; -1: none
    closed_by_task = False

    def close() -> None:
        if state == 1:
            pairs.append(("\n".join(current[0]).strip(), "\n".join(current[1]).strip()))

    for line in _newlines(completion).split("\n"):
        if _TASK_LINE.match(line):
            closed_by_task = True
            break
        if _EXAMPLE_LINE.match(line):
            close()
            current, state = [[], []], -1
        elif m := first.match(line):
            close()
            current, state = [[m.group(1)], []], 0
        elif m := second.match(line):
            if state == 1:
                close()
                current = [current[0], []]
            current[1] = [m.group(1)]
            state = 1
        elif state >= 0:
            current[state].append(line)
    if closed_by_task or finish_reason != "length":
        close()

    if is_classification:
        return [Instance(input=text, output=label) for label, text in pairs]
    return [Instance(input=text, output=out) for text, out in pairs]
