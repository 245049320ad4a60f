"""Secrets never printed or stored, settings checked before anything is written, messages that name the problem."""

from __future__ import annotations

import pytest

from selfinstruct.redact import redact, strip_url_credentials, url_secrets

KEY = "sk-test-Zq8vLr3XyW5pN2mK7tB4"


# --- the redaction layer -------------------------------------------------------------

@pytest.mark.parametrize(
    "text, secrets, expected",
    [
        (f"Incorrect API key provided: {KEY}.", [KEY], "Incorrect API key provided: ***."),
        ("key mykey-123456 rejected", ["mykey-123456"], "key *** rejected"),
        ("unknown sk-abcdefghijklmnop here", [], "unknown *** here"),
        ("sent Authorization: Bearer abc.def-ghi_123", [], "sent Authorization: Bearer ***"),
        ("nothing secret", ["", None, "abc"], "nothing secret"),
        ("a long-secret-x and long-secret", ["long-secret", "long-secret-x"], "a *** and ***"),
        ("POST http://bob:hunter22@h:8/v1 failed", [], "POST http://h:8/v1 failed"),
        ("GET https://h/v1?api-key=s3cr3t&model=m", [], "GET https://h/v1?api-key=***&model=m"),
        ("sk-short", [], "sk-short"),
    ],
)
def test_redact(text: str, secrets: list, expected: str) -> None:
    assert redact(text, secrets) == expected


@pytest.mark.parametrize(
    "url, expected",
    [
        ("http://user:password@host:8000/v1", "http://host:8000/v1"),
        ("https://token@api.example.com/v1", "https://api.example.com/v1"),
        ("https://h/v1?api-key=abc&api_key=d&key=e&token=f&access_token=g&sig=h&x=1",
         "https://h/v1?api-key=***&api_key=***&key=***&token=***&access_token=***&sig=***&x=1"),
        ("https://h/openai/deployments/d?api-version=2024-02-01&subscription-key=zz",
         "https://h/openai/deployments/d?api-version=2024-02-01&subscription-key=***"),
        ("http://u:p@[::1]:9/v1?Signature=x", "http://[::1]:9/v1?Signature=***"),
        ("http://localhost:8000/v1", "http://localhost:8000/v1"),
        ("not a url", "not a url"),
    ],
)
def test_strip_url_credentials(url: str, expected: str) -> None:
    assert strip_url_credentials(url) == expected


def test_url_secrets() -> None:
    assert url_secrets("http://bob:pa%40ss@h/v1?api-key=k%2Fy&model=m") == ["k%2Fy", "k/y", "pa%40ss", "pa@ss"]
    assert url_secrets("http://h/v1") == []
