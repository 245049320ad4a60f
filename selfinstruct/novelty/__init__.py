"""Novelty engine: exact, fast ROUGE-L for the Self-Instruct similarity filter.

Scores equal rouge-score's ROUGE-L F-measure bit for bit; rapidfuzz's batched
LCS does the heavy lifting (see ``core``).
"""

from .core import rouge_l
from .greedy import GreedyResult, greedy_filter
from .index import NoveltyIndex
from .tokens import TOKENIZERS, tokenize

__all__ = ["TOKENIZERS", "GreedyResult", "NoveltyIndex", "greedy_filter", "rouge_l", "tokenize"]
