"""The one redaction layer: what may be printed or stored of server text and URLs.

Servers echo keys back in errors (gateways do on 401) and users put credentials
in base URLs (``http://user:pw@host/v1``, ``?api-key=...``). Everything that
prints or stores such text goes through here, so a leak is fixed in one place.
"""

from __future__ import annotations

import re
from typing import Iterable
from urllib.parse import unquote, unquote_plus, urlsplit, urlunsplit

MASK = "***"

# Key shapes worth masking even when the exact key is unknown: OpenAI-style
# keys (sk-..., sk-proj-...) and bearer tokens in echoed headers.
_KEY_SHAPES = (
    re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"(?i)\b(Bearer)\s+[A-Za-z0-9._~+/=\-]{4,}"),
)
# Query parameter names that carry a secret: api-key, api_key, key, token,
# access_token, sig, signature, password, and the same with a prefix (x-api-key).
_SECRET_NAME = r"(?:[a-z0-9_.\-]*[-_])?(?:api[-_]?key|key|token|secret|sig|signature|password|passwd|pwd|auth|credentials?)"
_SECRET_PARAM = re.compile(rf"(?i)^{_SECRET_NAME}$")
# The same inside free text (an error quoting a URL), and a URL's userinfo.
_URL_SECRET_QUERY = re.compile(rf"(?i)([?&;]{_SECRET_NAME}=)[^&#\s'\"]*")
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s@?#]*@")


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with each known secret, each key-shaped string and URL credentials masked.

    Longest secrets are replaced first, so a secret containing another is masked whole.
    Empty or very short secrets (under 4 characters) are ignored: masking them would
    garble ordinary text without protecting anything.
    """
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = _KEY_SHAPES[0].sub(MASK, text)
    text = _KEY_SHAPES[1].sub(lambda m: f"{m.group(1)} {MASK}", text)
    text = _URL_USERINFO.sub(lambda m: m.group(1), text)
    return _URL_SECRET_QUERY.sub(lambda m: m.group(1) + MASK, text)


def url_secrets(url: str) -> list[str]:
    """The secret parts of ``url`` (password, key-like query values), raw and decoded, to mask in other text."""
    try:
        parts = urlsplit(url)
        found = [parts.password or ""]
    except ValueError:
        return []
    for piece in parts.query.split("&"):
        name, eq, value = piece.partition("=")
        if eq and _SECRET_PARAM.match(name):
            found += [value, unquote_plus(value)]
    found += [unquote(s) for s in found]
    return sorted({s for s in found if s})


def strip_url_credentials(url: str) -> str:
    """``url`` without ``user:password@`` and with key-like query values replaced by ``***``.

    The result names the same host, port and path (so it still tells endpoints
    apart) and is safe to print or store; only the real URL talks to the server.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact(url)
    if not parts.netloc:
        return redact(url)
    netloc = parts.netloc.rpartition("@")[2]
    query = "&".join(_mask_param(piece) for piece in parts.query.split("&")) if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _mask_param(piece: str) -> str:
    """One raw ``name=value`` query piece, its value masked when the name looks like a key."""
    name, eq, _ = piece.partition("=")
    return f"{name}={MASK}" if eq and _SECRET_PARAM.match(name) else piece
