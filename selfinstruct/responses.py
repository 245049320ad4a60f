"""Re-answer a data set with another model, or translate it: the two data-making
steps of "Instruction Tuning with GPT-4" (Peng et al., 2023).

``answer_set`` writes a response set: one answer per (instruction, input) of a
run, the original output kept beside it. ``translate_run`` makes a new run of
kind "translation" whose instructions point at their sources. Both go through
``RecordedLM`` in batches (``call_many``, concurrent on remote endpoints), save
after every batch, and skip what is already saved, so a killed job resumes
without paying for any call twice. Their prompts and parsers are in
``prompts.answer`` and ``prompts.translate``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Callable, Sequence

from .config import LMConfig
from .costs import cost_of, money
from .lm.base import LM, LMError, LMRequest
from .lm.batches import Answer, Progress, estimate_tokens, run_batches
from .lm.cache import RecordedLM
from .prompts.answer import ANSWER_STOP_COMPLETION, ResponsesError, answer_prompt, clean_answer
from .prompts.translate import TRANSLATE_STOP_COMPLETION, parse_translation, translate_prompt
from .store import RunInfo, Store, StoreError
from .store.responses import (
    ResponseSet,
    answered_instance_ids,
    create_response_set,
    note_prices,
    response_set,
    save_responses,
)

ANSWER_STEP = "answer"
TRANSLATE_STEP = "translate"


@dataclass
class AnswerSettings:
    """How each instance is asked; part of a response set's config, so a resumed set stays consistent."""

    mode: str = "completion"
    system: str | None = None
    max_tokens: int = 1024
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = 42


def answer_request(instruction: str, input: str, settings: AnswerSettings) -> LMRequest:
    return LMRequest(
        prompt=answer_prompt(instruction, input, mode=settings.mode, system=settings.system),
        step=ANSWER_STEP,
        temperature=settings.temperature,
        top_p=settings.top_p,
        max_tokens=settings.max_tokens,
        stop=ANSWER_STOP_COMPLETION if settings.mode == "completion" else (),
        seed=settings.seed,
        system=settings.system if settings.mode == "chat" and settings.system else None,
    )


# ------------------------------------------------------------------ estimates and results

@dataclass(frozen=True)
class Estimate:
    """What a job is expected to cost before it starts (requests not yet answered only)."""

    requests: int
    prompt_tokens: int
    output_tokens: int
    cost: float

    def describe(self) -> str:
        price = f", about {money(self.cost)}" if self.cost else " (no prices given: cost unknown)"
        return (f"{self.requests:,} requests, about {self.prompt_tokens:,} prompt + "
                f"{self.output_tokens:,} output tokens{price}")


def estimate(
    requests: Sequence[LMRequest], expected_outputs: Sequence[str], lm: LMConfig | None = None,
) -> Estimate:
    """Prompt tokens from the prompts (and system texts); output tokens from the text each
    request is expected to produce (the reference output, or the text being translated),
    capped at its ``max_tokens``. Texts with nothing to go on count half of ``max_tokens``."""
    tin = sum(estimate_tokens(r.prompt) + (estimate_tokens(r.system) if r.system else 0) for r in requests)
    tout = 0
    for r, expected in zip(requests, expected_outputs):
        guess = estimate_tokens(expected) if expected.strip() else r.max_tokens // 2
        tout += min(r.max_tokens, guess)
    cost = cost_of(tin, tout, lm.price_in_per_1m, lm.price_out_per_1m) if lm else 0.0
    return Estimate(len(requests), tin, tout, cost)


@dataclass
class JobResult:
    progress: Progress
    stopped: str | None = None  # None: finished; "budget": --max-cost reached; "stopped": asked to stop
    error: str | None = None  # the LM failure that ended the job early, if any
    response_set: ResponseSet | None = None
    run: RunInfo | None = None


ProgressCallback = Callable[[Progress], None]


def _check_budget(max_cost: float | None, cfg: LMConfig) -> None:
    if max_cost is not None and not (cfg.price_in_per_1m or cfg.price_out_per_1m):
        raise ResponsesError("--max-cost needs prices: pass --price-in and --price-out (dollars per million tokens)")


def _prices(cfg: LMConfig) -> tuple[float, float]:
    return cfg.price_in_per_1m, cfg.price_out_per_1m


