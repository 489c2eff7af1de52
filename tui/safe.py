"""Making text from outside (log messages, tenant names, Xero errors) safe to show.

The rule lives in the store layer (store/textsafe.py), so the command line, the packets and
the console escape alike; the console's modules import it from here. Text from Xero and the
store is read as people read it: a multi-line message shows as lines (`lines`), a one-line
place (a table cell, a title) shows a line break as ↵ (`one_line`); only real control
characters become `\\xNN` escapes.
"""

from __future__ import annotations

from store.textsafe import visible

__all__ = ["lines", "one_line", "visible"]

BREAK = " ↵ "


def _newlines(value: object) -> str:
    text = visible(value, newlines=True)
    return text.replace("\\x0d\n", "\n")  # a Windows line end is one line break


def lines(value: object) -> str:
    """Text for a multi-line area: line breaks kept, every other control character escaped."""
    return _newlines(value)


def one_line(value: object) -> str:
    """Text for one line (a table cell): each line break shown as ↵, controls escaped."""
    return _newlines(value).replace("\n", BREAK)
