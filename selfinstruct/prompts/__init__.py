"""Every LM step's prompt, as pure pairs: a builder that writes the text sent to the model,
and a parser that reads its reply back. Nothing here calls a model or touches the store.

- ``instructions``: the three generation steps (instructions, classification, instances).
- ``answer``: one instance asked of another model.
- ``translate``: one text into another language.
- ``judge``: a 1-10 grade of one response, or of two side by side.
- ``review``: the quality review's four yes/no questions.

The generation steps are re-exported here: ``prompts.build_instruction_prompt`` and so on.
"""

from .instructions import (
    CLASSIFICATION_EXAMPLES,
    CLASSIFICATION_HEADER,
    INPUT_FIRST_EXAMPLES,
    INPUT_FIRST_HEADER,
    INSTRUCTION_HEADER,
    OUTPUT_FIRST_EXAMPLES,
    OUTPUT_FIRST_HEADER,
    Demo,
    build_classification_prompt,
    build_instance_prompt,
    build_instruction_prompt,
    parse_classification,
    parse_instances,
    parse_instructions,
    render_classification_completion,
    render_instance_completion,
    render_instruction_completion,
)

__all__ = [
    "CLASSIFICATION_EXAMPLES", "CLASSIFICATION_HEADER", "INPUT_FIRST_EXAMPLES", "INPUT_FIRST_HEADER",
    "INSTRUCTION_HEADER", "OUTPUT_FIRST_EXAMPLES", "OUTPUT_FIRST_HEADER", "Demo", "build_classification_prompt",
    "build_instance_prompt", "build_instruction_prompt", "parse_classification", "parse_instances",
    "parse_instructions", "render_classification_completion", "render_instance_completion",
    "render_instruction_completion",
]