def _stop_reason(progress: Progress, max_cost: float | None, should_stop: Callable[[], bool] | None) -> str | None:
    """Checked between batches: a job overshoots its budget by at most one batch."""
    if max_cost is not None and progress.cost >= max_cost:
        return "budget"
    if should_stop is not None and should_stop():
        return "stopped"
    return None


# ------------------------------------------------------------------ what a job works on


@dataclass(frozen=True)
class Item:
    """One instance to answer, with the original output it will sit beside."""

    instance_id: int
    instruction_id: int
    instruction: str
    input: str
    reference: str


@dataclass(frozen=True)
class Record:
    """One instruction to translate with its kept instances (in position order)."""

    instruction_id: int
    seq: int
    text: str
    is_classification: bool | None
    external_id: str | None
    name: str
    instances: tuple[tuple[int, str, str], ...]  # (position, input, output)


def run_records(store: Store, run: RunInfo, view: str | None = None, *, include_seeds: bool = False) -> list[Record]:
    """The records a run (or one of its saved views) keeps, in data set order (``filter_views.select``)."""
    from .filter_views import select

    return [
        Record(s.row.id, s.row.seq, s.row.text, s.row.is_classification, s.row.external_id, s.row.name,
               tuple((i.position, i.input, i.output) for i in s.instances))
        for s in select(store, run, view, include_seeds=include_seeds)
    ]


def run_items(store: Store, run: RunInfo, view: str | None = None, *, include_seeds: bool = False) -> list[Item]:
    """Every kept instance of ``run_records``, with its instance id."""
    records = run_records(store, run, view, include_seeds=include_seeds)
    ids = {(i.instruction_id, i.position): i.id for i in store.instances(run_id=run.id)}
    return [Item(ids[(rec.instruction_id, pos)], rec.instruction_id, rec.text, inp, out)
            for rec in records for pos, inp, out in rec.instances]


@dataclass(frozen=True)
class Plan:
    """A job before it starts, as the CLI and the page show it: what it covers, what
    earlier sessions did, what is left, and what that is expected to cost."""

    name: str  # the response set or translation run it writes
    items: list  # Item (answer) or Record (translate), in data set order
    done: int
    todo: list
    estimate: Estimate


def plan_answers(store: Store, run: RunInfo, cfg: LMConfig, *, name: str, settings: AnswerSettings,
                 view: str | None = None, include_seeds: bool = False, limit: int | None = None) -> Plan:
    """The first ``limit`` instances of ``run_items`` to answer into the response set ``name``."""
    items = run_items(store, run, view, include_seeds=include_seeds)[:limit]
    try:
        done = answered_instance_ids(store, response_set(store, run.id, name).id)
    except StoreError:
        done = set()
    todo = [it for it in items if it.instance_id not in done]
    est = estimate([answer_request(it.instruction, it.input, settings) for it in todo],
                   [it.reference for it in todo], cfg)
    return Plan(name, items, len(items) - len(todo), todo, est)


def plan_translation(store: Store, source: RunInfo, cfg: LMConfig, *, to: str, name: str | None,
                     settings: TranslateSettings, view: str | None = None, include_seeds: bool = False,
                     limit: int | None = None) -> Plan:
    """The first ``limit`` records of ``run_records`` to translate into the run ``name`` (default
    ``<source>-<code>``); the estimate counts every text the job will send."""
    name, _, lang = _target(source, to, name)
    records = run_records(store, source, view, include_seeds=include_seeds)[:limit]
    done = {r.source_id for r in store.instructions(store.run(name).id)} if name in {
        r.name for r in store.runs()} else set()
    todo = [r for r in records if r.instruction_id not in done]
    texts = [t for r in todo for t in [r.text, *(i for _, i, _ in r.instances),
                                       *(o for _, _, o in r.instances if settings.outputs)] if t.strip()]
    est = estimate([translate_request(t, lang, _source_language(source), settings) for t in texts], texts, cfg)
    return Plan(name, records, len(records) - len(todo), todo, est)


# ------------------------------------------------------------------ answer job


