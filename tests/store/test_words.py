"""Counted nouns and articles: "1 error", "an inventory account"."""

from __future__ import annotations

import pytest

from store.words import agree, article, plural


@pytest.mark.parametrize(
    ("count", "noun", "said"),
    [
        (0, "error", "0 errors"),
        (1, "error", "1 error"),
        (2, "problem", "2 problems"),
        (1, "restored mapping", "1 restored mapping"),
        (1204, "row", "1,204 rows"),
        (3, "entry", "3 entries"),
        (2, "day", "2 days"),
        (2, "box", "2 boxes"),
    ],
)
def test_plural(count: int, noun: str, said: str) -> None:
    assert plural(count, noun) == said


@pytest.mark.parametrize(
    ("phrase", "said"),
    [
        ("inventory account", "an inventory account"),
        ("sales account", "a sales account"),
        ("expense account", "an expense account"),
        ("unit", "a unit"),
        ("user", "a user"),
        ("hour", "an hour"),
        ("Xero organisation", "a Xero organisation"),
    ],
)
def test_article(phrase: str, said: str) -> None:
    assert article(phrase) == said


def test_agree() -> None:
    assert (agree(1, "is", "are"), agree(3, "is", "are")) == ("is", "are")
