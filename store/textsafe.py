"""The one rule for showing text from outside (log messages, names, settings, Xero's errors).

Text from customers and from Xero may hold characters a terminal, a spreadsheet or an editor
acts on instead of showing: C0 controls (ESC starts colour changes, clipboard writes via OSC
52, screen clears), DEL, C1 controls (U+009B is a one-byte CSI), bidi embeddings, overrides
and isolates (U+202A-202E, U+2066-2069: text that reads differently from what it is), and
zero-width or format characters (U+200B-200F, U+2028/2029, U+2060-206F, U+FEFF, U+00AD, tag
characters) that hide or reorder text. Every output uses this module:

- `visible` for terminals and Markdown: each such character becomes a visible escape (\\x1b,
  \\u202e); tab stays.
- `csv_cell` for CSV: visible, and a cell a spreadsheet would run as a formula (starting with
  = + - @, a tab or a carriage return) starts with ' instead.
- `dumps` for JSON: json.dumps keeps non-ASCII letters readable but escapes every such
  character as \\uXXXX (ensure_ascii=False alone leaves C1, bidi and zero-width raw).
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

# C0 but tab and line feed, DEL, C1, soft hyphen, Arabic letter mark, Mongolian vowel
# separator, zero-width and directional marks, line/paragraph separators, bidi embeddings and
# overrides, word joiner to nominal digit shapes (bidi isolates among them), BOM, interlinear
# annotation, tag characters, and lone surrogates (text decoded with surrogateescape).
_FORMAT = (
    "\x7f-\x9f\xad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff"
    "\ufff9-\ufffb\U000e0000-\U000e007f\ud800-\udfff"
)
_UNSAFE = re.compile(f"[\x00-\x08\x0a-\x1f{_FORMAT}]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# The patterns only some outputs use are compiled on first use (~0.5 ms each at start-up).
@cache
def _unsafe_keep_newlines() -> re.Pattern[str]:
    return re.compile(f"[\x00-\x08\x0b-\x1f{_FORMAT}]")


@cache
def _json_unsafe() -> re.Pattern[str]:
    """What json.dumps(ensure_ascii=False) leaves raw (it escapes C0 itself)."""
    return re.compile(f"[{_FORMAT}]")


@cache
def _formula_cell() -> re.Pattern[str]:
    return re.compile("^[=+\\-@\t\r]", re.MULTILINE)  # a cell so starting, in a joined row


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def text_of(value: Any) -> Any:
    """Text stored as a BLOB, decoded (invalid UTF-8 as \\xNN); any other value as it is."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "backslashreplace")
    return value


def visible(value: object, *, newlines: bool = False) -> str:
    """The text with every control, bidi and zero-width character replaced by a visible escape.

    newlines=True keeps line feeds, for multi-line text areas (never for table cells). Text
    stored as a BLOB is decoded first.
    """
    text = "" if value is None else str(text_of(value))
    return (_unsafe_keep_newlines() if newlines else _UNSAFE).sub(_escape, text)


def csv_cell(value: object) -> str:
    """A CSV cell: visible, and never read as a formula by a spreadsheet (a leading ')."""
    raw = "" if value is None else str(text_of(value))
    text = visible(raw)
    return "'" + text if raw.startswith(_FORMULA_START) else text


def csv_cells(values: tuple[object, ...] | list[object]) -> list[str]:
    """csv_cell of each value (None as ""). A row of plain text with nothing to escape (nearly
    every log row) is checked with three scans of the joined row instead of seven calls: a
    million-row export spent most of its time here."""
    texts = [v or "" for v in values]
    try:
        joined = "\n".join(texts)  # type: ignore[arg-type]
    except TypeError:  # a BLOB or a number: cell by cell
        return [csv_cell(v or "") for v in values]
    if (
        joined.count("\n") == len(texts) - 1  # no line feed inside a cell
        and not _unsafe_keep_newlines().search(joined)
        and not _formula_cell().search(joined)
    ):
        return texts  # type: ignore[return-value]
    return [csv_cell(v or "") for v in values]


def _json_escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # outside the BMP: JSON spells it as a surrogate pair
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def _json_default(value: Any) -> Any:
    decoded = text_of(value)  # text stored as a BLOB
    if decoded is value:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
    return decoded


def escape_json(text: str) -> str:
    """JSON text with what json.dumps(ensure_ascii=False) leaves raw escaped (as dumps does)."""
    return _json_unsafe().sub(_json_escape, text)


def dumps(value: Any, **options: Any) -> str:
    """json.dumps that keeps letters readable (ensure_ascii=False) and escapes the rest; text
    stored as a BLOB is written as text."""
    import json  # only the commands that print JSON need it

    text = json.dumps(value, ensure_ascii=False, default=_json_default, **options)
    return _json_unsafe().sub(_json_escape, text)
