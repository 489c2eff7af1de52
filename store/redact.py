"""Secrets out of everything syncdesk prints, logs or packs.

`redact(text)` replaces with [redacted]:

- URL credentials: `https://user:pass@host` becomes `https://[redacted]@host`;
- the value of an Authorization header, and Bearer / Basic credentials, as Xero's error bodies
  sometimes echo the request (`Authorization: Bearer eyJ…`);
- token and secret fields: `access_token=…`, `"refresh_token": "…"`, `client_secret`,
  `id_token`, `password`;
- every secret this process has handled (`remember`: the client secret, each token sent or
  received) and any the caller names (an organisation's stored tokens).

Xero errors are redacted where they are made (store/errors.py), log rows where they are written
(store/logs.py `record`), packets as they are written, and the command line's error line.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from functools import cache

REDACTED = "[redacted]"
_MIN_SECRET = 8  # shorter values would redact ordinary words

_known: tuple[str, ...] = ()  # longest first, so a secret inside another goes with it
_lock = threading.Lock()


@cache
def _patterns() -> tuple[re.Pattern[str], ...]:
    """URL credentials, Authorization values, Bearer/Basic credentials, secret fields:
    compiled on first use, so a command that redacts nothing (`syncdesk log`) does not pay for
    them at start-up (issue 17)."""
    return (
        re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^\s/?#@]+@"),
        re.compile(
            r"(?i)(\bauthorization[\"']?\s*[:=]\s*[\"']?\s*"
            r"(?:(?:bearer|basic|digest|token|negotiate)\s+)?)[^\s\"',;}\]]+"
        ),
        # A credential after Bearer/Basic has a digit, dot, slash, plus, dash or = (a word not).
        re.compile(r"(?i)\b(bearer|basic)(\s+)(?=[^\s\"',;]*[0-9._~+/=\-])[^\s\"',;}\]]{8,}"),
        re.compile(
            r"(?i)([\"']?\b(?:access_token|refresh_token|id_token|client_secret|password|passwd)"
            r"\b[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,;}\]]{8,}"  # 8: _MIN_SECRET
        ),
    )


def remember(*secrets: str | None) -> None:
    """Add secrets this process handles (tokens, the client secret) to what `redact` hides."""
    global _known
    fresh = {s for s in secrets if isinstance(s, str) and len(s) >= _MIN_SECRET}
    if not fresh.issubset(_known):
        with _lock:
            _known = tuple(sorted({*_known, *fresh}, key=len, reverse=True))


def redact(text: str, also: Iterable[str | None] = ()) -> str:
    """The text without credentials, tokens or secrets (each becomes [redacted])."""
    if not text:
        return text
    extra = sorted((s for s in also if s and len(s) >= _MIN_SECRET), key=len, reverse=True)
    for secret in (*extra, *_known):
        if secret in text:
            text = text.replace(secret, REDACTED)
    url_credentials, authorization, scheme, field = _patterns()
    text = url_credentials.sub(rf"\1{REDACTED}@", text)
    text = authorization.sub(rf"\1{REDACTED}", text)
    text = scheme.sub(rf"\1\2{REDACTED}", text)
    return field.sub(rf"\1{REDACTED}", text)
