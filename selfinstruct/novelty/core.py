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
from itertools import chain
from typing import Sequence

import numpy as np
from rapidfuzz.distance import Indel, LCSseq
from rapidfuzz.process import cdist, cpdist

from .tokens import tokenize

# float32 similarities are within 6e-8 of the truth; anything this close to a
# row's best (or k-th best) is rechecked exactly.
TOL = 1e-6
# Upper bound on elements of one similarity block (float32): 32M = 128 MB.
BLOCK_ELEMS = 1 << 25
# Token codes below FOLD keep their own 8-bit code point (the encoder gives the
# most frequent tokens the lowest codes); rarer ones share 256 - FOLD buckets.
FOLD = 192
# Columns sampled exactly to get each row's first lower bound on its k-th best.
SAMPLE_COLS = 2048
# Entries per row (at most) scored exactly to raise that bound.
PROBE = 24


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


def fold_codes(codes: Sequence[str]) -> list[str]:
    """8-bit copies of token-encoded texts: codes >= FOLD share 256 - FOLD buckets.

    Folding maps equal tokens to equal characters, so it can only add matches:
    the LCS of folded texts is an upper bound on the true LCS. rapidfuzz scores
    strings of code points < 256 with plain lookup tables, about twice as fast.
    """
    if not codes:
        return []
    arr = np.frombuffer("".join(codes).encode("utf-32-le"), dtype=np.uint32)
    arr = np.where(arr < FOLD, arr, FOLD + arr % (256 - FOLD)).astype(np.uint8)
    flat = arr.tobytes().decode("latin-1")
    ends = np.cumsum(np.fromiter(map(len, codes), dtype=np.int64, count=len(codes))).tolist()
    return [flat[a:b] for a, b in zip([0] + ends[:-1], ends)]


