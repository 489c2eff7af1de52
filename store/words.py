"""Counted nouns and articles, said right: "1 error", "2 errors", "an inventory account".

One helper for every message the store, the command line and the console write, so no screen
says "1 errors" or "a inventory account".
"""

from __future__ import annotations

# Words whose article does not follow their first letter.
_AN_EXCEPTIONS = ("hour", "honest", "heir")  # "an hour": a vowel sound, not a vowel letter
_A_EXCEPTIONS = ("uni", "use", "usu", "one", "eu", "ure", "uk")  # "a unit", "a user", "a one-off"


def plural(count: int, noun: str, many: str | None = None) -> str:
    """'1 error', '2 errors', '1,204 rows'; `many` for irregular plurals ('1 entry', 'entries')."""
    word = noun if count == 1 else (many or _plural(noun))
    return f"{count:,} {word}"


def _plural(noun: str) -> str:
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and len(noun) > 1 and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def article(phrase: str) -> str:
    """The phrase with 'a' or 'an' before it: 'an inventory account', 'a sales account'."""
    word = phrase.strip().lower()
    if word.startswith(_AN_EXCEPTIONS):
        return f"an {phrase}"
    if word.startswith(_A_EXCEPTIONS):
        return f"a {phrase}"
    return f"{'an' if word[:1] in ('a', 'e', 'i', 'o', 'u') else 'a'} {phrase}"


def agree(count: int, one: str, many: str) -> str:
    """The verb that goes with a count: agree(1, 'is', 'are') -> 'is'."""
    return one if count == 1 else many
