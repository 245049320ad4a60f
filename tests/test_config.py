import pytest
from hypothesis import given, strategies as st

from selfinstruct.config import ConfigError, RunConfig, items_to_text, text_to_items


def test_defaults_are_the_papers():
    c = RunConfig()
    assert (c.generate.temperature, c.generate.top_p, c.generate.presence_penalty, c.generate.max_tokens) == (0.7, 0.5, 2.0, 1024)
    assert c.generate.n_prompt_instructions == 8 and c.generate.n_machine == 2
    assert c.filters.rouge_threshold == 0.7 and c.filters.max_instances == 5
    assert "\n\n" in c.generate.stop and "16." in c.generate.stop
    assert c.classify.temperature == 0 and c.instances.presence_penalty == 1.5


def test_toml_round_trip(tmp_path):
    c = RunConfig(target=7)
    c.filters.blacklist = ["image"]
    p = tmp_path / "c.toml"
    p.write_text(c.to_toml())
    assert RunConfig.load(p) == c


def test_bad_values_are_named(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text("[filters]\nrouge_threshold = 'high'\n")
    with pytest.raises(ConfigError, match="filters.rouge_threshold"):
        RunConfig.load(p)
    p.write_text("colour = 1\n")
    with pytest.raises(ConfigError, match="unknown key"):
        RunConfig.load(p)
    p.write_text("[[[")
    with pytest.raises(ConfigError, match="invalid TOML"):
        RunConfig.load(p)


@pytest.mark.parametrize("toml, key", [
    ("target = -5", "target: must be at least 1"),
    ("target = 0", "target: must be at least 1"),
    ("[filters]\nrouge_threshold = 1.5", "filters.rouge_threshold: must be between 0 and 1"),
    ("[filters]\nrouge_threshold = nan", "filters.rouge_threshold"),
    ("[filters]\ntokenizer = 'foo'", "filters.tokenizer: must be one of rouge, unicode"),
    ("[filters]\nmin_words = 10\nmax_words = 5", "filters.max_words: must be at least 10"),
    ("[generate]\nrequest_batch_size = 0", "generate.request_batch_size"),
    ("[generate]\nmax_tokens = -1", "generate.max_tokens"),
    ("[generate]\nn_machine = 9", "generate.n_machine: must be between 0 and 8"),
    ("[generate]\ntemperature = inf", "generate.temperature"),
    ("[instances]\nmax_instances = -1", "instances.max_instances"),
    ("[lm]\nbackend = 'gpt'", "lm.backend: must be one of llamacpp, openai, fake"),
    ("[lm]\napi_mode = 'xyz'", "lm.api_mode"),
    ("[lm]\nconcurrency = 0", "lm.concurrency"),
    ("[lm]\ntimeout_s = 0", "lm.timeout_s"),
    ("[lm]\nmax_retries = -1", "lm.max_retries"),
    ("[lm]\nbase_url = 'not a url'", "lm.base_url: must look like http"),
    ("[filters]\nblacklist = ['image', ' ']", "filters.blacklist: holds an empty entry"),
    ("[filters]\nforbidden_prefixes = ['']", "filters.forbidden_prefixes: holds an empty entry"),
])
def test_values_out_of_range_are_refused_by_name(tmp_path, toml, key):
    p = tmp_path / "c.toml"
    p.write_text(toml + "\n")
    with pytest.raises(ConfigError, match=f"^{p}: .*{key}"):
        RunConfig.load(p)


def test_every_problem_is_listed_at_once():
    c = RunConfig(target=0)
    c.lm.concurrency = -3
    with pytest.raises(ConfigError, match="target: .*; lm.concurrency: "):
        c.validate()


def test_a_config_saved_with_a_byte_order_mark_loads(tmp_path):
    p = tmp_path / "c.toml"
    p.write_bytes(b"\xef\xbb\xbftarget = 7\n")
    assert RunConfig.load(p).target == 7


def test_validate_can_raise_the_rouge_threshold_floor_and_lists_it_with_the_rest():
    c = RunConfig()
    c.filters.rouge_threshold = 0.1
    c.validate()  # 0.1 is a valid threshold for the library
    c.target, c.filters.min_words = -3, -5
    with pytest.raises(ConfigError) as e:
        c.validate(min_rouge_threshold=0.3)
    assert [p.split(":")[0] for p in e.value.problems] == ["target", "filters.rouge_threshold", "filters.min_words"]
    assert "must be between 0.3 and 1, got 0.1" in str(e.value)


def test_an_empty_stop_sequence_is_refused_by_name():
    c = RunConfig()
    c.classify.stop = ["\n", ""]
    with pytest.raises(ConfigError, match="^classify.stop: holds an empty stop sequence"):
        c.validate()


# --------------------------------------------------------------------------- list settings as text

DEFAULT_LISTS = [RunConfig().generate.stop, RunConfig().classify.stop, RunConfig().instances.stop,
                 RunConfig().filters.blacklist, RunConfig().filters.forbidden_prefixes]


@pytest.mark.parametrize("items, text", [
    (["\n\n", "\n16", "16.", "16 ."], '"\\n\\n"\n"\\n16"\n16.\n16 .'),
    (["\n", "Task"], '"\\n"\nTask'),
    ([" ", "\t", "", " lead", "trail "], '" "\n"\\t"\n""\n" lead"\n"trail "'),
    (["a\\b", "\\", '"quoted"', 'say "hi"'], '"a\\\\b"\n"\\\\"\n"\\"quoted\\""\nsay "hi"'),
    (["héllo wörld", "日本語", "emoji 🌱", "\u00a0nbsp", "zero\u200bwidth", "\U000e0001"],
     'héllo wörld\n日本語\nemoji 🌱\n"\\u00a0nbsp"\n"zero\\u200bwidth"\n"\\udb40\\udc01"'),
    ([], ""),
])
def test_list_items_and_their_text_round_trip_exactly(items, text):
    assert items_to_text(items) == text
    assert text_to_items(text, "k") == items


@pytest.mark.parametrize("items", DEFAULT_LISTS)
def test_every_default_list_survives_the_text_box(items):
    assert text_to_items(items_to_text(items), "k") == items


@given(st.lists(st.text()))
def test_decode_of_encode_is_the_identity(items):
    assert text_to_items(items_to_text(items), "k") == items


@given(st.lists(st.text()))
def test_every_encoded_line_is_one_item_with_nothing_invisible(items):
    lines = items_to_text(items).split("\n") if items else []
    assert len(lines) == len(items)
    assert all(line.isprintable() and line == line.strip() and line for line in lines)


def test_blank_lines_and_spaces_around_a_line_are_ignored():
    assert text_to_items('\n  image  \n\n\t"\\n"  \r\n\n', "k") == ["image", "\n"]


def test_malformed_lines_are_refused_naming_the_field_and_every_line():
    with pytest.raises(ConfigError) as e:
        text_to_items('ok\n\\n\n"abc\n"\\q"\n"a\\"\n"x" y\n"\\ud800"', "generate.stop")
    problems = e.value.problems
    assert [p.split(":")[0] for p in problems] == [f"generate.stop, line {n}" for n in (2, 3, 4, 5, 6, 7)]
    assert "backslash outside double quotes" in problems[0]
    assert "Unterminated string" in problems[1] and "Invalid \\escape" in problems[2]
    assert "surrogate" in problems[5]
