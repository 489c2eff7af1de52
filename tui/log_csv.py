"""The connection log as CSV: the one writer behind `syncdesk log --csv` and the console's
export (x), so both give the same columns and the same escaping.

No Textual here: the command line imports it without loading the console.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import TextIO

from store.models_log import LogEntry
from store.textsafe import csv_cells

CSV_HEADER = ("at", "org", "level", "document", "message", "kind", "correlation_id")


def csv_row(entry: LogEntry) -> list[str]:
    """A log row's cells, control characters made visible (a spreadsheet is a terminal too) and
    formulas neutralised (a cell starting with = + - @, tab or CR gets a leading ')."""
    return csv_cells(
        (
            entry.at,
            entry.org,
            entry.level,
            entry.document,
            entry.message,
            entry.kind,
            entry.correlation_id,
        )
    )


class LogCsvWriter:
    """Writes the header row at once, then rows as they come: a page, or a whole stream."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._writer = csv.writer(out, lineterminator="\n")
        self._writer.writerow(CSV_HEADER)
        self.written = 0

    def write_text(self, chunks: Iterable[str]) -> None:
        """CSV lines already written as text (store.log_export.stream_log_csv), as they come."""
        write = self._out.write
        for chunk in chunks:
            write(chunk)
            self.written += chunk.count("\n")

    def write(self, entries: Iterable[LogEntry]) -> None:
        """Write rows as they come (a stream of any length: memory stays one row)."""
        writerow = self._writer.writerow
        for entry in entries:
            writerow(csv_row(entry))
            self.written += 1
