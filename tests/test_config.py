import pytest

from selfinstruct.config import ConfigError, RunConfig


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
