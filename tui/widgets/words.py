"""Words the console shares: counted nouns and articles (store/words.py, one rule for the CLI
and the console) and the last line of every dialog, which says which keys confirm and cancel."""

from __future__ import annotations

from store.words import agree, article, plural

__all__ = ["agree", "article", "key_hint", "plural"]


def key_hint(*keys: str, close: str | None = None) -> str:
    """A dialog's last line: 'enter confirms · escape cancels'; `close` for one that only
    closes ('escape closes')."""
    parts = list(keys) + ([f"{close} closes"] if close else [])
    return " · ".join(parts)
