"""The formats by name: what each writes, where it goes, and the names people also use for it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Format:
    name: str
    title: str
    suffix: str  # default file suffix; "" for a folder
    description: str

    @property
    def folder(self) -> bool:
        return not self.suffix


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("gpt3", "GPT-3 prompt/completion", ".jsonl",
           "prompt/completion pairs in randomised templates, <= 5 valid instances per task, deduplicated, shuffled"),
    Format("alpaca", "Alpaca JSON", ".json", "a JSON array of {instruction, input, output}"),
    Format("alpaca-jsonl", "Alpaca JSON Lines", ".jsonl", "one {instruction, input, output} object per line"),
    Format("chat", "OpenAI chat fine-tuning", ".jsonl", "one {messages: [system?, user, assistant]} per line"),
    Format("sharegpt", "ShareGPT", ".json", "a JSON array of {id, conversations: [{from: human|gpt, value}]}"),
    Format("hf", "Hugging Face data set folder", "", "data/train-*.parquet plus a README data card"),
    Format("csv", "CSV", ".csv", "id, name, instruction, input, output, is_classification (one row per instance)"),
    Format("seeds", "Self-Instruct seed tasks", ".jsonl", "the official seed format: one task with its instances per line"),
)}

ALIASES = {
    "openai": "chat", "jsonl": "alpaca-jsonl", "json": "alpaca", "parquet": "hf", "huggingface": "hf",
    "seed": "seeds", "user-oriented": "seeds", "prompt-completion": "gpt3",
}


def resolve(name: str) -> Format:
    """The format called ``name`` (or one of its aliases); ValueError lists the choices."""
    key = ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in FORMATS:
        raise ValueError(f"unknown format {name!r}; choose one of {', '.join(FORMATS)}")
    return FORMATS[key]
