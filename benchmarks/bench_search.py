"""Every query shape the console and the CLI can produce, against its best raw SQLite form.

    python benchmarks/bench_search.py STORE [--json FILE]

STORE is a built store (e.g. `syncdesk --db /tmp/1m.db init --orgs 5000 --log-rows 1000000`);
for a store built hours ago, set SYNCDESK_NOW to its newest row's time so that the "since 1h"
and "24h" shapes have rows.
For each shape it prints the median time of the store function (page_log, count_log,
error_groups, list_orgs on a connection from open_store), the median of the best hand-written
SQL for the same answer on a plain sqlite3 connection, their ratio, and the plan SQLite chose
for the store's query. Store and raw are timed interleaved (load hits both alike). The goal
(issue 17): every shape within 2x of raw or under 5 ms, no typed prefix over 50 ms, error
groups under 20 ms. It prints figures; it never fails on them.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import time
from collections.abc import Callable
from typing import Any

from store.db import open_store
from store.logs import LogQuery, error_groups, log_filter, page_log, resolve_since
from store.orgs import _LIST_SQL, list_orgs
from store.watch import count_log

COLS = (
    "log.id, log.at, orgs.code, log.level, log.document, log.message, log.kind, log.correlation_id"
)
FTS_PAGE = (
    f"SELECT {COLS} FROM log JOIN orgs ON orgs.id = log.org_id WHERE log.id IN "
    "(SELECT rowid FROM log_fts WHERE log_fts MATCH ? {bound} ORDER BY rowid DESC LIMIT ?) "
    "ORDER BY log.id DESC"
)


def median_ms(*fns: Callable[[], Any], seconds: float = 0.5) -> list[float]:
    """Median milliseconds of each fn, called in turn after one warm-up call each."""
    warm = []
    for fn in fns:
        start = time.perf_counter()
        fn()
        warm.append(time.perf_counter() - start)
    rounds = int(min(101, max(5, seconds / max(sum(warm), 1e-6))))
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            times[i].append((time.perf_counter() - start) * 1000)
    return [statistics.median(t) for t in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument(
        "--only", help="only the shapes whose name contains this text (e.g. 'error groups')"
    )
    opts = parser.parse_args()
    db = open_store(opts.store)
    raw = sqlite3.connect(opts.store)
    busy = raw.execute(
        "SELECT orgs.code, orgs.id FROM error_kinds JOIN orgs ON orgs.id = org_id "
        "GROUP BY org_id ORDER BY sum(count) DESC LIMIT 1"
    ).fetchone()
    code, oid = busy
    top = raw.execute("SELECT max(id) FROM log").fetchone()[0]
    since_24h = resolve_since("24h")
    since_1h = resolve_since("1h")
    first = "SELECT id FROM log INDEXED BY log_at WHERE at >= ? ORDER BY at, id LIMIT 1"
    low_24h = (raw.execute(first, [since_24h]).fetchone() or [top + 1])[0]
    low_1h = (raw.execute(first, [since_1h]).fetchone() or [top + 1])[0]
    deep = top // 10

    def rows(sql: str, *args: Any) -> Callable[[], Any]:
        return lambda: raw.execute(sql, args).fetchall()

    def page(limit: int = 50, before: int | None = None, **kw: Any) -> Callable[[], Any]:
        return lambda: page_log(db, LogQuery(**kw), limit=limit, before_id=before)

    def fts(match: str, limit: int = 50, bound: str = "", *args: Any) -> Callable[[], Any]:
        return rows(FTS_PAGE.format(bound=bound), match, *args, limit)

    def newest(where: str = "", *args: Any, index: str = "") -> Callable[[], Any]:
        """The best raw SQL for the newest 50 rows WHERE `where` (if any), through `index`."""
        clause = f" WHERE {where}" if where else ""
        return rows(
            f"SELECT {COLS} FROM log {index} JOIN orgs ON orgs.id = log.org_id{clause} "
            "ORDER BY log.id DESC LIMIT 50",
            *args,
        )

    shapes: list[tuple[str, Callable[[], Any], Callable[[], Any], LogQuery | None]] = [
        (
            "newest 50",
            page(),
            newest(),
            LogQuery(),
        ),
        (
            "level=error",
            page(level="error"),
            newest("level='error'"),
            LogQuery(level="error"),
        ),
        (
            "one org",
            page(org=code),
            newest("org_id=?", oid),
            LogQuery(org=code),
        ),
        (
            "one org, errors",
            page(org=code, level="error"),
            newest("org_id=? AND level='error'", oid),
            LogQuery(org=code, level="error"),
        ),
        (
            "kind rate_limited_minute",
            page(kind="rate_limited_minute"),
            newest("kind='rate_limited_minute'"),
            LogQuery(kind="rate_limited_minute"),
        ),
        (
            "kind + one org",
            page(org=code, kind="rate_limited_minute"),
            newest("org_id=? AND kind='rate_limited_minute'", oid, index="INDEXED BY log_org"),
            LogQuery(org=code, kind="rate_limited_minute"),
        ),
        (
            "kind + errors + 24h",
            page(kind="rate_limited_minute", level="error", since=since_24h),
            newest(
                "kind='rate_limited_minute' AND level='error' AND log.id >= ?",
                low_24h,
                index="INDEXED BY log_kind",
            ),
            LogQuery(kind="rate_limited_minute", level="error", since=since_24h),
        ),
        (
            "since 1h",
            page(since=since_1h),
            newest("log.id >= ?", low_1h),
            LogQuery(since=since_1h),
        ),
        (
            "deep page (90% back)",
            page(before=deep),
            newest("log.id < ?", deep),
            None,
        ),
        ("word 'exported'", page(search="exported"), fts('message : "exported"'), None),
        ("word 'offline'", page(search="offline"), fts('message : "offline"'), None),
        (
            "'exported' + errors (none)",
            page(search="exported", level="error"),
            fts('message : "exported" AND level : error'),
            LogQuery(search="exported", level="error"),
        ),
        (
            "'synced' + errors (none)",
            page(search="synced", level="error"),
            fts('message : "synced" AND level : error'),
            None,
        ),
        (
            "'xero' + one org + errors",
            page(search="xero", org=code, level="error"),
            fts(f'message : "xero" AND org_id : {oid} AND level : error'),
            LogQuery(search="xero", org=code, level="error"),
        ),
        (
            "'xero' + kind + one org",
            page(search="xero", org=code, kind="rate_limited_minute"),
            rows(
                f"SELECT {COLS} FROM log_fts CROSS JOIN log ON log.id = log_fts.rowid "
                "JOIN orgs ON orgs.id = log.org_id WHERE log_fts MATCH ? AND "
                "log.kind='rate_limited_minute' ORDER BY log_fts.rowid DESC LIMIT 50",
                f'message : "xero" AND org_id : {oid}',
            ),
            LogQuery(search="xero", org=code, kind="rate_limited_minute"),
        ),
        (
            "'offline' since 1h",
            page(search="offline", since=since_1h),
            fts('message : "offline"', 50, "AND rowid >= ?", low_1h),
            None,
        ),
        (
            "'exported' deep page",
            page(search="exported", before=deep),
            fts('message : "exported"', 50, "AND rowid < ?", deep),
            None,
        ),
        (
            "id 'invalid_grant'",
            page(search="invalid_grant"),
            fts('message : "invalid_grant"'),
            None,
        ),
        ("id '429'", page(search="429"), fts('message : "429"'), None),
        ("id 'SI-00012345'", page(search="SI-00012345"), fts('message : "SI-00012345"'), None),
        (
            "punctuation '[/]' (LIKE)",
            page(search="[/]"),
            newest("message LIKE '%[/]%'"),
            LogQuery(search="[/]"),
        ),
    ]
    for prefix in ("e", "in", "inv", "invo", "expo", "exported", "xero api req", "synced cu"):
        shapes.append(
            (
                f"typed {prefix!r} (200 rows)",
                page(200, search=prefix, prefix=True),
                fts(
                    f'message : ("{prefix}"*)' if len(prefix) >= 3 else f'message : "{prefix}"', 200
                ),
                None,
            )
        )
    counts = [
        ("count 'exported'", LogQuery(search="exported"), 'message : "exported"', None),
        ("count 'exported', cap 10k", LogQuery(search="exported"), 'message : "exported"', 10_000),
        (
            "count 'offline' + errors",
            LogQuery(search="offline", level="error"),
            'message : "offline" AND level : error',
            None,
        ),
    ]
    for name, query, match, cap in counts:
        inner = "SELECT 1 FROM log_fts WHERE log_fts MATCH ?" + (f" LIMIT {cap}" if cap else "")
        shapes.append(
            (
                name,
                lambda q=query, c=cap: count_log(db, q, cap=c),
                rows(f"SELECT count(*) FROM ({inner})", match),
                query,
            )
        )
    shapes.append(
        (
            "count level=info, cap 10k",
            lambda: count_log(db, LogQuery(level="info"), cap=10_000),
            rows("SELECT count(*) FROM (SELECT 1 FROM log WHERE level='info' LIMIT 10000)"),
            None,
        )
    )
    groups_raw = (
        "SELECT kind, sum(count), count(DISTINCT org_id), min(first_at), max(last_at) "
        "FROM error_kinds {where} GROUP BY kind"
    )
    shapes += [
        (
            "error groups, all",
            lambda: error_groups(db),
            rows("SELECT kind, count, orgs, first_at, last_at FROM error_totals"),
            None,
        ),
        (
            "error groups, 24h",
            lambda: error_groups(db, since=since_24h),
            # The ten-minute buckets after the first slot, that slot's rows and organisations
            # (without first/last seen and the knowledge base's words).
            rows(
                "SELECT kind, sum(c), sum(o) FROM (SELECT kind, count AS c, orgs AS o "
                "FROM error_slots WHERE kind IN (SELECT kind FROM error_totals) AND slot > ? "
                "UNION ALL SELECT coalesce(kind, 'unknown'), 1, 0 FROM log WHERE level = 'error' "
                "AND at >= ? AND at < ? UNION ALL SELECT kind, 0, 1 FROM error_kinds "
                "WHERE last_at >= ? AND last_at < ?) GROUP BY kind",
                since_24h[:15],
                since_24h,
                since_24h[:15] + "\x7f",  # the end of the first slot
                since_24h,
                since_24h[:15] + "\x7f",
            ),
            None,
        ),
        (
            "error groups, one org",
            lambda: error_groups(db, org=code),
            rows(groups_raw.format(where="WHERE org_id = ?"), oid),
            None,
        ),
        (
            "org list (dashboard)",
            lambda: list_orgs(db),
            lambda: (
                raw.execute(
                    _LIST_SQL, {"since": since_24h, "state": None, "pattern": None}
                ).fetchall(),
                raw.execute(
                    "SELECT org_id, day, sum(count) FROM error_stats WHERE day >= ? "
                    "GROUP BY org_id, day",
                    [resolve_since("7d")[:10]],
                ).fetchall(),
            ),
            None,
        ),
    ]
    load = open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg") else []
    print(f"store {opts.store}: {top:,} rows; busy org {code}; load {' '.join(load)}")
    print(f"{'shape':34} {'store ms':>9} {'raw ms':>8} {'ratio':>6}  verdict  plan")
    figures = []
    if opts.only:
        shapes = [shape for shape in shapes if opts.only in shape[0]]
    for name, store_fn, raw_fn, query in shapes:
        store_ms, raw_ms = median_ms(store_fn, raw_fn)
        ratio = store_ms / raw_ms if raw_ms else float("inf")
        limit_ms = 50.0 if name.startswith("typed") else 20.0 if "groups" in name else None
        ok = (store_ms <= limit_ms) if limit_ms else (ratio <= 2.0 or store_ms < 5.0)
        plan = ""
        if query is not None:
            found = log_filter(db, query)
            if found is not None:
                sql, args = found.select("log.id", limit=50)
                plan = " | ".join(
                    r[3] for r in raw.execute("EXPLAIN QUERY PLAN " + sql, args).fetchall()
                )
        print(
            f"{name:34} {store_ms:9.3f} {raw_ms:8.3f} {ratio:5.2f}x  "
            f"{'OK' if ok else 'OVER':7}  {plan[:90]}"
        )
        figures.append(
            {"shape": name, "store_ms": store_ms, "raw_ms": raw_ms, "ok": ok, "plan": plan}
        )
    if opts.json:
        with open(opts.json, "w") as out:
            json.dump({"load": load, "figures": figures}, out, indent=1)


if __name__ == "__main__":
    main()
