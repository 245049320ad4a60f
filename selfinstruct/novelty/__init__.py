"""Novelty engine: exact, fast ROUGE-L for the Self-Instruct similarity filter.

Scores equal rouge-score's ROUGE-L F-measure bit for bit; rapidfuzz's batched
LCS does the heavy lifting (see ``core``).
"""

from .core import rouge_l
from .distributions import max_against, max_within, pairwise_histogram
from .greedy import GreedyResult, greedy_filter
from .index import NoveltyIndex
from .tokens import TOKENIZERS, tokenize
from .whatif import WhatIfGraph, WhatIfResult

__all__ = [
    "TOKENIZERS", "GreedyResult", "NoveltyIndex", "WhatIfGraph", "WhatIfResult",
    "greedy_filter", "max_against", "max_within", "pairwise_histogram", "rouge_l", "tokenize",
]
