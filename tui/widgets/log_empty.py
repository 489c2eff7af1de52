"""Why a log filter shows nothing: which part of it matched no row, said with the key that
clears it. `org:green duplicate` with 0 rows says the word, not the organisation, found nothing.

The organisation is the scope: it is checked on its own, and every other part (words, kind,
level, time range) is checked on its own within it (store.logs.filter_misses).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from store.logs import LogQuery, filter_misses

if TYPE_CHECKING:
    import sqlite_utils


def why_empty(db: sqlite_utils.Database, query: LogQuery, fixed_org: str | None) -> str:
    """One sentence: which part of the filter matched no row, and how to clear the filter."""
    org = query.org
    where = f" in {org}'s log" if org else ""
    clear = (
        " c clears the filters." if not fixed_org or query != LogQuery(org=org, prefix=True) else ""
    )
    misses = filter_misses(db, query)
    if misses is None:
        return f"Organisation {org} has no rows in the log.{clear}"
    parts, nothing = misses
    if not parts:
        return f"The log is empty{where}."
    if nothing:
        said = " and ".join(nothing)
        return f"{said[0].upper()}{said[1:]} matched no row{where}.{clear}"
    return f"Each part matches rows{where}, but no row matches them all at once.{clear}"
