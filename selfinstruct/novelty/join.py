"""Every pair of texts scoring above a threshold, without scoring every pair.

ROUGE-L F = 2*LCS/(la+lb) and the LCS is at most the multiset overlap of the two
token lists, so F > t needs an overlap of at least alpha = ceil(t*(la+lb)/2).
Treat each token occurrence as an element ((token, 1st), (token, 2nd), ...: the
multiset overlap becomes a set overlap) and sort each text's elements rarest
first. If two texts share alpha elements, the first (l - alpha + 2) elements of
each share at least two of them (the 2nd-smallest shared element has at least
alpha - 2 shared ones after it in both texts). So every pair above t shares a
*signature*: a pair of elements from the start of both texts, at positions the
two lengths allow. Signatures made of two rare-ish elements are shared by few
texts, which is what makes this fast (set-similarity joins call it a 2-prefix
filter). Pairs that share a signature are then checked against a 256-bit
element sketch (an overlap upper bound) and the survivors scored exactly.
Pairs with alpha = 1 (only possible between very short texts) are scored by
brute force among those texts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .core import exact_pairs, rows_for_block, sim_block
from .tokens import Encoder

# The overlap bound uses t - EPS, so rounding can only add candidate pairs.
EPS = 1e-9
# Signatures handled at once, and candidate pairs expanded at once (memory).
SIG_CHUNK = 12_000_000
PAIR_CHUNK = 4_000_000
SKETCH_WORDS = 4  # 256 bits per text


def _alpha(t: float, la, lb):
    """Least LCS (hence overlap) a pair of lengths la, lb needs to score > t."""
    return np.ceil((t - EPS) * (np.asarray(la) + lb) / 2).astype(np.int64)


@dataclass
class Elements:
    """Texts as rarest-first element ranks: ``ranks[off[i]:off[i+1]]`` is text i."""

    ranks: np.ndarray
    off: np.ndarray
    lens: np.ndarray
    n_elements: int


def elements(codes: Sequence[str]) -> Elements:
    """Each token occurrence -> element (token, how many times it appeared before
    in this text) -> rank by document frequency, rarest first."""
    lens = np.fromiter(map(len, codes), dtype=np.int64, count=len(codes))
    off = np.zeros(lens.size + 1, dtype=np.int64)
    np.cumsum(lens, out=off[1:])
    if off[-1] == 0:
        return Elements(np.zeros(0, np.int64), off, lens, 0)
    tok = np.frombuffer("".join(codes).encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    tid = np.repeat(np.arange(lens.size), lens)
    key = tid * (int(tok.max()) + 1) + tok
    order = np.argsort(key, kind="stable")
    ks = key[order]
    first = np.r_[True, ks[1:] != ks[:-1]]
    group_start = np.maximum.accumulate(np.where(first, np.arange(ks.size), 0))
    occ = np.empty_like(order)
    occ[order] = np.arange(ks.size) - group_start
    uniq, elem = np.unique(tok * (int(lens.max()) + 1) + occ, return_inverse=True)
    freq = np.bincount(elem)
    rank_of = np.empty(uniq.size, dtype=np.int64)
    rank_of[np.lexsort((np.arange(uniq.size), freq))] = np.arange(uniq.size)
    ranks = rank_of[elem]
    ranks = ranks[np.lexsort((ranks, tid))]  # sorted within each text
    return Elements(ranks, off, lens, int(uniq.size))


def _sketches(el: Elements) -> tuple[np.ndarray, np.ndarray]:
    """256-bit sets of each text's elements (the 128 commonest get a bit each, the
    rest share 128 hashed bits) and each sketch's popcount."""
    n = el.lens.size
    common = el.n_elements - 1 - el.ranks  # 0 = the commonest element
    h = (el.ranks * 2654435761) % 128 + 128
    bit = np.where(common < 128, common, h)
    tid = np.repeat(np.arange(n), el.lens)
    cell = np.sort(tid * 256 + bit)  # then dedupe: numpy's hash-based unique is ~7x slower here
    cell = cell[np.r_[True, cell[1:] != cell[:-1]]] if cell.size else cell
    word = cell // 64  # = tid * 4 + word-in-text
    vals = np.left_shift(np.uint64(1), (cell % 64).astype(np.uint64))
    sk = np.zeros(n * SKETCH_WORDS, dtype=np.uint64)
    if cell.size:
        starts = np.flatnonzero(np.r_[True, word[1:] != word[:-1]])
        sk[word[starts]] = np.add.reduceat(vals, starts)
    sk = sk.reshape(n, SKETCH_WORDS)
    return sk, np.bitwise_count(sk).sum(axis=1).astype(np.int64)


