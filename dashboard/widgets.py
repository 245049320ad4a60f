"""Widgets several pages draw: the model form and API key box, untrusted text in boxes and
alerts, and an iteration with its prompts, completions and verdicts.

Generated text is untrusted: it is shown with ``st.text``/``st.code``/``st.dataframe`` or
Markdown escaped by ``text.md``, never as HTML.
"""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from dashboard.iterations import CandidateView, IterationView, SlotView
from dashboard.state import fake_allowed
from dashboard.text import md, plural
from selfinstruct.config import LMConfig

ORIGIN_MARK = {"seed": "🧑 human", "machine": "🤖 machine", "import": "📥 import", "translation": "🌐 translation"}
LM_CHOICES = {"llamacpp": "Embedded model (Gemma 3 270M, llama.cpp, offline)", "openai": "OpenAI-compatible endpoint"}
JOB_LM = LMConfig(api_mode="chat", concurrency=8)  # what a job's form starts from: chat models, 8 at once


def lm_form(prefix: str, base: LMConfig = JOB_LM, *, costs: bool = False, context: bool = False,
            key_box: bool = False) -> LMConfig:
    """The model a run or a job uses: one form for the Runs page and every job, starting from
    ``base``. No number box has bounds: a browser would replace a value out of them silently, so
    ``LMConfig.validate`` names it instead. The API key is never a field here: ``key_box`` offers to
    hold one in this session's memory (the Runs page); otherwise the held one or $OPENAI_API_KEY is used."""
    choices = dict(LM_CHOICES)
    if fake_allowed():
        choices["fake"] = "Fake scripted LM (tests only)"
    cfg = replace(base, backend=st.radio("Language model", list(choices), format_func=choices.__getitem__,
                                         key=f"{prefix}.backend", horizontal=True))
    if cfg.backend == "openai":
        c = st.columns(4)
        cfg.model = c[0].text_input("Model", key=f"{prefix}.model", placeholder="gpt-4o-mini",
                                    help="The model name the endpoint serves.")
        cfg.base_url = c[1].text_input("Base URL", key=f"{prefix}.base_url", placeholder="https://api.openai.com/v1",
                                       help="Any OpenAI-compatible server: OpenAI, vLLM, Ollama, llama.cpp server…")
        modes = [base.api_mode, *(m for m in ("completion", "chat") if m != base.api_mode)]
        cfg.api_mode = c[2].selectbox("API", modes, key=f"{prefix}.api_mode",
                                      help="'completion' for base models, as in the paper; 'chat' for chat models.")
        cfg.concurrency = int(c[3].number_input("Max requests in flight", value=base.concurrency, step=1,
                                                key=f"{prefix}.conc",
                                                help="Per endpoint. Each starts at 64 and adapts: doubling while "
                                                     "all goes well, halving on 429/503 or timeouts."))
        c = st.columns([2, 1, 1])
        cfg.replicas = [u.strip() for u in c[0].text_area(
            "More endpoints (replicas), one URL per line", value="\n".join(base.replicas), key=f"{prefix}.replicas",
            height=68, help="More servers of the same model (vLLM replicas, llama.cpp servers): each request "
                            "goes to the least loaded.").splitlines() if u.strip()]
        cfg.rpm = int(c[1].number_input("Requests per minute", value=base.rpm, step=1, key=f"{prefix}.rpm",
                                        help="Per endpoint; 0: no limit."))
        cfg.tpm = int(c[2].number_input("Tokens per minute", value=base.tpm, step=1000, key=f"{prefix}.tpm",
                                        help="Per endpoint, prompt plus max tokens; 0: no limit."))
        if costs:
            c = st.columns(2)
            cfg.price_in_per_1m = c[0].number_input("Price per 1M input tokens ($)", value=base.price_in_per_1m,
                                                    key=f"{prefix}.pin")
            cfg.price_out_per_1m = c[1].number_input("Price per 1M output tokens ($)", value=base.price_out_per_1m,
                                                     key=f"{prefix}.pout")
        if key_box:
            api_key_box()
        else:
            st.caption("API key: the one held in this session (Runs page), else $OPENAI_API_KEY.")
    elif cfg.backend == "llamacpp":
        cfg.model_path = st.text_input("GGUF model file", key=f"{prefix}.model_path",
                                       help="Leave empty for the packaged Gemma 3 270M.")
        if context:
            cfg.n_ctx = int(st.number_input("Context size (tokens)", value=base.n_ctx, step=512, key=f"{prefix}.n_ctx"))
    return cfg


def _take_key() -> None:
    """Move a typed key out of the widget into memory, so it is never echoed back to the page."""
    typed = st.session_state.get("api_key_input", "").strip()
    if typed:
        st.session_state["api_key"] = typed
    st.session_state["api_key_input"] = ""


def api_key_box() -> None:
    """A key typed here lives in this browser session's server memory only."""
    held = bool(st.session_state.get("api_key"))
    st.text_input("API key", type="password", key="api_key_input", on_change=_take_key,
                  placeholder="key held (type to replace)" if held else "sk-…  (or set OPENAI_API_KEY)",
                  help="Kept in this browser session's server memory only: never written to the workspace, "
                       "a log or the page. Press Enter to use it.")
    if held:
        c1, c2 = st.columns([4, 1])
        c1.success("An API key is held in memory for this session.", icon="🔑")
        if c2.button("Forget key"):
            st.session_state.pop("api_key", None)
            st.rerun()


def task_text(instruction: str, input_text: str) -> None:
    """An item's instruction, and its input when it has one, each under its label: what a rater
    reads before the answers (A–D rating, HHH comparison)."""
    st.markdown("**Instruction**")
    long_text(instruction)
    if input_text.strip():
        st.markdown("**Input**")
        long_text(input_text)


