"""LM backends behind one interface, and ``make_lm`` to pick one from an ``LMConfig``.

Backends are imported lazily so that using the fake or a remote endpoint never
loads llama.cpp, and the embedded model never needs the openai SDK.
"""

from __future__ import annotations

from selfinstruct.config import API_MODES, BACKENDS, LMConfig
from selfinstruct.lm.base import (
    LM,
    LMError,
    LMFatalError,
    LMRequest,
    LMResponse,
    LMUnavailable,
    TokenCallback,
    execute_serially,
)

__all__ = [
    "API_MODES",
    "BACKENDS",
    "LM",
    "LMError",
    "LMFatalError",
    "LMRequest",
    "LMResponse",
    "LMUnavailable",
    "TokenCallback",
    "execute_serially",
    "make_lm",
]


def make_lm(cfg: LMConfig, *, api_key: str | None = None) -> LM:
    """Build the backend ``cfg.backend`` names.

    ``api_key`` (openai only) defaults to ``$OPENAI_API_KEY``; the base URL to
    ``cfg.base_url`` or ``$OPENAI_BASE_URL``. Raises ``ValueError`` for a
    configuration that cannot work, before any model is loaded or called.
    """
    cfg.validate()
    if cfg.backend == "llamacpp":
        from selfinstruct.lm.llamacpp import LlamaCppLM

        return LlamaCppLM(cfg)
    if cfg.backend == "openai":
        if not cfg.model.strip():
            raise ValueError(
                "the openai backend needs a model name (--model, or [lm] model in the config; "
                "e.g. 'gpt-4o-mini' or the name your vLLM/Ollama server serves)"
            )
        from selfinstruct.lm.openai_compat import OpenAICompatLM

        return OpenAICompatLM(cfg, api_key=api_key)
    if cfg.backend == "fake":
        from selfinstruct.lm.fake import FakeLM

        return FakeLM()
    raise AssertionError(cfg.backend)  # validate() admits only BACKENDS
