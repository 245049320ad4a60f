"""A scripted, deterministic LM for tests and offline demos.

``FakeLM`` replays a queue of answers (or errors), then asks a responder. The
built-in ``demo_responder`` answers every pipeline step in the format the
parsers expect, varied enough that a whole run keeps most instructions, with
the odd blacklisted or too-short one so the filters have work to do.
"""

from __future__ import annotations

import hashlib
import random
import re
import threading
import time
from collections import deque
from dataclasses import replace
from typing import Callable, Iterable, Sequence

from selfinstruct.lm.base import (
    LMError,
    LMFatalError,
    LMRequest,
    LMResponse,
    TokenCallback,
    execute_serially,
)

Responder = Callable[[LMRequest], "str | LMResponse"]


class FakeLM:
    """Answers from ``responses`` in order, then from ``responder``.

    With neither given, ``demo_responder`` answers everything. With a queue and
    no responder, running past the queue raises ``LMFatalError`` so a test sees
    an unexpected extra call. Plain-string answers behave like a real model:
    they are cut at the first stop sequence and at ``max_tokens`` words
    (``finish_reason="length"``). Every request is kept in ``.requests``. ``concurrency``
    is how many requests the scheduler may have in flight at once; ``peak`` how many were.
    """

    def __init__(
        self,
        responses: Iterable[str | LMResponse | Exception] | None = None,
        responder: Responder | None = None,
        name: str = "fake",
        *,
        delay_s: float = 0.0,
        concurrency: int = 1,
    ):
        self.name = name
        self.delay_s = delay_s
        self.concurrency = concurrency
        self.peak = 0
        self._active = 0
        self.requests: list[LMRequest] = []
        self._queue: deque[str | LMResponse | Exception] = deque(responses or ())
        if responder is None and responses is None:
            responder = demo_responder
        self._responder = responder
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FakeLM(name={self.name!r}, queued={len(self._queue)})"

    def execute(self, request: LMRequest, on_token: TokenCallback | None = None) -> LMResponse:
        start = time.monotonic()
        with self._lock:
            self.requests.append(request)
            item = self._queue.popleft() if self._queue else None
            self._active += 1
            self.peak = max(self.peak, self._active)
        try:
            return self._answer(request, item, on_token, start)
        finally:
            with self._lock:
                self._active -= 1

    def _answer(self, request: LMRequest, item: str | LMResponse | Exception | None,
                on_token: TokenCallback | None, start: float) -> LMResponse:
        if item is None:
            if self._responder is None:
                raise LMFatalError(
                    f"FakeLM ran out of scripted responses (step {request.step!r}, "
                    f"call {len(self.requests)})"
                )
            item = self._responder(request)
        if isinstance(item, Exception):
            raise item
        if isinstance(item, LMResponse):
            response = replace(item, faults=list(item.faults))
        else:
            response = _as_model_output(item, request)
        if self.delay_s:
            time.sleep(self.delay_s)
        if on_token is not None:
            for piece in re.findall(r"\s*\S+|\s+$", response.text):
                on_token(piece)
        if not response.latency_s:
            response.latency_s = time.monotonic() - start
        return response

    def execute_many(self, requests: Sequence[LMRequest]) -> list[LMResponse | LMError]:
        return execute_serially(self, requests)


def _as_model_output(text: str, request: LMRequest) -> LMResponse:
    """Apply stop sequences and the token budget, as a real completion would."""
    cuts = [i for i in (text.find(s) for s in request.stop if s) if i >= 0]
    if cuts:
        text = text[: min(cuts)]
    finish = "stop"
    words = list(re.finditer(r"\S+", text))
    if len(words) > request.max_tokens:
        text = text[: words[request.max_tokens - 1].end()] if request.max_tokens > 0 else ""
        finish = "length"
    return LMResponse(
        text=text,
        finish_reason=finish,
        tokens_in=len(request.prompt.split()),
        tokens_out=len(text.split()),
    )


# --- demo responder -------------------------------------------------------

_VERBS = (
    "Explain", "Describe", "Summarize", "List", "Compare", "Suggest", "Outline",
    "Rewrite", "Translate", "Critique", "Propose", "Estimate", "Recommend", "Argue",
    "Justify", "Brainstorm", "Predict", "Evaluate", "Paraphrase", "Design", "Plan",
    "Compose", "Analyze", "Draft", "Teach", "Invent", "Defend", "Simplify",
)
_OBJECTS = (
    "three common mistakes", "a beginner's checklist", "the main trade-offs",
    "a short story", "two opposing arguments", "a weekly schedule", "five interview questions",
    "a catchy slogan", "the key historical causes", "a step-by-step recipe",
    "a polite complaint letter", "an everyday analogy", "a haiku", "a persuasive paragraph",
    "a troubleshooting guide", "the ethical concerns", "a budget breakdown",
    "a quiz with answers", "a motivational speech", "the hidden assumptions",
    "a product description", "a debate opening", "the long-term consequences",
    "a packing list", "a riddle", "a lesson plan", "a tweet-length summary",
)
_TOPICS = (
    "urban beekeeping", "remote work", "the French Revolution", "compound interest",
    "marathon training", "volcanic eruptions", "sourdough baking", "electric cars",
    "medieval castles", "sleep hygiene", "quantum computing", "coral reefs",
    "public libraries", "chess openings", "renewable energy", "the Roman Senate",
    "houseplant care", "climate migration", "ancient Egypt", "personal finance",
    "language learning", "space tourism", "board game design", "desert ecosystems",
    "jazz improvisation", "data privacy", "night photography", "vaccine research",
    "minimalist living", "deep sea creatures", "city cycling", "tea ceremonies",
)
_AUDIENCES = (
    "for a ten-year-old", "for busy parents", "for a skeptical investor",
    "for first-year students", "in under fifty words", "using only simple words",
    "as a pirate would", "for a retired engineer", "in a formal tone",
    "with a humorous twist", "for a job interview", "for a local newspaper",
    "without using technical jargon", "for someone who hates reading",
)
_FORMATS = (
    "in three bullet points", "as a short dialogue", "ending with a question",
    "with one concrete example", "in the second person", "citing two sources",
    "as a numbered list", "with a surprising fact", "in exactly four sentences",
    "from a historian's point of view", "as a letter to a friend", "with a clear conclusion",
    "using a table", "in rhyming couplets", "with pros and cons", "as a news report",
)
_CLASSIFY_HEADS = ("Classify", "Label", "Categorize", "Sort")
_SOURCES = (
    "this customer review", "the given tweet", "a news headline", "the following email",
    "this forum comment", "a student's answer", "the product question", "this job posting",
)
_LABELS = (
    ("positive", "negative"), ("true", "false"), ("opinion", "fact"), ("easy", "hard"),
    ("sarcastic", "sincere"), ("urgent", "routine"), ("formal", "informal"),
    ("spam", "not spam"), ("relevant", "irrelevant"), ("safe", "unsafe"),
)
_FILLER = (
    "honestly", "surprisingly", "in my experience", "last weekend", "according to friends",
    "without a doubt", "after some research", "as expected", "to everyone's surprise",
)


