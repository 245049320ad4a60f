"""One line of progress for long one-off computations (the Filters graph build, the spaCy
parse): counts and the time left at the pace so far, redrawn at most every so often."""

from __future__ import annotations

import math
import time
from typing import Callable


def duration(seconds: float) -> str:
    """``8 s``, ``2 min 05 s``: a time left, rounded up to whole seconds."""
    s = math.ceil(seconds)
    return f"{s} s" if s < 60 else f"{s // 60} min {s % 60:02d} s"


class ProgressLine:
    """``(done, total)`` reports turned into a share of the work and a line for people,
    ``show(share, text)``, at most every ``every`` seconds (the last report always).

    ``share`` weights the work when items cost unequal time (default: done / total);
    ``starting`` and ``ending`` are said at 0 and at the end instead of the time left.
    """

    def __init__(self, label: str, unit: str, show: Callable[[float, str], None], *,
                 share: Callable[[int, int], float] | None = None, starting: str = "", ending: str = "",
                 every: float = 0.25, clock: Callable[[], float] = time.monotonic):
        self.label, self.unit, self.show = label, unit, show
        self.share = share or (lambda done, total: done / total if total else 1.0)
        self.starting, self.ending, self.every, self.clock = starting, ending, every, clock
        self.start: float | None = None
        self.last = -math.inf

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        if self.start is None:
            self.start = now
        if done < total and now - self.last < self.every:
            return
        self.last = now
        share = self.share(done, total)
        text = f"{self.label}: {done:,} / {total:,} {self.unit}"
        if done >= total:
            text += self.ending
        elif not done:
            text += self.starting
        elif share > 0:
            text += f" · about {duration((now - self.start) * (1 - share) / share)} left"
        self.show(share, text)
