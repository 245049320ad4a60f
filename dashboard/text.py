"""Text for the page: Markdown escaping for untrusted text, and numbers short enough for a tile."""

from __future__ import annotations


def compact(x: float, unit: str = "") -> str:
    """A number short enough for a metric tile: 950, 12.3k, 346k, 4.1M."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= size:
            v = x / size
            return f"{v:.1f}{suffix}{unit}" if abs(v) < 100 else f"{v:.0f}{suffix}{unit}"
    return f"{x:.1f}{unit}" if 0 < abs(x) < 100 and x != int(x) else f"{x:.0f}{unit}"


def plural(n: int, word: str) -> str:
    """``1 task``, ``2 tasks``."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def md(text: str) -> str:
    """Escape text for Markdown (no links, images, HTML or emphasis survive)."""
    out = []
    for ch in text:
        if ch in "\\`*_{}[]()<>#+-.!|~$&":
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)
