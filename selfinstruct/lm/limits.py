"""How much each endpoint of an LM may take: requests and tokens a minute, and how many at once.

Bookkeeping only, with an injectable clock, so every rule is testable without sleeping:
``RateWindow`` and ``RateLimiter`` say when a request may be sent under ``rpm``/``tpm``;
``Endpoint`` holds one URL's adaptive concurrency limit (slow start, halving on congestion,
additive increase); ``EndpointPool`` hands each request the least-loaded endpoint. The one
wait here is ``EndpointPool.acquire`` blocking on a condition until a slot is free.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Sequence

WINDOW_S = 60.0  # rpm and tpm count what was sent in any such window
SLOW_START = 64  # an endpoint's first limit (or the max, if lower): a fast one is full within a few round trips

Clock = Callable[[], float]


@dataclass(eq=False)
class _Entry:
    at: float
    cost: int
    live: bool = True  # still inside the window's books


class RateWindow:
    """At most ``limit`` units (requests or tokens) in any ``window_s`` seconds; 0 is no limit.

    Sends are booked ahead in order, so a caller learns at once when it may send (no polling)
    and nobody overtakes a request already waiting. A cost above ``limit`` waits for an empty
    window, since it could never fit otherwise."""

    def __init__(self, limit: int, window_s: float = WINDOW_S):
        self.limit = limit
        self.window_s = window_s
        self._entries: deque[_Entry] = deque()
        self._total = 0

    def earliest(self, now: float, cost: int) -> float:
        """The first time, not before ``now`` nor the last booking, when ``cost`` more fits."""
        self._forget(now)
        t = max(now, self._entries[-1].at) if self._entries else now
        if not self.limit:
            return t
        cost, used = min(cost, self.limit), self._total
        for entry in self._entries:  # oldest first: wait for each to leave the window until it fits
            if used + cost <= self.limit:
                break
            used -= entry.cost
            t = max(t, entry.at + self.window_s)
        return t

    def book(self, at: float, cost: int) -> _Entry:
        entry = _Entry(at, cost)
        self._entries.append(entry)
        self._total += cost
        return entry

    def correct(self, entry: _Entry, cost: int) -> None:
        """Replace a booked estimate with what the server reported."""
        if entry.live:
            self._total += cost - entry.cost
        entry.cost = cost

    def _forget(self, now: float) -> None:
        while self._entries and self._entries[0].at <= now - self.window_s:
            entry = self._entries.popleft()
            entry.live = False
            self._total -= entry.cost


@dataclass(frozen=True)
class Booking:
    """When a request may be sent (``wait_s`` from when it was booked) and its token entry."""

    wait_s: float
    tokens: _Entry


class RateLimiter:
    """One endpoint's requests per minute and tokens per minute (0: no limit)."""

    def __init__(self, rpm: int = 0, tpm: int = 0, clock: Clock = time.monotonic):
        self._requests = RateWindow(rpm)
        self._tokens = RateWindow(tpm)
        self._clock = clock

    def reserve(self, tokens: int) -> Booking:
        """Book one request costing ``tokens`` (an estimate: prompt plus max_tokens) at the first
        time both budgets allow; the caller waits ``wait_s`` before sending."""
        now = self._clock()
        at = max(self._requests.earliest(now, 1), self._tokens.earliest(now, tokens))
        self._requests.book(at, 1)
        return Booking(at - now, self._tokens.book(at, tokens))

    def settle(self, booking: Booking, tokens: int) -> None:
        """Count the tokens the server reported instead of the estimate."""
        self._tokens.correct(booking.tokens, tokens)


