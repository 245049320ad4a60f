from selfinstruct import filters
from selfinstruct.config import FilterConfig
from selfinstruct.records import Instance

CFG = FilterConfig()


def reason(text: str, seen=()) -> str | None:
    return filters.instruction_verdict(text, CFG, seen).reason


def test_keeps_a_normal_instruction():
    assert filters.instruction_verdict("Summarize the following news article in two sentences.", CFG).keep


def test_length_bounds():
    assert reason("Do it now") == filters.TOO_SHORT           # 3 words
    assert reason("Do it right now") is None                   # 4 words
    assert reason(" ".join(["word"] * 150)) is None
    assert reason(" ".join(["word"] * 151)) == filters.TOO_LONG


def test_blacklist_is_whole_word_and_case_insensitive():
    assert reason("Describe the Image in detail please.") == filters.BLACKLIST
    assert reason("Please go to the store and list prices.") == filters.BLACKLIST
    assert reason("Explain how imagery works in poems.") is None
    assert "image" in filters.instruction_verdict("Describe this IMAGE for me now.", CFG).detail


def test_prefix_punctuation_and_non_ascii():
    assert reason("Write a program that sorts a list.") == filters.PREFIX
    assert reason("write a PROGRAM that sorts a list.") == filters.PREFIX
    assert reason("- Explain the water cycle to kids.") == filters.PUNCT_START
    assert reason("¿Cómo se dice hello en inglés?") == filters.NON_ASCII_START


def test_duplicate_against_seen():
    assert reason("Explain the water cycle to kids.", {"Explain the water cycle to kids."}) == filters.DUPLICATE


def test_switches_turn_filters_off():
    cfg = FilterConfig(blacklist=[], forbidden_prefixes=[], drop_punctuation_start=False, min_words=1)
    assert filters.instruction_verdict("- Write a program to draw an image", cfg).keep


def test_instance_rules():
    insts = [
        Instance("a", ""),            # empty output
        Instance("same", "same"),     # output equals input
        Instance("x:", "y"),          # input ends with colon
        Instance("q", "one"),         # conflicting
        Instance("q", "two"),         # conflicting
        Instance("", "fine"),
        Instance("", "fine"),         # duplicate
    ]
    got = [v.reason for v in filters.instance_verdicts(insts, CFG)]
    assert got == [filters.EMPTY_OUTPUT, filters.OUTPUT_EQUALS_INPUT, filters.COLON_ENDING,
                   filters.CONFLICTING, filters.CONFLICTING, None, filters.DUPLICATE_INSTANCE]


def test_at_most_max_instances_are_kept():
    insts = [Instance(f"in {i}", f"out {i}") for i in range(8)]
    verdicts = filters.instance_verdicts(insts, CFG)
    assert sum(v.keep for v in verdicts) == 5
    assert [v.reason for v in verdicts[5:]] == [filters.OVER_LIMIT] * 3