def exact_pairs(qc: Sequence[str], cc: Sequence[str], qlen: np.ndarray, clen: np.ndarray,
                rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """rouge-score's F for the pairs (qc[rows[i]], cc[cols[i]])."""
    if rows.size == 0:
        return np.zeros(0)
    lcs = cpdist(list(map(qc.__getitem__, rows.tolist())), list(map(cc.__getitem__, cols.tolist())),
                 scorer=LCSseq.similarity, dtype=np.int32, workers=workers())
    return fmeasure_np(lcs, qlen[rows], clen[cols])


class Pool:
    """Ids of the texts to score against, grouped by token count, with their
    folded codes: within one group a bound on a row's score is a bound on its
    LCS, so the 8-bit LCS matrix rapidfuzz returns can be thresholded directly."""

    def __init__(self) -> None:
        self._ids: dict[int, list[int]] = {}
        self._folded: dict[int, list[str]] = {}
        self._n = 0
        self._cache: tuple[np.ndarray, np.ndarray, list[str], list[int]] | None = None

    def __len__(self) -> int:
        return self._n

    def add(self, i: int, length: int, folded: str) -> None:
        self._ids.setdefault(length, []).append(i)
        self._folded.setdefault(length, []).append(folded)
        self._n += 1
        self._cache = None

    def arrays(self) -> tuple[np.ndarray, np.ndarray, list[str], list[int]]:
        """(ids, lengths, folded codes) in length order, and where each length starts."""
        if self._cache is None:
            keys = sorted(self._ids)
            sizes = [len(self._ids[n]) for n in keys]
            ids = np.fromiter(chain.from_iterable(self._ids[n] for n in keys), np.int64, self._n)
            lens = np.repeat(np.array(keys, dtype=np.int64), sizes)
            folded = list(chain.from_iterable(self._folded[n] for n in keys))
            self._cache = (ids, lens, folded, np.cumsum([0] + sizes).tolist())
        return self._cache


def top_k(
    qc: Sequence[str], qf: Sequence[str], qlen: np.ndarray,
    pool: Pool, codes: Sequence[str], lens: np.ndarray, k: int,
) -> tuple[np.ndarray, list[list[tuple[int, float]]]]:
    """``exact_top`` of queries ``qc`` (folded: ``qf``) against the texts in
    ``pool``; ``codes``/``lens`` give any pool id's code and length. Top-k lists
    hold pool ids, ties broken by the lower id.

    Per row: a lower bound on the k-th best score comes from exact scores against
    a strided sample of the pool, then from the PROBE entries with the highest
    folded (upper-bound) score, scored exactly. Only entries whose upper bound
    reaches that lower bound can be in the top k, and only they are scored
    exactly; every other one scores below k scores already found.
    """
    ids, clen, cf, edges = pool.arrays()
    n_rows, n_cols = len(qc), ids.size
    best = np.zeros(n_rows)
    tops: list[list[tuple[int, float]]] = [[] for _ in range(n_rows)]
    if n_rows == 0 or n_cols == 0:
        return best, tops
    if n_cols <= 2 * SAMPLE_COLS:
        sid = np.sort(ids)
        best, tops = exact_top(sim_block(qc, list(map(codes.__getitem__, sid.tolist())), qlen,
                                         lens[sid]), qlen, lens[sid], k)
        return best, [[(int(sid[c]), f) for c, f in t] for t in tops]
    kk = max(k, 1)
    samp = ids[:: n_cols // SAMPLE_COLS]
    bar = np.zeros(n_rows)
    if samp.size >= kk:
        s = sim_block(qc, list(map(codes.__getitem__, samp.tolist())), qlen, lens[samp])
        bar = np.partition(s, samp.size - kk, axis=1)[:, samp.size - kk]
        del s
    bar = np.maximum(bar - TOL, 1e-9)  # zero scores are never listed
    wide = max(int(qlen.max()), int(clen[-1])) > 255
    lcs = cdist(qf, cf, scorer=LCSseq.similarity, dtype=np.int32 if wide else np.uint8,
                workers=workers())
    mask = np.empty(lcs.shape, dtype=bool)
    for a, b in zip(edges[:-1], edges[1:]):
        # 2*LCS/(la+lb) >= bar  <=>  LCS >= bar*(la+lb)/2; a score > 0 needs LCS >= 1
        need = np.maximum(np.ceil(bar * (qlen + clen[a]) / 2 - TOL), 1).astype(lcs.dtype)
        np.greater_equal(lcs[:, a:b], need[:, None], out=mask[:, a:b])
    flat = np.flatnonzero(mask)
    del mask
    rows, cols = np.divmod(flat, n_cols)
    ub = 2 * lcs.ravel()[flat] / (qlen[rows] + clen[cols])
    del lcs
    cols = ids[cols]
    starts = np.searchsorted(rows, np.arange(n_rows + 1)).tolist()
    picks = []
    for r in range(n_rows):
        a, b = starts[r], starts[r + 1]
        if b - a <= PROBE:
            picks.append(np.arange(a, b))
        else:
            picks.append(a + np.argpartition(ub[a:b], b - a - PROBE)[b - a - PROBE:])
    pick = np.concatenate(picks)
    f = np.full(flat.size, -1.0)
    f[pick] = exact_pairs(qc, codes, qlen, lens, rows[pick], cols[pick])
    # each row's kk-th best among its probed entries is a valid lower bound
    pr, pf = rows[pick], f[pick]
    order = np.lexsort((-pf, pr))
    pr, pf = pr[order], pf[order]
    first = np.searchsorted(pr, np.arange(n_rows))
    has = np.bincount(pr, minlength=n_rows) >= kk
    kth = np.zeros(n_rows)
    kth[has] = pf[first[has] + kk - 1]
    bar = np.maximum(bar, kth - TOL)
    live = ub >= bar[rows]
    todo = np.flatnonzero(live & (f < 0))
    f[todo] = exact_pairs(qc, codes, qlen, lens, rows[todo], cols[todo])
    live &= f > 0
    rows, cols, f = rows[live], cols[live], f[live]
    np.maximum.at(best, rows, f)
    _fill_tops(tops, rows, cols, f, k)
    return best, tops


def _fill_tops(tops: list, rows: np.ndarray, cols: np.ndarray, f: np.ndarray, k: int) -> None:
    """Each row's k best (column, F), highest first, ties to the lower column."""
    if k <= 0 or rows.size == 0:
        return
    order = np.lexsort((cols, -f, rows))
    rows, cols, f = rows[order], cols[order], f[order]
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    ends = np.r_[starts[1:], rows.size]
    for a, b in zip(starts.tolist(), ends.tolist()):
        b = min(b, a + k)
        tops[int(rows[a])] = list(zip(cols[a:b].tolist(), f[a:b].tolist()))


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
    _fill_tops(tops, rows, cols, f, k)
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