def _rng(request: LMRequest) -> random.Random:
    digest = hashlib.sha256(f"{request.seed}\x00{request.prompt}".encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _instruction(rng: random.Random) -> str:
    roll = rng.random()
    topic = rng.choice(_TOPICS)
    if roll < 0.05:
        return f"Draw an image of {topic}."  # blacklisted ("draw", "image")
    if roll < 0.09:
        return f"{rng.choice(_VERBS)} {topic.split()[-1]}."  # too short
    if roll < 0.2:
        a, b = rng.choice(_LABELS)
        return f"{rng.choice(_CLASSIFY_HEADS)} {rng.choice(_SOURCES)} about {topic} as {a} or {b}."
    verb, obj, aud = rng.choice(_VERBS), rng.choice(_OBJECTS), rng.choice(_AUDIENCES)
    fmt = rng.choice(_FORMATS)
    shapes = (
        f"{verb} {obj} about {topic} {aud}, {fmt}.",
        f"{aud.capitalize()}, {verb.lower()} {obj} on {topic} {fmt}.",
        f"Using {topic} as the subject, {verb.lower()} {obj} {fmt}.",
        f"{verb} {obj} that connects {topic} with {rng.choice(_TOPICS)} {aud}.",
        f"As an expert in {topic}, {verb.lower()} {obj} {fmt}.",
    )
    return rng.choice(shapes)


def _last_number(prompt: str) -> int:
    m = re.search(r"(\d+)\s*\.\s*$", prompt)
    return int(m.group(1)) if m else 9


def _target_task(prompt: str) -> str:
    """The instruction the prompt asks about: the last ``Task:`` line, else the prompt's tail."""
    found = re.findall(r"Task:\s*(.+)", prompt)
    return found[-1].strip() if found else prompt.strip().splitlines()[-1] if prompt.strip() else ""


def _is_classification(task: str) -> bool:
    return task.startswith(_CLASSIFY_HEADS)


def demo_responder(request: LMRequest) -> str:
    """Plausible, deterministic answers per pipeline step (seed and prompt pick the variant)."""
    rng = _rng(request)
    if request.step == "instructions":
        n = _last_number(request.prompt)
        items = [_instruction(rng) for _ in range(rng.choice((6, 7)))]
        return " " + "\n".join(
            item if i == 0 else f"{n + i}. {item}" for i, item in enumerate(items)
        )
    task = _target_task(request.prompt)
    if request.step == "classify":
        return " Yes" if _is_classification(task) else " No"
    if request.step == "instances":
        topic = task.split()[-1].strip(".:?!") if task else "things"
        count = rng.choice((2, 3))
        if "Class label:" in request.prompt:
            m = re.search(r" as (.+) or (.+?)\.?$", task)
            labels = (m.group(1), m.group(2)) if m else ("A", "B")
            return "\n\n".join(
                f"Class label: {labels[i % 2]}\nInput: {rng.choice(_FILLER).capitalize()}, "
                f"this take on {topic} seems {labels[i % 2]} (case {i + 1})."
                for i in range(count)
            )
        return "\n\n".join(
            f"Example {i + 1}\nInput: {rng.choice(_FILLER).capitalize()}, a question on "
            f"{topic} number {rng.randint(1, 999)}.\nOutput: A clear answer about {topic}, "
            f"variant {i + 1}, {rng.choice(_FILLER)}."
            for i in range(count)
        )
    return f" A short answer about {task.split()[-1].strip('.:?!') if task else 'that'}."


def demo_answer_to(body: dict) -> str:
    """``demo_responder``'s answer to a request as an endpoint receives it (its JSON body), the
    step told by the prompt's header: stub servers in tests and benchmarks answer like the fake."""
    from selfinstruct.prompts.instructions import CLASSIFICATION_HEADER, INSTRUCTION_HEADER

    prompt = str(body.get("prompt") or body.get("messages", [{}])[-1].get("content", ""))
    step = ("instructions" if prompt.startswith(INSTRUCTION_HEADER)
            else "classify" if prompt.startswith(CLASSIFICATION_HEADER) else "instances")
    request = LMRequest(prompt=prompt, step=step, max_tokens=int(body.get("max_tokens") or 256),
                        stop=tuple(body.get("stop") or ()), seed=body.get("seed"))
    return _as_model_output(demo_responder(request), request).text
