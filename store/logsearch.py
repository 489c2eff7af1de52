"""Words to find in the connection log: as an FTS5 query, and as a test on one message.

FTS5 (the unicode61 tokenizer) splits a message into tokens: runs of letters and digits,
compared without case and without diacritics. A searched word is a phrase of its own tokens,
so identifiers are found through the index: `invalid_grant` is the phrase "invalid grant",
`INV-0042` the phrase "inv 0042", `429` the token 429.

While a person types, the last word is a prefix, but only from MIN_PREFIX characters: FTS5
answers a prefix by merging the doclists of every term that starts with it, and for one or two
letters that is most of the index (170 ms on 1M rows for 'e'); a shorter last word is searched
as a whole word. Even a longer prefix of a common word costs 40-80 ms ('inv', 'expo'), so the
log first tests the newest rows of the filter in Python (`matcher`, which follows the same
rules) and asks FTS5 only for what lies below them (store/logs.py).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

MIN_PREFIX = 3  # characters of the last word before it is searched as a prefix
_WORD = re.compile(r"\w", re.UNICODE)
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
_ASCII_TOKEN = re.compile(r"[a-z0-9]+")


def words_of(text: str) -> list[str]:
    """The searched words that FTS can look for (those with a letter or digit)."""
    return [w for w in text.split() if _WORD.search(w)]


def prefix_applies(text: str | None, prefix: bool) -> bool:
    """Whether the last word of text is searched as a prefix (typing, and long enough)."""
    words = words_of(text) if prefix and text else []
    return bool(words) and bool(tokens(words[-1])) and len(words[-1]) >= MIN_PREFIX


def fts_query(text: str, *, prefix: bool = False) -> str | None:
    """The user's words as an FTS5 query: every word must appear, each taken literally.

    With prefix, the last word is a prefix when it has MIN_PREFIX characters or more.
    Returns None when the text has no word characters (FTS cannot search for those).
    """
    words = words_of(text)
    if not words:
        return None
    terms = ['"' + w.replace('"', '""') + '"' for w in words]
    if prefix_applies(text, prefix):
        terms[-1] += "*"
    return " ".join(terms)


def tokens(text: str) -> list[str]:
    """text as unicode61 tokens: runs of letters and digits, lower case, no diacritics."""
    if text.isascii():
        return _ASCII_TOKEN.findall(text.lower())
    decomposed = unicodedata.normalize("NFD", text.lower())
    plain = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    return _TOKEN.findall(plain)


def matcher(text: str, *, prefix: bool = False) -> Callable[[str], bool]:
    """A test of one message that agrees with fts_query(text, prefix=prefix) on the message
    column: every word's tokens appear consecutively; the last one may be a prefix."""
    phrases = [tokens(w) for w in words_of(text)]
    phrases = [p for p in phrases if p]
    last_is_prefix = prefix_applies(text, prefix)
    if not phrases:  # FTS5 finds nothing for words without tokens ('_')
        return lambda message: False

    def found(message_tokens: list[str], phrase: list[str], open_end: bool) -> bool:
        n = len(phrase)
        for i in range(len(message_tokens) - n + 1):
            if message_tokens[i : i + n - 1] != phrase[:-1]:
                continue
            last = message_tokens[i + n - 1]
            if last == phrase[-1] or (open_end and last.startswith(phrase[-1])):
                return True
        return False

    # Every token but a prefix appears in the message's lower-case text, so a message without
    # one of them is refused before it is split into tokens (most are, most of the time).
    needles = [t for phrase in phrases for t in phrase if t.isascii()]

    def matches(message: str) -> bool:
        lowered = message.lower()
        if message.isascii() and not all(n in lowered for n in needles):
            return False
        have = tokens(message)
        return all(
            found(have, phrase, last_is_prefix and i == len(phrases) - 1)
            for i, phrase in enumerate(phrases)
        )

    return matches
