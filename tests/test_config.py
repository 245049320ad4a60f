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