def long_text(text: str, *, max_chars: int = 1500, max_lines: int = 20, height: int = 320) -> None:
    """Untrusted text as ``st.text``; a long one in a scrollable box ``height`` pixels high, so
    what follows it (buttons) stays in view."""
    if len(text) > max_chars or text.count("\n") >= max_lines:
        with st.container(height=height, border=True):
            st.text(text)
    else:
        st.text(text)


def plain_alert(text: str, *, kind: str = "error", title: str = "") -> None:
    """An alert whose body is plain text (an endpoint's error, a stored status): shown as
    written, with no Markdown, links or visible escapes; ``title`` is our own words."""
    colour, icon = {"error": ("red", "🚨"), "warning": ("orange", "⚠️"), "info": ("blue", "ℹ️")}[kind]
    with st.container(border=True):
        if title:
            st.markdown(f"{icon} :{colour}[**{md(title)}**]")
        st.text(text)


def verdict_label(keep: bool, reason: str | None) -> str:
    return "✅ kept" if keep else f"❌ {reason or 'dropped'}"


def slot_status(slot: SlotView, candidates: list[CandidateView]) -> str:
    """Where a prompt stands, for its expander's label: waiting, streaming, or finished with its yield."""
    if slot.done:
        mine = [c for c in candidates if c.slot == slot.slot]
        return f"✅ finished · {plural(len(mine), 'candidate')}, {sum(c.keep for c in mine)} kept"
    return "⏳ streaming…" if slot.completion else "🕒 waiting"


def render_iteration(view: IterationView, key: str) -> None:
    """One iteration: prompts with their in-context instructions, completions, candidates, instances.

    Prompts still streaming are open; finished ones say what they yielded (their candidates
    and verdicts are in the table below as soon as each completion ends)."""
    st.subheader(f"Iteration {view.iteration}")
    streaming = [s.slot for s in view.slots if not s.done and s.completion]
    for s in view.slots:
        label = f"Prompt {s.slot + 1} · {slot_status(s, view.candidates)} · " \
                f"{sum(i['origin'] != 'seed' for i in s.in_context)} machine + " \
                f"{sum(i['origin'] == 'seed' for i in s.in_context)} human instructions"
        with st.expander(label, expanded=s.slot in streaming or (not streaming and s.slot == 0)):
            left, right = st.columns(2)
            with left:
                st.markdown("**In-context instructions**")
                st.dataframe(
                    {"origin": [ORIGIN_MARK.get(i["origin"], i["origin"]) for i in s.in_context],
                     "instruction": [i["text"] for i in s.in_context]},
                    hide_index=True, width="stretch",
                )
                st.markdown("**Exact prompt**")
                st.code(s.prompt, language=None, wrap_lines=True, height=220)
            with right:
                status = f"finish: {s.finish_reason}" if s.done else "streaming…" if s.completion else "waiting…"
                tokens = f" · {s.tokens_out} tokens" if s.done and s.tokens_out else ""
                st.markdown(f"**Raw completion** · {status}{tokens}")
                long = s.completion.count("\n") > 14 or len(s.completion) > 1200  # scrolls, so the page stays short
                st.code(s.completion + ("▌" if not s.done else ""), language=None, wrap_lines=True,
                        height=320 if long else "content")
    if not view.candidates:
        st.caption("No candidates parsed yet.")
        return
    render_candidates(view.candidates, key)


def render_candidates(candidates: list[CandidateView], key: str) -> None:
    kept = sum(c.keep for c in candidates)
    st.markdown(f"**Candidates** · {kept} kept of {len(candidates)}")
    st.dataframe(
        {
            "prompt": [c.slot + 1 for c in candidates],
            "verdict": [verdict_label(c.keep, c.reason) for c in candidates],
            "max ROUGE-L": [round(c.max_rouge or 0.0, 3) for c in candidates],
            "instruction": [c.text for c in candidates],
            "why": [c.detail for c in candidates],
            "classification": [{True: "yes", False: "no"}.get(c.is_classification, "") for c in candidates],
            "instances kept": [sum(i["keep"] for i in c.instances) for c in candidates],
        },
        hide_index=True, width="stretch", key=f"{key}-cands",
    )
    pick = st.selectbox(
        "Inspect a candidate", range(len(candidates)), key=f"{key}-pick",
        format_func=lambda i: f"{i + 1}. {candidates[i].text[:90]}",
    )
    c = candidates[pick]
    cols = st.columns([3, 2])
    with cols[0]:
        st.markdown(f"**Verdict:** {verdict_label(c.keep, c.reason)}")
        st.text(c.text)
        if c.detail:
            st.caption(md(c.detail))
        st.markdown("**Most similar pool instructions**")
        st.dataframe({"ROUGE-L": [round(s, 3) for _, s in c.similar], "instruction": [t for t, _ in c.similar]},
                     hide_index=True, width="stretch")
    with cols[1]:
        clf = {True: "yes (output-first instances)", False: "no (input-first instances)"}.get(c.is_classification, "—")
        st.markdown(f"**Classification task:** {clf}")
        st.markdown("**Instances**")
        if c.instances:
            st.dataframe(
                {"verdict": [verdict_label(i["keep"], i["reason"]) for i in c.instances],
                 "input": [i["input"] for i in c.instances], "output": [i["output"] for i in c.instances]},
                hide_index=True, width="stretch",
            )
        else:
            st.caption("none (dropped candidates get no instances)" if not c.keep else "not generated yet")
