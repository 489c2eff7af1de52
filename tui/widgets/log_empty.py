"""Why a log filter shows nothing: which part of it matched no row, said with the key that
clears it. `org:green duplicate` with 0 rows says the word, not the organisation, found nothing.

The organisation is the scope: it is checked on its own, and every other part (words, kind,
level, time range) is checked on its own within it.
"""

from __future__ import annotations

from dataclasses import replace

import sqlite_utils

from store.logs import LogQuery, page_log


def _has_rows(db: sqlite_utils.Database, query: LogQuery) -> bool:
    return bool(page_log(db, query, limit=1).entries)


def why_empty(db: sqlite_utils.Database, query: LogQuery, fixed_org: str | None) -> str:
    """One sentence: which part of the filter matched no row, and how to clear the filter."""
    org = query.org
    scope = LogQuery(org=org, prefix=True)
    where = f" in {org}'s log" if org else ""
    clear = " c clears the filters." if not fixed_org or query != scope else ""
    if org and not _has_rows(db, scope):
        return f"Organisation {org} has no rows in the log.{clear}"
    parts = []
    if query.search:
        parts.append((f"“{query.search}”", replace(scope, search=query.search)))
    if query.kind:
        parts.append((f"kind {query.kind}", replace(scope, kind=query.kind)))
    if query.level != "all":
        parts.append((f"level {query.level}", replace(scope, level=query.level)))
    if query.since:
        parts.append((f"the time range since {query.since}", replace(scope, since=query.since)))
    if not parts:
        return f"The log is empty{where}."
    nothing = [label for label, alone in parts if not _has_rows(db, alone)]
    if nothing:
        said = " and ".join(nothing)
        return f"{said[0].upper()}{said[1:]} matched no row{where}.{clear}"
    return f"Each part matches rows{where}, but no row matches them all at once.{clear}"
