"""The answer step's prompt: one instance asked of another model, and its reply as stored."""

from __future__ import annotations

MODES = ("completion", "chat")


class ResponsesError(ValueError):
    """An answer or translate job (or one of its prompts) cannot be made or go on; the message names the run, set or option at fault."""


ANSWER_LEAD = "Carry out the request below. Reply with the answer only."


def answer_prompt(instruction: str, input: str = "", *, mode: str = "completion", system: str | None = None) -> str:
    """The text sent to the model for one instance.

    Chat: the instruction, then the input after a blank line (the system text
    travels separately). Completion: a labelled layout ending in ``Answer:`` for
    the model to continue, with the system text, if any, on top.
    """
    instruction, input = instruction.strip(), input.strip()
    if mode == "chat":
        return f"{instruction}\n\n{input}" if input else instruction
    if mode != "completion":
        raise ResponsesError(f"unknown api mode {mode!r}: use one of {', '.join(MODES)}")
    parts = [system.strip()] if system and system.strip() else []
    parts += [ANSWER_LEAD, f"Request:\n{instruction}"]
    if input:
        parts.append(f"Input:\n{input}")
    parts.append("Answer:")
    return "\n\n".join(parts)


ANSWER_STOP_COMPLETION = ("\nRequest:",)


def clean_answer(text: str) -> str:
    """The answer as stored: surrounding whitespace removed, nothing else touched."""
    return text.strip()
