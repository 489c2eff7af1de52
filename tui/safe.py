"""Making text from outside (log messages, tenant names, Xero errors) safe to show.

Control characters would reach the terminal (ESC starts colour changes, clipboard writes,
screen clears), so each becomes a visible escape such as \\x1b; bidi overrides likewise.
"""

from __future__ import annotations

import re

# C0 except tab, DEL, C1, and the bidi embedding/override/isolate controls.
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


_UNSAFE_KEEP_NEWLINES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def visible(value: object, *, newlines: bool = False) -> str:
    """The text with every control character replaced by a visible escape.

    newlines=True keeps line feeds, for multi-line text areas (never for table cells).
    """
    text = "" if value is None else str(value)
    return (_UNSAFE_KEEP_NEWLINES if newlines else _UNSAFE).sub(
        lambda m: (
            f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}"
        ),
        text,
    )