@dataclass(eq=False)
class Endpoint:
    """One URL serving the model, with its own limits and live numbers.

    ``limit`` (requests in flight) starts at ``min(SLOW_START, max_limit)`` and doubles after
    each window of successes (``limit`` of them, each while the endpoint was full) until the
    first congestion signal; then it halves on each signal (floor 1) and grows by one a window."""

    url: str  # as configured, credentials included: only the HTTP client sees it
    shown: str  # without credentials: for messages and stats
    max_limit: int
    rate: RateLimiter  # used under the pool's lock only
    limit: int = 0
    in_flight: int = 0
    paused_until: float = 0.0
    requests: int = 0
    throttled: int = 0
    _slow_start: bool = True
    _successes: int = 0
    _epoch: int = 0  # bumped by each cut: answers to requests sent before it cut no further

    def __post_init__(self) -> None:
        self.limit = min(SLOW_START, self.max_limit)

    def succeeded(self, was_full: bool) -> None:
        if not was_full:  # the limit was not what held the endpoint back: no evidence it can take more
            return
        self._successes += 1
        if self._successes >= self.limit:
            self._successes = 0
            self.limit = min(self.max_limit, self.limit * 2 if self._slow_start else self.limit + 1)

    def congested(self, epoch: int) -> None:
        """429, 503 or a timeout: halve the limit, once for all the requests sent under it."""
        self._slow_start = False
        if epoch == self._epoch:
            self._epoch += 1
            self._successes = 0
            self.limit = max(1, self.limit // 2)


@dataclass(frozen=True)
class Lease:
    """A slot on an endpoint, held from dispatch to answer."""

    endpoint: Endpoint
    booking: Booking
    epoch: int


@dataclass
class EndpointPool:
    """Endpoints serving one model; ``acquire`` blocks until one has a free slot.

    Each request goes to the endpoint with the fewest in flight relative to its limit, among
    those not paused (ties: the first). ``release`` reports how it went."""

    endpoints: Sequence[Endpoint]
    clock: Clock = time.monotonic
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def acquire(self, tokens: int, *, waited: Endpoint | None = None) -> Lease:
        """A slot for a request of about ``tokens``; ``waited`` is an endpoint whose pause this
        request has already sat out (its own retry delay), so it need not wait a second time."""
        with self._cond:
            while True:
                now = self.clock()
                open_ = [e for e in self.endpoints
                         if (e.paused_until <= now or e is waited) and e.in_flight < e.limit]
                if open_:
                    e = min(open_, key=lambda e: e.in_flight / e.limit)
                    e.in_flight += 1
                    e.requests += 1
                    return Lease(e, e.rate.reserve(tokens), e._epoch)
                pauses = [e.paused_until - now for e in self.endpoints if e.paused_until > now]
                self._cond.wait(min(pauses) if pauses else None)

    def release(self, lease: Lease, *, tokens: int | None = None, congested: bool = False,
                pause_s: float | None = None) -> None:
        """The request is over: ``tokens`` used (on success), or a congestion signal; ``pause_s``
        for a 429 or 503, counted as throttled: the endpoint takes no new request until then."""
        e = lease.endpoint
        with self._cond:
            was_full = e.in_flight >= e.limit
            e.in_flight -= 1
            if tokens is not None:
                e.rate.settle(lease.booking, tokens)
                e.succeeded(was_full)
            if congested:
                e.congested(lease.epoch)
            if pause_s is not None:
                e.throttled += 1
                e.paused_until = max(e.paused_until, self.clock() + pause_s)
            self._cond.notify(sum(max(0, x.limit - x.in_flight) for x in self.endpoints))

    def any_open(self) -> bool:
        """Whether some endpoint is not paused: a throttled request can go there at once."""
        with self._cond:
            now = self.clock()
            return any(e.paused_until <= now for e in self.endpoints)

    def stats(self) -> list[dict]:
        """Live numbers per endpoint, for progress displays (URLs without credentials)."""
        with self._cond:
            now = self.clock()
            return [{"url": e.shown, "in_flight": e.in_flight, "limit": e.limit,
                     "paused_s": max(0.0, e.paused_until - now), "requests": e.requests,
                     "throttled": e.throttled} for e in self.endpoints]