def _overlap_bound(sk, pc, lens, x, y):
    """Upper bound on the element overlap of x and y from their sketches: shared
    elements set shared bits, and a text loses at most (length - popcount) bits
    to collisions among its own elements."""
    both = np.bitwise_count(sk[x] & sk[y]).sum(axis=1).astype(np.int64)
    return both + np.minimum(lens[x] - pc[x], lens[y] - pc[y])


@dataclass
class JoinPlan:
    """What every part of the join reads (read-only, so a cluster can share one copy):
    the texts' elements and sketches, and per length the signature prefix width and
    the partner lengths each signature position allows. Signatures are split into
    ``parts`` by key residue, each part holding whole key groups."""

    el: Elements
    width: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    sk: np.ndarray
    pc: np.ndarray
    threshold: float
    parts: int

    @property
    def signatures(self) -> int:
        w = self.width[self.el.lens]
        return int((w * (w - 1) // 2).sum())


def join_plan(codes: Sequence[str], threshold: float, *, split: int = 1) -> JoinPlan:
    """The plan for ``similar_pairs``; ``parts`` is the least multiple of ``split`` that
    keeps each part within SIG_CHUNK signatures (memory), so ``split`` workers get equal shares."""
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    t = threshold
    el = elements(codes)
    lens = el.lens
    top = int(lens.max()) if lens.size else 0
    m = np.arange(top + 1)
    # lo/hi[l, b]: partner lengths a text of length l can pair with through a
    # signature whose later element sits at position b (needs alpha >= 2).
    lo = np.zeros((top + 1, top + 1), dtype=np.int64)
    hi = np.full((top + 1, top + 1), -1, dtype=np.int64)
    width = np.zeros(top + 1, dtype=np.int64)  # signature prefix length per l
    for l in range(2, top + 1):
        a = _alpha(t, l, m)
        ok = (a >= 2) & (a <= np.minimum(l, m))
        if not ok.any():
            continue
        width[l] = min(l, l - int(a[ok].min()) + 2)
        for b in range(1, width[l]):
            w = np.flatnonzero(ok & (b <= l - a + 1))
            if w.size:
                lo[l, b], hi[l, b] = w[0], w[-1]
    sk, pc = _sketches(el)
    plan = JoinPlan(el, width, lo, hi, sk, pc, t, 1)
    plan.parts = split * max(1, math.ceil(plan.signatures / SIG_CHUNK / split))
    return plan


def part_pairs(plan: JoinPlan, part: int, first: int = 0) -> np.ndarray:
    """Candidate pairs (as x*n + y, y < x, x >= ``first``; sorted, unique) that share a
    signature whose key falls in ``part``: they pass the length and sketch bounds, and
    every pair above the threshold is among the union over all parts (plus ``tiny_pairs``)."""
    el = plan.el
    top = plan.lo.shape[0] - 1
    key, tid, b = _signatures(el, plan.width, part, plan.parts)
    return _join_group(key, tid, b, el.lens, plan.lo, plan.hi, top, first, el.lens.size,
                       plan.threshold, plan.sk, plan.pc)


def score_pairs(codes: Sequence[str], pairs: np.ndarray, threshold: float,
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The candidate pairs (x*n + y, any order, repeats allowed) scoring above ``threshold``,
    exactly: arrays x, y, F sorted by (x, y)."""
    n = len(codes)
    lens = np.fromiter(map(len, codes), dtype=np.int64, count=n)
    x, y = np.divmod(np.unique(pairs), n)
    f = exact_pairs(codes, codes, lens, lens, x, y)
    keep = f > threshold
    return x[keep], y[keep], f[keep]


def similar_pairs(
    codes: Sequence[str], threshold: float, *, first: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair (x, y), y < x, x >= ``first``, of token-encoded texts whose
    ROUGE-L F (rouge-score's arithmetic) is > ``threshold`` (0 < threshold < 1):
    arrays x, y, F sorted by (x, y)."""
    plan = join_plan(codes, threshold)
    parts = [part_pairs(plan, p, first) for p in range(plan.parts)]
    return score_pairs(codes, np.concatenate(parts + [tiny_pairs(codes, threshold, first)]), threshold)


def _signatures(el: Elements, width: np.ndarray, part: int, parts: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(key, text, position of the later element) of every signature whose key is
    ``part`` modulo ``parts`` (so a part holds whole key groups)."""
    lens, off, ranks = el.lens, el.off, el.ranks
    w = width[lens]
    E = max(el.n_elements, 1)
    ks, ts, bs = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for p in np.unique(w[w >= 2]).tolist():
        texts = np.flatnonzero(w == p)
        a, b = np.triu_indices(p, 1)
        for c in range(0, texts.size, max(1, SIG_CHUNK // (p * p))):
            tt = texts[c:c + max(1, SIG_CHUNK // (p * p))]
            M = ranks[off[tt][:, None] + np.arange(p)[None, :]]
            key = M[:, a] * E + M[:, b]
            sel = (key % parts == part) if parts > 1 else np.ones(key.shape, dtype=bool)
            ks.append(key[sel])
            ts.append(np.broadcast_to(tt[:, None], key.shape)[sel])
            bs.append(np.broadcast_to(b[None, :], key.shape)[sel])
    return np.concatenate(ks), np.concatenate(ts), np.concatenate(bs)


def _join_group(key, tid, b, lens, lo, hi, top, first, n, t, sk, pc) -> np.ndarray:
    """Candidate pairs (as x*n + y) among signature entries sharing a key."""
    ln = lens[tid]
    if key.size and int(key.max()) >= (1 << 62) // (top + 1):  # keep (key, length) in int64
        key = np.unique(key, return_inverse=True)[1].astype(np.int64)
    comp = key * (top + 1) + ln
    order = np.lexsort((tid, comp))
    comp, tid, b, ln, key = comp[order], tid[order], b[order], ln[order], key[order]
    lo_e, hi_e = lo[ln, b], hi[ln, b]
    end = np.searchsorted(comp, key * (top + 1) + hi_e, side="right")
    cnt = np.maximum(end - np.arange(comp.size) - 1, 0)
    cum = np.cumsum(cnt)
    out = []
    start = 0
    while start < comp.size:
        stop = int(np.searchsorted(cum, (cum[start - 1] if start else 0) + PAIR_CHUNK, side="right"))
        stop = max(stop, start + 1)
        c = cnt[start:stop]
        u = np.repeat(np.arange(start, stop), c)
        v = u + 1 + np.arange(u.size) - np.repeat(np.cumsum(c) - c, c)
        ok = (ln[v] >= lo_e[u]) & (ln[u] >= lo_e[v]) & (ln[u] <= hi_e[v])
        u, v = u[ok], v[ok]
        x, y = np.maximum(tid[u], tid[v]), np.minimum(tid[u], tid[v])
        ok = x >= first
        x, y = x[ok], y[ok]
        ok = _overlap_bound(sk, pc, lens, x, y) >= _alpha(t, lens[x], lens[y])
        out.append(np.unique(x[ok] * n + y[ok]))
        start = stop
    return np.unique(np.concatenate(out)) if out else np.zeros(0, dtype=np.int64)


def tiny_pairs(codes: Sequence[str], t: float, first: int = 0) -> np.ndarray:
    """Pairs (x*n + y) that need an overlap of only 1 (very short texts), by brute force."""
    lens = np.fromiter(map(len, codes), dtype=np.int64, count=len(codes))
    n = lens.size
    tiny = np.flatnonzero((lens >= 1) & (_alpha(t, lens, 1) == 1))
    out = [np.zeros(0, dtype=np.int64)]
    tc = [codes[i] for i in tiny]
    step = rows_for_block(tiny.size)
    for a in range(0, tiny.size, step):
        rows = tiny[a:a + step]
        s = sim_block(tc[a:a + step], tc, lens[rows], lens[tiny])
        r, c = np.nonzero(s > t - 1e-6)
        x, y = rows[r], tiny[c]
        ok = (x > y) & (x >= first)
        out.append(x[ok] * n + y[ok])
    return np.concatenate(out)


@dataclass
class FastGreedyResult:
    """Per candidate: kept?, and for a dropped one its exact max ROUGE-L against
    the pool as it stood then and the pool member reaching it (seed i as
    ``-1 - i``, candidate j as ``j``; ties go to the earlier one). Kept
    candidates score None: their max is only known to be <= threshold."""

    kept: list[bool]
    scores: list[float | None]
    blocker: list[int | None]


def fast_greedy_filter(
    candidates: Sequence[str], pool: Sequence[str], threshold: float = 0.7, *,
    tokenizer: str = "rouge", stem: bool = False,
) -> FastGreedyResult:
    """``greedy_filter``'s keep/drop decisions, exactly, from only the pairs that
    score above ``threshold`` (see ``similar_pairs``): far faster on big batches,
    but kept candidates get no score or nearest list. 0 < threshold."""
    return greedy_from_pairs(candidates, pool, threshold, tokenizer, stem, similar_pairs)


PairFinder = Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]]
"""``similar_pairs`` or a stand-in with its signature and results (the sharded one)."""


def greedy_from_pairs(candidates: Sequence[str], pool: Sequence[str], threshold: float,
                      tokenizer: str, stem: bool, find: PairFinder) -> FastGreedyResult:
    """``fast_greedy_filter`` with the pairs above the threshold found by ``find``."""
    n0, n = len(pool), len(candidates)
    if threshold >= 1:  # nothing scores above 1
        return FastGreedyResult([True] * n, [None] * n, [None] * n)
    if threshold <= 0:
        raise ValueError(f"fast_greedy_filter needs a threshold > 0 (got {threshold}): "
                         "at or below 0 every pair counts; use greedy_filter")
    codes = Encoder(tokenizer, stem).encode_many(list(pool) + list(candidates))
    x, y, f = find(codes, threshold, first=n0)
    return resolve(n0, n, x, y, f)


def resolve(n0: int, n: int, x: np.ndarray, y: np.ndarray, f: np.ndarray) -> FastGreedyResult:
    """The in-order pass: a candidate is dropped iff an edge joins it to a pool
    member (a seed, or a candidate kept before it)."""
    kept = [True] * n
    scores: list[float | None] = [None] * n
    blocker: list[int | None] = [None] * n
    in_pool = np.ones(n0 + n, dtype=bool)
    starts = np.flatnonzero(np.r_[True, x[1:] != x[:-1]]) if x.size else np.zeros(0, np.int64)
    ends = np.r_[starts[1:], x.size]
    for a, b in zip(starts.tolist(), ends.tolist()):
        ys, fs = y[a:b], f[a:b]
        live = in_pool[ys]
        if not live.any():
            continue
        ys, fs = ys[live], fs[live]
        j = int(np.argmax(fs))  # first max: y ascending, so ties go to the earlier
        i = int(x[a]) - n0
        kept[i], scores[i] = False, float(fs[j])
        blocker[i] = int(ys[j]) - n0 if ys[j] >= n0 else -1 - int(ys[j])
        in_pool[n0 + i] = False
    return FastGreedyResult(kept, scores, blocker)
