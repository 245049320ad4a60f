"""Plain records passed between the loader, prompts, filters, pipeline and store.

They carry no behaviour beyond validation-free construction, so every module can
share them without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Instance:
    """One input/output pair of a task; input may be empty."""

    input: str
    output: str


@dataclass(frozen=True)
class Task:
    """An instruction with its instances: a seed task, a generated one or an imported one.

    Seed files use the official format (id, name, instruction, instances,
    is_classification). ``is_classification`` is None when unknown (e.g. an
    imported Alpaca record); ``origin`` is "seed", "machine" or "import".
    """

    id: str
    instruction: str
    instances: tuple[Instance, ...] = ()
    is_classification: bool | None = None
    name: str = ""
    origin: str = "seed"


@dataclass(frozen=True)
class Verdict:
    """A filter decision: keep, or drop with a machine-readable reason.

    ``reason`` is a short code (e.g. ``"too_short"``, ``"blacklist"``,
    ``"rouge_similar"``); ``detail`` says what triggered it for people
    (e.g. ``"contains 'image'"``).
    """

    keep: bool
    reason: str | None = None
    detail: str = ""

    @staticmethod
    def kept() -> "Verdict":
        return KEEP

    @staticmethod
    def drop(reason: str, detail: str = "") -> "Verdict":
        return Verdict(False, reason, detail)


KEEP = Verdict(True)


@dataclass
class Candidate:
    """A machine-generated instruction as it moves through the pipeline."""

    text: str
    iteration: int
    position: int
    verdict: Verdict = KEEP
    max_rouge: float = 0.0
    similar: list[tuple[str, float]] = field(default_factory=list)
    is_classification: bool | None = None
    instances: list[tuple[Instance, Verdict]] = field(default_factory=list)
