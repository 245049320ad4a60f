"""Scripts written without spaces between words (Han, kana, Thai, Lao, Tibetan, Myanmar, Khmer).

One home for the character class that two places need: word counts mean nothing in these
scripts (``analysis.length_unit`` measures such text in characters), and BPE tokenizers spend
about one token per character on them (``lm.batches.estimate_tokens``). Hangul is left out:
Korean separates words with spaces.
"""

from __future__ import annotations

import re

NO_SPACE_SCRIPT = re.compile(
    "[\u0e00-\u0eff\u0f00-\u0fff\u1000-\u109f\u1780-\u17ff"
    "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
