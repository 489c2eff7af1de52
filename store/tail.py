"""Reading a growing file line by line, as `tail -F` does: the lines there are now, then the
lines added since, across rotation (the name now points at a new file) and truncation (the
file was cut back, as logrotate's copytruncate does).

No store here: `store.ingest` decides what the lines mean. Lines come as (number, bytes), the
number 1-based within the file it was read from (it starts again at 1 in a new or truncated
file), without the line ending. A last line without its newline is held back while the file is
followed (its writer may be halfway through it) and given when the file is read to its end.
When the lines of a new file begin (after rotation or truncation), a marker comes first:
(NEW_FILE, b"rotated") or (NEW_FILE, b"truncated").
"""

from __future__ import annotations

import os
import select
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

Line = tuple[int, bytes]
CHUNK = 1 << 20
NEW_FILE = 0  # the line number of the marker before the lines of a new file


class FileTail:
    """One named file, followed across rotation and truncation."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: BinaryIO = open(path, "rb")  # noqa: SIM115 - held open while following
        self._identity = _identity(os.fstat(self._file.fileno()))
        self._buffer = b""
        self._line = 0

    def close(self) -> None:
        self._file.close()

    waits = False  # read() returns at once; the caller waits between polls

    def read(self, *, final: bool = False, wait: float = 0.0) -> list[Line]:
        """The complete lines added since the last call (with `final`, a last partial line too).

        Notices truncation (the file shrank below what was read: read again from the start)
        and rotation (the name now points at another file: finish the old one, then read the
        new one from its start).
        """
        lines = self._drain(final=final)
        if final:
            return lines
        size = os.fstat(self._file.fileno()).st_size
        if size < self._file.tell():
            self._file.seek(0)
            self._buffer, self._line = b"", 0
            return [*lines, (NEW_FILE, b"truncated"), *self._drain(final=False)]
        try:
            current = _identity(os.stat(self.path))
        except OSError:
            return lines  # rotated away and not yet recreated: keep the old file for now
        if current != self._identity:
            lines += self._drain(final=True)  # what the writer added before the rotation
            try:
                replacement = open(self.path, "rb")  # noqa: SIM115
            except OSError:
                return lines
            self._file.close()
            self._file = replacement
            self._identity = _identity(os.fstat(replacement.fileno()))
            self._buffer, self._line = b"", 0
            lines += [(NEW_FILE, b"rotated"), *self._drain(final=False)]
        return lines

    def _drain(self, *, final: bool) -> list[Line]:
        out: list[Line] = []
        while True:
            chunk = self._file.read(CHUNK)
            if not chunk:
                break
            out += self._split(chunk)
        if final and self._buffer:
            self._line += 1
            out.append((self._line, self._buffer.rstrip(b"\r")))
            self._buffer = b""
        return out

    def _split(self, chunk: bytes) -> list[Line]:
        parts = (self._buffer + chunk).split(b"\n")
        self._buffer = parts.pop()
        first = self._line
        self._line += len(parts)
        return [(first + i, p[:-1] if p.endswith(b"\r") else p) for i, p in enumerate(parts, 1)]


class StreamTail:
    """A pipe (standard input) read as it arrives, without blocking longer than `wait`."""

    waits = True  # read() waits for input itself

    def __init__(self, stream: BinaryIO) -> None:
        self._fd = stream.fileno()
        self._buffer = b""
        self._line = 0
        self.ended = False

    def close(self) -> None:
        """Nothing to close: standard input belongs to the process."""

    def read(self, *, final: bool = False, wait: float = 0.0) -> list[Line]:
        """The complete lines that arrived (waiting up to `wait` seconds for some)."""
        out: list[Line] = []
        while not self.ended:
            ready, _, _ = select.select([self._fd], [], [], wait)
            if not ready:
                break
            chunk = os.read(self._fd, CHUNK)
            if not chunk:
                self.ended = True
                break
            parts = (self._buffer + chunk).split(b"\n")
            self._buffer = parts.pop()
            for part in parts:
                self._line += 1
                out.append((self._line, part[:-1] if part.endswith(b"\r") else part))
            wait = 0.0
        if (final or self.ended) and self._buffer:
            self._line += 1
            out.append((self._line, self._buffer.rstrip(b"\r")))
            self._buffer = b""
        return out


def read_all(stream: BinaryIO) -> Iterator[Line]:
    """Every line of a file or stream read to its end."""
    number = 0
    rest = b""
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            break
        parts = (rest + chunk).split(b"\n")
        rest = parts.pop()
        for part in parts:
            number += 1
            yield number, part[:-1] if part.endswith(b"\r") else part
    if rest:
        yield number + 1, rest.rstrip(b"\r")


def _identity(status: os.stat_result) -> tuple[int, int]:
    return status.st_dev, status.st_ino
