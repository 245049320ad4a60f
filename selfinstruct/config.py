"""Every number of the method in one place, with the original work's defaults.

One dataclass per step; ``RunConfig`` groups them and round-trips through TOML,
so a run can be described in a file, overridden by flags, and stored beside
its results. API keys are never part of a config: they come from the
environment or the dashboard's memory.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

import tomli_w

from .inputs import read_input_bytes

BLACKLIST = (
    "image", "images", "graph", "graphs", "picture", "pictures", "file", "files",
    "map", "maps", "draw", "plot", "go to", "video", "audio", "music",
    "flowchart", "diagram",
)
TOKENIZERS = ("rouge", "unicode")  # ROUGE-L's: "rouge" (paper-compatible) or "unicode" (any script)


@dataclass
class GenerateConfig:
    """Step 1: instruction generation."""

    n_prompt_instructions: int = 8
    n_machine: int = 2
    request_batch_size: int = 5
    # In-context machine instructions come from the pool as it stood ``pool_lag`` iterations
    # earlier: 1 is the original loop (each iteration waits for the last); more lets that many
    # iterations be in flight at once, with the same data whatever the timing.
    pool_lag: int = 16
    temperature: float = 0.7
    top_p: float = 0.5
    presence_penalty: float = 2.0
    frequency_penalty: float = 0.0
    max_tokens: int = 1024
    stop: list[str] = field(default_factory=lambda: ["\n\n", "\n16", "16.", "16 ."])


@dataclass
class ClassifyConfig:
    """Step 2: is the instruction a classification task?"""

    temperature: float = 0.0
    top_p: float = 0.0
    max_tokens: int = 3
    stop: list[str] = field(default_factory=lambda: ["\n", "Task"])


@dataclass
class InstanceConfig:
    """Step 3: instance generation (output-first for classification)."""

    temperature: float = 0.0
    top_p: float = 0.0
    presence_penalty: float = 1.5
    frequency_penalty: float = 0.0
    max_tokens: int = 300
    max_instances: int = 5
    stop: list[str] = field(default_factory=lambda: ["Example 6", "Task:"])


@dataclass
class FilterConfig:
    """Step 4: every filter can be tuned or switched off."""

    rouge_threshold: float = 0.7
    similar_k: int = 10
    tokenizer: str = "rouge"  # "rouge" (paper-compatible) or "unicode"
    min_words: int = 4
    max_words: int = 150
    blacklist: list[str] = field(default_factory=lambda: list(BLACKLIST))
    forbidden_prefixes: list[str] = field(default_factory=lambda: ["Write a program"])
    drop_punctuation_start: bool = True
    drop_non_ascii_start: bool = True
    drop_duplicates: bool = True
    drop_output_equals_input: bool = True
    drop_empty_output: bool = True
    drop_conflicting_outputs: bool = True
    drop_colon_ending: bool = True
    max_instances: int = 5


@dataclass
class LMConfig:
    """Which model answers. ``backend``: "llamacpp" (embedded), "openai" or "fake"."""

    backend: str = "llamacpp"
    model: str = ""
    base_url: str = ""
    api_mode: str = "completion"  # "completion" (base models, as in the paper) or "chat"
    # More URLs serving the same model (vLLM replicas, llama.cpp servers); the cache key names base_url only.
    replicas: list[str] = field(default_factory=list)
    # Most requests in flight per endpoint; each endpoint adapts below it (slow start, halving on 429/503).
    concurrency: int = 128
    rpm: int = 0  # requests a minute per endpoint; 0: no limit
    tpm: int = 0  # tokens a minute per endpoint (prompt + max_tokens, corrected by usage); 0: no limit
    timeout_s: float = 120.0  # the whole request (connect, wait, every read), not one read
    max_retries: int = 6
    max_reply_chars: int = 2_000_000  # a longer reply is a fault: no real completion comes near it
    model_path: str = ""
    n_ctx: int = 4096
    threads: int = 0  # 0: half the cores (llama.cpp slows down badly when its threads share a busy core)
    price_in_per_1m: float = 0.0
    price_out_per_1m: float = 0.0

    def validate(self) -> "LMConfig":
        """Refuse settings no backend can use, naming the key, before any call."""
        problems = [f"{key}: {why}" for key, why in lm_problems(self)]
        if problems:
            raise ConfigError(*problems)
        return self


@dataclass
class RunConfig:
    """A whole generation run."""

    target: int = 100
    seed: int = 42
    max_iterations: int = 0  # 0: no limit besides the target
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    classify: ClassifyConfig = field(default_factory=ClassifyConfig)
    instances: InstanceConfig = field(default_factory=InstanceConfig)
    filters: FilterConfig = field(default_factory=FilterConfig)
    lm: LMConfig = field(default_factory=LMConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def validate(self, *, min_rouge_threshold: float = 0.0) -> "RunConfig":
        """Refuse values no run can use (a negative target, a threshold of 1.5, an
        unknown backend), naming every key at once, before anything is stored or paid for.

        ``min_rouge_threshold`` raises the threshold's floor for callers that cannot use a lower
        one (the dashboard's what-if), so that refusal is listed with the others."""
        problems = [f"{key}: {why}" for key, why in _problems(self, min_rouge_threshold)]
        if problems:
            raise ConfigError(*problems)
        return self

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunConfig":
        return from_mapping(cls, data, "config")

    def to_toml(self) -> str:
        return tomli_w.dumps(self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> "RunConfig":
        p = Path(path)
        try:
            data = tomllib.loads(read_input_bytes(p, ConfigError).decode("utf-8-sig"))
        except UnicodeDecodeError as e:
            raise ConfigError(f"{p}: cannot read config: {e}") from e
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{p}: invalid TOML: {e}") from e
        try:
            return cls.from_dict(data).validate()
        except ConfigError as e:
            raise ConfigError(f"{p}: {e}") from e


class ConfigError(ValueError):
    """A config value is unknown or of the wrong type; the message names the key.

    ``problems`` holds each refusal apart ("key: why"), so a form can list them one by one."""

    def __init__(self, *problems: str) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


def from_mapping(cls: type, data: dict[str, Any], where: str) -> Any:
    """Build config dataclass ``cls`` from a mapping, rejecting unknown keys and wrong types by name."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a table, got {type(data).__name__}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
    kwargs: dict[str, Any] = {}
    defaults = cls()
    for name, value in data.items():
        default = getattr(defaults, name)
        key = f"{where}.{name}"
        if is_dataclass(default):
            kwargs[name] = from_mapping(type(default), value, key)
        else:
            kwargs[name] = _coerce(default, value, key)
    return cls(**kwargs)


def _coerce(default: Any, value: Any, key: str) -> Any:
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(default, str):
        if isinstance(value, str):
            return value
    elif isinstance(default, list):
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
        raise ConfigError(f"{key}: must be a list of strings, got {value!r}")
    raise ConfigError(f"{key}: expected {type(default).__name__}, got {value!r}")


BACKENDS = ("llamacpp", "openai", "fake")
API_MODES = ("completion", "chat")


def _at_least(key: str, value: float, low: float):
    if not value >= low:  # also refuses NaN
        yield key, f"must be at least {low:g}, got {value!r}"


def _within(key: str, value: float, low: float, high: float):
    if not low <= value <= high:
        yield key, f"must be between {low:g} and {high:g}, got {value!r}"


def _one_of(key: str, value: str, allowed: tuple[str, ...]):
    if value not in allowed:
        yield key, f"must be one of {', '.join(allowed)}, got {value!r}"


def _problems(cfg: RunConfig, min_rouge_threshold: float = 0.0):
    """(key, why) for every value out of its range."""

    yield from _at_least("target", cfg.target, 1)
    yield from _at_least("max_iterations", cfg.max_iterations, 0)
    g, c, i, f = cfg.generate, cfg.classify, cfg.instances, cfg.filters
    yield from _at_least("generate.n_prompt_instructions", g.n_prompt_instructions, 1)
    yield from _within("generate.n_machine", g.n_machine, 0, g.n_prompt_instructions)
    yield from _at_least("generate.request_batch_size", g.request_batch_size, 1)
    yield from _at_least("generate.pool_lag", g.pool_lag, 1)
    for section, step in (("generate", g), ("classify", c), ("instances", i)):
        yield from _within(f"{section}.temperature", step.temperature, 0, 2)
        yield from _within(f"{section}.top_p", step.top_p, 0, 1)
        yield from _at_least(f"{section}.max_tokens", step.max_tokens, 1)
        for name in ("presence_penalty", "frequency_penalty"):
            if hasattr(step, name):
                yield from _within(f"{section}.{name}", getattr(step, name), -2, 2)
        if any(not s for s in step.stop):
            yield f"{section}.stop", "holds an empty stop sequence, which would end every completion at once"
    yield from _at_least("instances.max_instances", i.max_instances, 1)
    yield from _within("filters.rouge_threshold", f.rouge_threshold, min_rouge_threshold, 1)
    yield from _at_least("filters.similar_k", f.similar_k, 0)
    yield from _one_of("filters.tokenizer", f.tokenizer, TOKENIZERS)
    yield from _at_least("filters.min_words", f.min_words, 0)
    yield from _at_least("filters.max_words", f.max_words, max(f.min_words, 1))
    yield from _at_least("filters.max_instances", f.max_instances, 1)
    for name in ("blacklist", "forbidden_prefixes"):
        if any(not word.strip() for word in getattr(f, name)):
            yield f"filters.{name}", "holds an empty entry, which would match every instruction"
    yield from lm_problems(cfg.lm, "lm")


def lm_problems(lm: "LMConfig", where: str = "lm"):
    """(key, why) for every LM setting out of its range."""
    yield from _one_of(f"{where}.backend", lm.backend, BACKENDS)
    yield from _one_of(f"{where}.api_mode", lm.api_mode, API_MODES)
    yield from _at_least(f"{where}.concurrency", lm.concurrency, 1)
    yield from _at_least(f"{where}.rpm", lm.rpm, 0)
    yield from _at_least(f"{where}.tpm", lm.tpm, 0)
    yield from _at_least(f"{where}.max_retries", lm.max_retries, 0)
    yield from _at_least(f"{where}.max_reply_chars", lm.max_reply_chars, 1)
    yield from _at_least(f"{where}.n_ctx", lm.n_ctx, 256)
    yield from _at_least(f"{where}.threads", lm.threads, 0)
    for name in ("timeout_s", "price_in_per_1m", "price_out_per_1m"):
        value = getattr(lm, name)
        if not math.isfinite(value) or value < 0 or (name == "timeout_s" and value == 0):
            yield f"{where}.{name}", f"must be a finite number {'above' if name == 'timeout_s' else 'of at least'} 0, got {value!r}"
    if lm.base_url:
        yield from base_url_problems(f"{where}.base_url", lm.base_url)
    for i, url in enumerate(lm.replicas):
        yield from base_url_problems(f"{where}.replicas[{i}]", url)


def base_url_problems(key: str, url: str):
    """A base URL the OpenAI SDK can use: http(s)://host[:port][/path]. Messages show it
    without credentials (``user:password@``, ``?api-key=``), since they are printed."""
    from urllib.parse import urlsplit

    from .redact import redact, strip_url_credentials, url_secrets

    shown = strip_url_credentials(url)
    try:
        parts = urlsplit(url.strip())
        parts.port  # raises on a port that is not a number
    except ValueError as e:
        yield key, f"is not a valid URL ({redact(str(e), url_secrets(url))}): {shown!r}"
        return
    if parts.scheme not in ("http", "https") or not parts.hostname:
        yield key, f"must look like http(s)://host[:port]/path, got {shown!r}"


# List settings as text, one item per line: the dashboard's text boxes. Blank lines and the
# spaces around a line are ignored, so an item that is empty, has whitespace at either end,
# holds a newline, tab, backslash or other invisible character, or starts with a double
# quote is written as a JSON string: "\n\n" is two newlines, " " a space, "a\\b" a backslash.
# A plain line may not hold a backslash, so \n typed without quotes is refused, never read
# as the two characters it shows.

_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\b": "\\b", "\f": "\\f", '"': '\\"', "\\": "\\\\"}


# How a list setting is written in a text box (``text_to_items`` reads it), for help texts.
LIST_RULE = ("One item per line; blank lines and spaces around a line are ignored. Write an item that is empty, "
             "has a space at either end, holds a newline, tab or backslash, or starts with `\"` as a JSON string "
             "in double quotes: `\"\\n\\n\"` is two newlines, `\" \"` a space, `\"a\\\\b\"` a backslash.")


def quote_item(item: str) -> str:
    """``item`` as a JSON string whose every invisible character is an escape (``json.loads`` reads it back)."""
    out = []
    for ch in item:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) > 0xFFFF:  # JSON escapes these as a surrogate pair
            high, low = divmod(ord(ch) - 0x10000, 0x400)
            out.append(f"\\u{0xD800 + high:04x}\\u{0xDC00 + low:04x}")
        else:
            out.append(f"\\u{ord(ch):04x}")
    return '"' + "".join(out) + '"'


def _plain(item: str) -> bool:
    """Whether ``item`` reads back from a line as written, without quotes."""
    return bool(item) and item == item.strip() and not item.startswith('"') and "\\" not in item \
        and item.isprintable()


def items_to_text(items: list[str]) -> str:
    """The text box's content for ``items``: one per line, quoted where a plain line would lose something."""
    return "\n".join(item if _plain(item) else quote_item(item) for item in items)


def text_to_items(text: str, key: str) -> list[str]:
    """The items of a text box written by the rule above; ConfigError names ``key`` and every bad line."""
    items, problems = [], []
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.strip()
        if not line:
            continue
        if not line.startswith('"'):
            if "\\" in line:
                problems.append(f"{key}, line {number}: a backslash outside double quotes; write the item as a "
                                f"JSON string, such as \"\\n\" for a newline or \"a\\\\b\" for a backslash")
            else:
                items.append(line)
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as e:
            problems.append(f"{key}, line {number}: not a valid JSON string ({e.msg} at column {e.colno})")
            continue
        if any(0xD800 <= ord(ch) <= 0xDFFF for ch in item):
            problems.append(f"{key}, line {number}: holds half of a surrogate pair, which is not a character")
        else:
            items.append(item)
    if problems:
        raise ConfigError(*problems)
    return items
