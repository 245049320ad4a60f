"""Batched ROUGE-L in rouge-score's own float arithmetic.

rapidfuzz's ``Indel.normalized_similarity`` on token-encoded strings is
2*LCS/(la+lb), mathematically rouge-score's F-measure but rounded differently
(and returned as float32 here to halve memory). So it is only used to *find*
the pairs that matter (row maxima, top-k, pairs above a cutoff); their LCS is
recovered exactly from it and their score recomputed as rouge-score does, so
ties at exactly a threshold go the same way.
"""

from __future__ import annotations

import os

import numpy as np
from rapidfuzz.distance import Indel, LCSseq
from rapidfuzz.process import cdist

from .tokens import tokenize

# float32 similarities are within 6e-8 of the truth; anything this close to a
# row's best (or k-th best) is rechecked exactly.
TOL = 1e-6
# Upper bound on elements of one similarity block (float32): 32M = 128 MB.
BLOCK_ELEMS = 1 << 25


def workers() -> int:
    """Threads rapidfuzz may use: all cores unless NOVELTY_WORKERS says otherwise."""
    return int(os.environ.get("NOVELTY_WORKERS", "-1"))


def fmeasure(lcs: int, la: int, lb: int) -> float:
    """rouge-score's ``_score_lcs`` F-measure from the LCS and the two lengths."""
    if la == 0 or lb == 0:
        return 0.0
    p = lcs / lb
    r = lcs / la
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def fmeasure_np(lcs: np.ndarray, la: np.ndarray, lb: np.ndarray) -> np.ndarray:
    """Vectorised ``fmeasure``: the same IEEE operations in the same order."""
    lcs = lcs.astype(np.float64)
    la = np.asarray(la, dtype=np.float64)
    lb = np.asarray(lb, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = lcs / lb
        r = lcs / la
        f = 2 * p * r / (p + r)
    return np.where((la > 0) & (lb > 0) & (lcs > 0), f, 0.0)


def lcs_from_sim(sim: np.ndarray, la: np.ndarray, lb: np.ndarray) -> np.ndarray:
    """Exact LCS lengths back from 2*LCS/(la+lb) (exact while la+lb < 8M)."""
    tot = (np.asarray(la, dtype=np.float64) + lb)
    return np.rint(sim.astype(np.float64) * tot / 2).astype(np.int64)


def sim_block(
    queries: list[str], choices: list[str], qlen: np.ndarray, clen: np.ndarray,
    *, cutoff: float | None = None,
) -> np.ndarray:
    """float32 matrix of 2*LCS/(la+lb); 0 where either text has no token (rouge-score
    scores those 0, rapidfuzz would say two empty strings are identical)."""
    s = cdist(queries, choices, scorer=Indel.normalized_similarity, dtype=np.float32,
              workers=workers(), score_cutoff=cutoff)
    if not clen.all():
        s[:, clen == 0] = 0
    if not qlen.all():
        s[qlen == 0] = 0
    return s


def rows_for_block(n_cols: int, elems: int = BLOCK_ELEMS) -> int:
    """How many query rows fit in one block of ``elems`` entries against ``n_cols``."""
    return int(max(32, min(4096, elems // max(n_cols, 1))))


def exact_top(
    s: np.ndarray, qlen: np.ndarray, clen: np.ndarray, k: int,
) -> tuple[np.ndarray, list[list[tuple[int, float]]]]:
    """Each row's exact max F and its top-k (column, F) with F > 0, highest first,
    ties by column.

    Only entries within TOL of the row's k-th best float32 value are rescored.
    """
    n_rows, n_cols = s.shape
    best = np.zeros(n_rows)
    tops: list[list[tuple[int, float]]] = [[] for _ in range(n_rows)]
    if n_rows == 0 or n_cols == 0:
        return best, tops
    if k > 1 and n_cols > k:
        bar = np.partition(s, n_cols - k, axis=1)[:, n_cols - k]
    else:
        bar = s.max(axis=1)
    # Zero scores are never listed; a row scoring 0 everywhere matches nothing.
    bar = np.where(bar > 0, bar - TOL, 1e-9)
    rows, cols = np.nonzero(s >= bar[:, None])
    if rows.size == 0:
        return best, tops
    la, lb = qlen[rows], clen[cols]
    f = fmeasure_np(lcs_from_sim(s[rows, cols], la, lb), la, lb)
    np.maximum.at(best, rows, f)
    if k > 0:
        order = np.lexsort((cols, -f, rows))
        rows, cols, f = rows[order], cols[order], f[order]
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        ends = np.r_[starts[1:], rows.size]
        for a, b in zip(starts.tolist(), ends.tolist()):
            b = min(b, a + k)
            tops[int(rows[a])] = list(zip(cols[a:b].tolist(), f[a:b].tolist()))
    return best, tops


def exact_matrix(s: np.ndarray, qlen: np.ndarray, clen: np.ndarray) -> np.ndarray:
    """Exact F for every entry of a (small) similarity block."""
    la, lb = qlen[:, None], clen[None, :]
    return fmeasure_np(lcs_from_sim(s, la, lb), la, lb)


def rouge_l(a: str, b: str, *, stem: bool = False, tokenizer: str = "rouge") -> float:
    """ROUGE-L F-measure of two texts, equal to rouge-score's
    ``RougeScorer(["rougeL"], use_stemmer=stem).score(a, b)["rougeL"].fmeasure``."""
    ta = tokenize(a, tokenizer=tokenizer, stem=stem)
    tb = tokenize(b, tokenizer=tokenizer, stem=stem)
    if not ta or not tb:
        return 0.0
    return fmeasure(int(LCSseq.similarity(ta, tb)), len(ta), len(tb))
