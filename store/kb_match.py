"""Classifying many log messages fast, with exactly the answers of store.kb.Classifier.

The knowledge base is a list of regular expressions tried in order; trying fifty of them on
every message costs about 55 µs, which would make classification the slowest part of ingesting
a large file. Most patterns contain a word that any match must contain (`Account code '` holds
"code"): such a pattern is only tried on messages holding that word. A message is split into
lower-case ASCII words once, the index names the few patterns worth trying, and those (plus the
patterns without such a word) are tried in their knowledge-base order, so the first match wins
as before. Messages that are not ASCII skip the index (IGNORECASE matches some non-ASCII
letters, such as the Kelvin sign, to ASCII ones), and so does any pattern the parser below
cannot read: the index only ever saves work, it never changes an answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from store.kb import Classifier
from store.models import KnowledgeEntry

_WORDS = re.compile(r"[a-z]+")
_LETTERS = re.compile(r"[A-Za-z]+")


def _branches(pattern: str) -> list[list[str]]:
    """For each top-level alternative of pattern, its runs of plain characters (every match of
    that alternative contains each run); [] when the parser cannot read the pattern."""
    try:
        from re import _parser  # the parser behind re.compile (Python 3.11+)

        parsed = list(_parser.parse(pattern, re.IGNORECASE))
        literal, branch = _parser.LITERAL, _parser.BRANCH
    except Exception:  # another Python, or something the parser refuses: no index
        return []
    if len(parsed) == 1 and parsed[0][0] is branch:
        alternatives = [list(sub) for sub in parsed[0][1][1]]
    else:
        alternatives = [parsed]
    out = []
    for items in alternatives:
        runs, current = [], []
        for op, value in items:
            if op is literal:
                current.append(chr(value))
            else:
                runs.append("".join(current))
                current = []
        runs.append("".join(current))
        out.append([r for r in runs if r and r.isascii()])
    return out


def _whole_word(runs: list[str]) -> str | None:
    """The longest lower-case word that every match holds as a whole word, or None.

    Only words with a non-letter on both sides inside a run qualify: at the ends of a run the
    message may carry more letters ("code" in "Account code '" is whole, "Account" is not:
    "Subaccount code '" matches too).
    """
    best = None
    for run in runs:
        for found in _LETTERS.finditer(run):
            if found.start() == 0 or found.end() == len(run):
                continue
            word = found.group().lower()
            if best is None or len(word) > len(best):
                best = word
    return best


def prefilter(pattern: str) -> tuple[list[str], list[str]] | None:
    """(whole words, substrings): a message can only match pattern if it holds one of the
    words as a word or one of the substrings (lower-case); None when nothing can be said."""
    words, needles = [], []
    branches = _branches(pattern)
    for runs in branches:
        word = _whole_word(runs)
        if word is not None:
            words.append(word)
        elif runs:
            needles.append(max(runs, key=len).lower())
        else:
            return None
    return (words, needles) if branches else None


class IndexedClassifier(Classifier):
    """A Classifier that tries only the patterns whose required word is in the message."""

    def __init__(self, entries: Sequence[KnowledgeEntry]) -> None:
        super().__init__(list(entries))
        self._always: list[int] = []
        self._needles: list[tuple[int, tuple[str, ...]]] = []
        self._by_word: dict[str, list[int]] = {}
        for position, entry in enumerate(entries):
            found = prefilter(entry.pattern)
            if found is None:
                self._always.append(position)
                continue
            words, needles = found
            for word in set(words):
                self._by_word.setdefault(word, []).append(position)
            if needles:
                self._needles.append((position, tuple(needles)))

    def __call__(self, message: str) -> str | None:
        if not message.isascii():
            return super().__call__(message)
        lower = message.lower()
        candidates = set(self._always)
        for position, needles in self._needles:
            if any(needle in lower for needle in needles):
                candidates.add(position)
        index = self._by_word
        for word in set(_WORDS.findall(lower)):
            found = index.get(word)
            if found:
                candidates.update(found)
        patterns = self._patterns
        for position in sorted(candidates):
            pattern, kind = patterns[position]
            if pattern.search(message):
                return kind
        return None
