"""Novelty engine: exact, fast ROUGE-L for the Self-Instruct similarity filter.

Scores equal rouge-score's ROUGE-L F-measure bit for bit; rapidfuzz's batched
LCS does the heavy lifting (see ``core``). ``fast_greedy_filter`` makes the same
keep/drop decisions from only the pairs above the threshold (see ``join``).
"""

from .core import rouge_l
from .distributions import max_against, max_within, pairwise_histogram
from .greedy import GreedyResult, greedy_filter
from .index import NoveltyIndex
from .join import FastGreedyResult, fast_greedy_filter
from .tokens import TOKENIZERS, tokenize
from .whatif import WhatIfGraph, WhatIfResult

__all__ = [
    "TOKENIZERS", "FastGreedyResult", "GreedyResult", "NoveltyIndex", "WhatIfGraph",
    "WhatIfResult", "fast_greedy_filter", "greedy_filter", "max_against", "max_within",
    "pairwise_histogram", "rouge_l", "tokenize",
]