def answer_set(
    store: Store,
    run: RunInfo,
    lm: LM,
    cfg: LMConfig,
    *,
    name: str,
    settings: AnswerSettings | None = None,
    view: str | None = None,
    include_seeds: bool = False,
    items: Sequence[Item] | None = None,
    max_cost: float | None = None,
    batch_size: int | None = None,
    on_progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> JobResult:
    """Answer every instance of ``run`` (or ``items``) with ``lm`` into the response set ``name``.

    Instances the set already answers are skipped. Answers are saved after each
    batch of ``batch_size`` (default: ``cfg.concurrency``); the budget and
    ``should_stop`` are checked between batches. An LM failure saves the batch's
    good answers and ends the job with ``error`` set (run it again to resume).
    """
    settings = settings or AnswerSettings()
    _check_budget(max_cost, cfg)
    if not name.strip():
        raise ResponsesError("a response set needs a name (--name)")
    if items is None:
        items = run_items(store, run, view, include_seeds=include_seeds)
    config = {"settings": asdict(settings), "view": view, "include_seeds": include_seeds}
    rset = create_response_set(store, run.id, name.strip(), model=lm.name, kind="answer", config=config)
    _check_resume(rset, lm.name, config)
    # one writer per set: two jobs answering it at once would pay for every answer twice
    with store.lock(f"response set {rset.name!r} of run {run.name!r}", "answer"):
        note_prices(store, rset.id, cfg.price_in_per_1m, cfg.price_out_per_1m)  # `status` prices its calls
        done = answered_instance_ids(store, rset.id)
        todo = [it for it in items if it.instance_id not in done]
        progress = Progress(total=len(items), done=len(items) - len(todo))
        result = JobResult(progress, response_set=rset, run=run)

        def save(batch: list[tuple[Item, list[Answer]]]) -> None:
            save_responses(store, rset.id, [(it.instance_id, clean_answer(resp.text), call_id, resp.finish_reason)
                                            for it, [(call_id, resp)] in batch])

        try:
            result.stopped = run_batches(
                RecordedLM(lm, store, run.id), todo, lambda it: [answer_request(it.instruction, it.input, settings)],
                save, progress, batch_size=max(1, batch_size or cfg.concurrency or 1), prices=_prices(cfg),
                stop=lambda: _stop_reason(progress, max_cost, should_stop), on_progress=on_progress)
        except LMError as e:
            result.error = f"{type(e).__name__}: {e}"
    return result


def _check_resume(rset: ResponseSet, model: str, config: dict[str, Any]) -> None:
    """A set answered by another model or with other settings would mix two data sets."""
    if rset.model and rset.model != model:
        raise ResponsesError(f"response set {rset.name!r} was answered by {rset.model}, not {model}; "
                             "choose another --name")
    theirs = rset.config.get("settings")
    if theirs is not None and theirs != config["settings"]:
        diff = ", ".join(f"{k}: {theirs.get(k)!r} -> {v!r}" for k, v in config["settings"].items()
                         if theirs.get(k) != v)
        raise ResponsesError(f"response set {rset.name!r} was answered with other settings ({diff}); "
                             "choose another --name")


# ------------------------------------------------------------------ translation (pure parts)

LANGUAGES: dict[str, str] = {
    "ar": "Arabic", "bn": "Bengali", "cs": "Czech", "da": "Danish", "de": "German", "el": "Greek",
    "en": "English", "es": "Spanish", "fa": "Persian", "fi": "Finnish", "fr": "French", "he": "Hebrew",
    "hi": "Hindi", "hu": "Hungarian", "id": "Indonesian", "it": "Italian", "ja": "Japanese", "ko": "Korean",
    "ms": "Malay", "nl": "Dutch", "no": "Norwegian", "pl": "Polish", "pt": "Portuguese", "ro": "Romanian",
    "ru": "Russian", "sv": "Swedish", "sw": "Swahili", "ta": "Tamil", "th": "Thai", "tr": "Turkish",
    "uk": "Ukrainian", "ur": "Urdu", "vi": "Vietnamese", "zh": "Chinese", "zh-hant": "Traditional Chinese",
}


def resolve_language(spec: str) -> tuple[str, str]:
    """(code, name) from a code ("zh", "pt-BR") or a name ("Chinese", "german").

    Unknown names are kept as given (any language a model knows can be asked
    for); their code is the lower-cased name.
    """
    s = spec.strip()
    if not s:
        raise ResponsesError("no target language given (--to): use a code like zh or a name like Chinese")
    low = s.lower().replace("_", "-")
    if low in LANGUAGES:
        return low, LANGUAGES[low]
    if low in ("zh-tw", "zh-hk"):
        return "zh-hant", LANGUAGES["zh-hant"]
    for code, name in LANGUAGES.items():
        if name.lower() == low:
            return code, name
    base, _, region = low.partition("-")
    if base in LANGUAGES and region:
        return low, f"{LANGUAGES[base]} ({region.upper()})"
    return low, s if any(ch.isupper() for ch in s) else s.title()


@dataclass
class TranslateSettings:
    mode: str = "completion"
    max_tokens: int = 1024
    temperature: float = 0.0
    seed: int | None = 42
    outputs: bool = False  # translate the outputs too (else they are kept as they are)


def translate_request(text: str, target: str, source: str, settings: TranslateSettings) -> LMRequest:
    return LMRequest(
        prompt=translate_prompt(text, target=target, source=source),
        step=TRANSLATE_STEP,
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
        stop=TRANSLATE_STOP_COMPLETION if settings.mode == "completion" else (),
        seed=settings.seed,
    )


# ------------------------------------------------------------------ translation job


def _target(source: RunInfo, to: str, name: str | None) -> tuple[str, str, str]:
    """(the translation run's name, the target language's code and name)."""
    code, lang = resolve_language(to)
    return (name or f"{source.name}-{code}").strip(), code, lang


def _source_language(source: RunInfo) -> str:
    return resolve_language(source.language)[1] if source.language else "English"


def translation_run(store: Store, source: RunInfo, *, to: str, name: str | None, settings: TranslateSettings,
                    view: str | None, include_seeds: bool, model: str) -> RunInfo:
    """The target run: created, or found again (same source and language) to resume."""
    name, code, lang = _target(source, to, name)
    try:
        run = store.run(name)
    except StoreError:
        config = {"to": code, "language_name": lang, "source_run": source.name, "model": model,
                  "settings": asdict(settings), "view": view, "include_seeds": include_seeds,
                  "outputs_translated": settings.outputs}
        return store.create_run(name, kind="translation", config=config, language=code, source_run_id=source.id)
    if run.kind != "translation" or run.source_run_id != source.id or run.language != code:
        raise ResponsesError(f"run {name!r} exists and is not a {code} translation of {source.name!r}; "
                             "choose another --name")
    if run.config.get("model") != model or run.config.get("settings") != asdict(settings):
        raise ResponsesError(f"translation {name!r} was started with another model or settings "
                             f"({run.config.get('model')}); choose another --name")
    return run


@dataclass
class _Pending:
    record: Record
    instruction: LMRequest
    inputs: list[LMRequest | None]
    outputs: list[LMRequest | None]

    def requests(self) -> list[LMRequest]:
        return [self.instruction, *(r for r in self.inputs + self.outputs if r is not None)]


def translate_run(
    store: Store,
    source: RunInfo,
    lm: LM,
    cfg: LMConfig,
    *,
    to: str,
    name: str | None = None,
    settings: TranslateSettings | None = None,
    view: str | None = None,
    include_seeds: bool = False,
    records: Sequence[Record] | None = None,
    max_cost: float | None = None,
    batch_size: int | None = None,
    on_progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> JobResult:
    """Translate the instructions and inputs (and with ``settings.outputs`` the outputs) of
    ``source`` (or just ``records`` of it) into a run of kind "translation" named ``name``
    (default ``<source>-<code>``).

    Each translated instruction keeps its source's ``seq`` (same order) and
    ``source_id``; its instances keep their positions. A reply that parses to
    nothing marks the record dropped with reason ``translation_empty``, so it is
    visible and never silently lost. Resumes by skipping translated sources.
    """
    settings = settings or TranslateSettings()
    _check_budget(max_cost, cfg)
    target = translation_run(store, source, to=to, name=name, settings=settings, view=view,
                             include_seeds=include_seeds, model=lm.name)
    lang = target.config.get("language_name") or resolve_language(target.language)[1]
    src_lang = _source_language(source)
    if records is None:
        records = run_records(store, source, view, include_seeds=include_seeds)
    done = {r.source_id for r in store.instructions(target.id)}
    todo = [r for r in records if r.instruction_id not in done]
    progress = Progress(total=len(records), done=len(records) - len(todo))
    result = JobResult(progress, run=target)

    def req(text: str) -> LMRequest | None:
        return translate_request(text, lang, src_lang, settings) if text.strip() else None

    pending = [_Pending(r, req(r.text), [req(i) for _, i, _ in r.instances],  # type: ignore[arg-type]
                        [req(o) if settings.outputs else None for _, _, o in r.instances]) for r in todo]

    def report(p: Progress) -> None:
        _set_translation_running(store, target, p, lang)
        if on_progress:
            on_progress(p)

    # The run's writer lock lets `status` tell a live job from a killed one (left "running").
    store.acquire_run_lock(target.id, "translate")
    crash: BaseException | None = None
    try:
        result.stopped = run_batches(
            RecordedLM(lm, store, target.id), pending, _Pending.requests,
            lambda batch: _save_translations(store, target, batch), progress,
            batch_size=max(1, batch_size or cfg.concurrency or 1), prices=_prices(cfg),
            stop=lambda: _stop_reason(progress, max_cost, should_stop), on_progress=report)
    except LMError as e:
        result.error = f"{type(e).__name__}: {e}"
    except BaseException as e:
        crash = e
        raise
    finally:
        _set_translation_state(store, target, result, lang, crash)
        try:
            store.release_run_lock(target.id)
        except StoreError:
            pass
    return result


def _set_translation_running(store: Store, target: RunInfo, p: Progress, lang: str) -> None:
    """What ``status`` shows while the job runs; the heartbeat keeps its lock alive for other hosts."""
    store.set_run_state(target.id, "running", f"{p.done:,}/{p.total:,} translated into {lang}")
    store.heartbeat(target.id)


def _set_translation_state(store: Store, target: RunInfo, result: JobResult, lang: str,
                           crash: BaseException | None = None) -> None:
    """What ``status`` shows for the translation run: done, or paused and why (a stop, the
    budget, an LM error, Ctrl-C or a crash)."""
    p = result.progress
    if isinstance(crash, KeyboardInterrupt):
        state, status = "paused", f"{p.done:,}/{p.total:,} translated; interrupted; run the same command again to go on"
    elif crash is not None:
        kind = "an LM error" if isinstance(crash, LMError) else "an error"
        state = "paused"
        status = f"{p.done:,}/{p.total:,} translated; stopped by {kind}: {type(crash).__name__}: {crash}"
    elif result.error:
        state, status = "paused", f"{p.done:,}/{p.total:,} translated; stopped by an LM error: {result.error}"
    elif result.stopped == "budget":
        state, status = "paused", f"{p.done:,}/{p.total:,} translated; the --max-cost budget is spent"
    elif result.stopped:
        state, status = "paused", f"{p.done:,}/{p.total:,} translated; stopped as asked"
    else:
        state, status = "done", f"{p.done:,} records translated into {lang}"
    store.set_run_state(target.id, state, status)
    result.run = store.run(target.id)


def _save_translations(store: Store, target: RunInfo, batch: list[tuple[_Pending, list[Answer]]]) -> None:
    """Land whole records (instruction with all its instances) in one transaction."""
    answers = {r: a for p, mine in batch for r, a in zip(p.requests(), mine)}

    def text_of(r: LMRequest | None, original: str) -> str:
        return original if r is None else parse_translation(answers[r][1].text, original)

    with store.tx() as c:
        for p, _ in batch:
            rec = p.record
            text = text_of(p.instruction, rec.text)
            instances = []
            for (pos, inp, out), ri, ro in zip(rec.instances, p.inputs, p.outputs):
                t_in = text_of(ri, inp)
                t_out = text_of(ro, out)
                bad = bool((inp.strip() and not t_in) or (out.strip() and not t_out))
                instances.append((pos, t_in, t_out, bad))
            iid = c.insert_instruction(
                run_id=target.id, seq=rec.seq, text=text, origin="translation", source_id=rec.instruction_id,
                external_id=rec.external_id, name=rec.name, is_classification=rec.is_classification,
                verdict="drop" if not text else "keep",
                reason="translation_empty" if not text else None,
                detail="the model's reply held no translation" if not text else "",
            )
            for pos, t_in, t_out, bad in instances:
                c.insert_instance(iid, pos, t_in, t_out, "drop" if bad else "keep",
                                  "translation_empty" if bad else None,
                                  "the model's reply held no translation" if bad else "")


__all__ = [
    "ANSWER_STEP", "AnswerSettings", "Estimate", "Item", "JobResult", "LANGUAGES", "Plan", "Progress",
    "Record", "ResponsesError", "TRANSLATE_STEP", "TranslateSettings", "answer_prompt", "answer_request",
    "answer_set", "clean_answer", "estimate", "estimate_tokens", "parse_translation", "plan_answers",
    "plan_translation",
    "resolve_language", "run_items", "run_records", "translate_prompt", "translate_request", "translate_run",
    "translation_run",
]
