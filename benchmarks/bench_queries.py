"""Store queries against the best hand-written SQLite, on a 1M-row store and a 1k-row store.

    python benchmarks/bench_queries.py [--rebuild] [--orgs 5000 --log-rows 1000000]
                                       [--small-log-rows 1000] [--cache-dir benchmarks/.cache]

Builds (or reuses) two stores with the same organisations (same --orgs and seed, so the same
codes, names and states) and different log sizes, then prints, for every query the CLI and the
console run: the median time of the store function, the median time of the best raw SQL for the
same answer on a plain sqlite3 connection, their ratio, and how the store function grows from
the small store to the big one. Then the CLI end to end on both stores. Each budget from
DESIGN.md is marked OK or OVER. It prints figures; it never fails on them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from store.db import open_store
from store.generate import build_store
from store.logs import LogQuery, error_groups, page_log, resolve_since
from store.orgs import list_orgs

ROOT = Path(__file__).resolve().parent.parent

PAGE_RATIO = 2.0  # a first page (organisations, log) within 2x the best raw SQL
GROUPS_MS = 50.0  # error groups
FLAT_RATIO = 1.5  # a CLI query on the 1M-row store within 1.5x the same on the 1k-row store
BUILD_S = 30.0  # building the 5,000-org / 1M-row store, seconds

COMMON_WORD = "exported"  # most info rows ("Exported Sales Invoice ...")
RARE_WORD = "offline"  # only the "Organisation offline" errors
ORG_SEARCH = "harb"  # matches codes and names starting "Harbour"

# Whatever changes what a store holds: a cached store built from other code is rebuilt.
FINGERPRINT_FILES = (
    "store/generate.py",
    "store/generate_plan.py",
    "store/generate_log.py",
    "store/db.py",
    "store/sample.py",
    "store/sample_xero.py",
    "store/sample_yaml.py",
    "store/kb.py",
)

_LOG_COLUMNS = (
    "log.id, log.at, orgs.code, log.level, log.document, log.message, log.kind, log.correlation_id"
)


# --- timing ----------------------------------------------------------------------------------


def _once(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median_ms(*fns: Callable[[], Any], seconds: float = 0.4, min_runs: int = 5) -> list[float]:
    """Median milliseconds of each fn, called in turn (interleaved, so load hits all alike).

    One warm-up call each; then as many rounds as fit in about `seconds` (5 to 301).
    """
    warm = max(_once(fn) for fn in fns)
    rounds = int(min(301, max(min_runs, seconds / max(warm * len(fns), 1e-6))))
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(rounds):
        for fn, bucket in zip(fns, times, strict=True):
            bucket.append(_once(fn))
    return [statistics.median(t) * 1000 for t in times]


# --- stores ----------------------------------------------------------------------------------


def fingerprint() -> str:
    """A short hash of the code and data a store is built from."""
    digest = hashlib.sha256()
    paths = [ROOT / name for name in FINGERPRINT_FILES]
    for path in paths + sorted((ROOT / "sample_data").glob("*.yaml")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


@dataclass
class Store:
    """A benchmark store: where it is, how it was built, and the values queries need."""

    label: str
    path: Path
    log_rows: int
    build_seconds: float
    built_at: datetime
    reused: bool
    db: Any = None
    raw: sqlite3.Connection | None = None
    ids: dict[str, Any] = field(default_factory=dict)


def ensure_store(
    label: str, cache: Path, *, orgs: int, log_rows: int, seed: int, rebuild: bool, max_age: float
) -> Store:
    """Reuse the cached store for these parameters, or build it (timing the build)."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"store-o{orgs}-r{log_rows}-s{seed}-{fingerprint()}.db"
    info_path = path.with_suffix(".json")
    if not rebuild and path.exists() and info_path.exists():
        info = json.loads(info_path.read_text())
        built_at = datetime.fromisoformat(info["built_at"])
        age_h = (datetime.now(UTC) - built_at).total_seconds() / 3600
        # The log ends at build time; "errors in 24 h" windows drift empty as the store ages.
        if age_h <= max_age:
            return Store(label, path, log_rows, info["seconds"], built_at, reused=True)
        print(f"{label}: cached store is {age_h:.1f} h old (> {max_age} h), rebuilding")
    for stale in cache.glob(f"store-o{orgs}-r{log_rows}-s{seed}-*"):
        stale.unlink()
    print(f"{label}: building {orgs:,} organisations, {log_rows:,} log rows ...", flush=True)
    report = build_store(path, force=True, orgs=orgs, log_rows=log_rows, seed=seed)
    built_at = datetime.now(UTC)
    info_path.write_text(json.dumps({"seconds": report.seconds, "built_at": built_at.isoformat()}))
    return Store(label, path, log_rows, report.seconds, built_at, reused=False)


def open_both(store: Store, busy_code: str | None) -> str:
    """Open the store both ways and look up the ids the raw queries take as given."""
    store.db = open_store(store.path)
    store.raw = sqlite3.connect(store.path)
    raw = store.raw
    if busy_code is None:  # the organisation with most errors (in the big store)
        busy_code = raw.execute(
            "SELECT o.code FROM error_stats e JOIN orgs o ON o.id = e.org_id "
            "GROUP BY e.org_id ORDER BY sum(e.count) DESC, e.org_id LIMIT 1"
        ).fetchone()[0]
    max_id = raw.execute("SELECT max(id) FROM log").fetchone()[0] or 0
    store.ids = {
        "busy": busy_code,
        "busy_id": raw.execute("SELECT id FROM orgs WHERE code = ?", [busy_code]).fetchone()[0],
        "deep": max(1, max_id // 10),  # page 2 starting 90% of the way back
        "since_24h": resolve_since("24h"),
        "since_1h": resolve_since("1h"),
    }
    for word in (COMMON_WORD, RARE_WORD):
        store.ids[word] = raw.execute(
            "SELECT count(*) FROM log_fts WHERE log_fts MATCH ?", [f'"{word}"']
        ).fetchone()[0]
    return busy_code


# --- the queries -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One query: the store function, the best raw SQL for the same answer, and its budget."""

    name: str
    budget: str  # "page" (within 2x raw), "groups" (<= 50 ms), "" (figures only)
    store: Callable[[Store], Any]
    raw: Callable[[Store], Any]
    naive: Callable[[Store], Any] | None = None  # a worse raw form, for context
    cli: bool = False  # a query the CLI runs (flatness is a CLI budget)


def _sql(sql: str, *args: Callable[[Store], Any]) -> Callable[[Store], Any]:
    def run(s: Store) -> Any:
        return s.raw.execute(sql, [a(s) for a in args]).fetchall()

    return run


def _page(**kw: Any) -> Callable[[Store], Any]:
    before = kw.pop("before", None)
    org = kw.pop("org", False)
    since = kw.pop("since", None)

    def run(s: Store) -> Any:
        query = LogQuery(
            org=s.ids["busy"] if org else None,
            since=s.ids[since] if since else None,
            **kw,
        )
        return page_log(s.db, query, before_id=s.ids["deep"] if before else None)

    return run


def _fts(match: str, *, org: bool = False, before: bool = False) -> Callable[[Store], Any]:
    """Let FTS5 produce the newest 50 rowids itself, then fetch those rows."""
    inner = "SELECT rowid FROM log_fts WHERE log_fts MATCH ?" + (" AND rowid < ?" if before else "")
    sql = (
        f"SELECT {_LOG_COLUMNS} FROM log JOIN orgs ON orgs.id = log.org_id "
        f"WHERE log.id IN ({inner} ORDER BY rowid DESC LIMIT 50) ORDER BY log.id DESC"
    )

    def run(s: Store) -> Any:
        expr = f"org_id : {s.ids['busy_id']} AND ({match})" if org else match
        args = [expr, s.ids["deep"]] if before else [expr]
        return s.raw.execute(sql, args).fetchall()

    return run


def _walk(where: str, *args: Callable[[Store], Any]) -> Callable[[Store], Any]:
    """One index walked backwards from the newest row, stopping after 50."""
    return _sql(
        f"SELECT {_LOG_COLUMNS} FROM log JOIN orgs ON orgs.id = log.org_id "
        f"WHERE {where} ORDER BY log.id DESC LIMIT 50",
        *args,
    )


_ORG_LIST = """
SELECT o.code, o.name, o.region, i.state, i.tenant_name, i.last_export_at,
       coalesce(e.n, 0), coalesce(q.held, 0), coalesce(q.failed, 0)
FROM orgs o JOIN integrations i ON i.org_id = o.id
LEFT JOIN (SELECT org_id, count(*) AS n FROM log WHERE level = 'error' AND at >= ?
           GROUP BY org_id) e ON e.org_id = o.id
LEFT JOIN (SELECT org_id, sum(status = 'held') AS held, sum(status = 'failed') AS failed
           FROM queue WHERE status IN ('held', 'failed') GROUP BY org_id) q ON q.org_id = o.id
{where} ORDER BY o.code
"""
_SEARCH = "WHERE o.code LIKE ? OR o.name LIKE ? OR i.tenant_name LIKE ?"

# Error groups: the best raw form sums the per-day buckets in error_stats; the naive form
# aggregates the log itself. Both join the knowledge base for cause and fix, as the store does.
_GROUPS = """
SELECT g.*, kb.title, kb.cause, kb.fix FROM (
    SELECT kind, sum(n) AS n, count(DISTINCT org_id), min(first_at), max(last_at)
    FROM ({source}) GROUP BY kind) g
LEFT JOIN kb ON kb.kind = g.kind ORDER BY g.n DESC, g.kind
"""
_STATS = "SELECT kind, org_id, count AS n, first_at, last_at FROM error_stats"
_FROM_LOG = (
    "SELECT coalesce(kind, 'unknown') AS kind, org_id, 1 AS n, at AS first_at, at AS last_at "
    "FROM log WHERE level = 'error'"
)
_GROUPS_SINCE = _GROUPS.format(
    source=f"{_STATS} WHERE day > substr(?1, 1, 10) UNION ALL "
    f"{_FROM_LOG} AND at >= ?1 AND at < substr(?1, 1, 10) || 'T24'"
)


def _ids(key: str) -> Callable[[Store], Any]:
    return lambda s: s.ids[key]


def _const(value: Any) -> Callable[[Store], Any]:
    return lambda s: value


CASES: tuple[Case, ...] = (
    Case(
        "org list (all orgs)",
        "page",
        lambda s: list_orgs(s.db),
        _sql(_ORG_LIST.format(where=""), _ids("since_24h")),
        cli=True,
    ),
    Case(
        f"org list, search {ORG_SEARCH!r}",
        "page",
        lambda s: list_orgs(s.db, search=ORG_SEARCH),
        _sql(_ORG_LIST.format(where=_SEARCH), _ids("since_24h"), *[_const(f"%{ORG_SEARCH}%")] * 3),
        cli=True,
    ),
    Case(
        "one org's errors",
        "page",
        _page(org=True, level="error"),
        _walk("log.org_id = ? AND log.level = 'error'", _ids("busy_id")),
        cli=True,
    ),
    Case(
        "level=error, newest 50",
        "page",
        _page(level="error"),
        _walk("log.level = 'error'"),
        cli=True,
    ),
    Case(
        f"FTS common {COMMON_WORD!r}",
        "page",
        _page(search=COMMON_WORD),
        _fts(f'"{COMMON_WORD}"'),
        cli=True,
    ),
    Case(
        f"FTS rare {RARE_WORD!r}",
        "page",
        _page(search=RARE_WORD),
        _fts(f'"{RARE_WORD}"'),
        cli=True,
    ),
    Case(
        f"FTS {COMMON_WORD!r} + one org",
        "page",
        _page(search=COMMON_WORD, org=True),
        _fts(f'"{COMMON_WORD}"', org=True),
        cli=True,
    ),
    Case(
        "page 2 deep, all rows",
        "page",
        _page(before=True),
        _walk("log.id < ?", _ids("deep")),
    ),
    Case(
        "page 2 deep, level=error",
        "page",
        _page(level="error", before=True),
        _walk("log.level = 'error' AND log.id < ?", _ids("deep")),
    ),
    Case(
        f"page 2 deep, FTS {COMMON_WORD!r}",
        "page",
        _page(search=COMMON_WORD, before=True),
        _fts(f'"{COMMON_WORD}"', before=True),
    ),
    Case(
        "error groups, all",
        "groups",
        lambda s: error_groups(s.db),
        _sql(_GROUPS.format(source=_STATS)),
        _sql(_GROUPS.format(source=_FROM_LOG)),
        cli=True,
    ),
    Case(
        "error groups, since 24h",
        "groups",
        lambda s: error_groups(s.db, since=s.ids["since_24h"]),
        _sql(_GROUPS_SINCE, _ids("since_24h")),
        _sql(_GROUPS.format(source=f"{_FROM_LOG} AND at >= ?"), _ids("since_24h")),
        cli=True,
    ),
    Case(
        "error groups, one org",
        "groups",
        lambda s: error_groups(s.db, org=s.ids["busy"]),
        _sql(_GROUPS.format(source=f"{_STATS} WHERE org_id = ?"), _ids("busy_id")),
        _sql(_GROUPS.format(source=f"{_FROM_LOG} AND org_id = ?"), _ids("busy_id")),
        cli=True,
    ),
)

# Corners the budgets do not name but the console reaches: figures only.
EDGE_CASES: tuple[Case, ...] = (
    Case(
        "search '[/]' (LIKE fallback)",
        "",
        _page(search="[/]"),
        _walk("log.message LIKE ? ESCAPE '\\'", _const("%[/]%")),
    ),
    Case(
        "prefix 'inv*' (TUI typing)",
        "",
        _page(search="inv", prefix=True),
        _fts('"inv"*'),
    ),
    Case(
        "prefix 'invo*' (TUI typing)",
        "",
        _page(search="invo", prefix=True),
        _fts('"invo"*'),
    ),
    Case(
        f"FTS {RARE_WORD!r}, since 1h",
        "",
        _page(search=RARE_WORD, since="since_1h"),
        _sql(
            f"SELECT {_LOG_COLUMNS} FROM log JOIN orgs ON orgs.id = log.org_id WHERE log.id IN "
            "(SELECT rowid FROM log_fts WHERE log_fts MATCH ? AND rowid >= (SELECT id FROM log "
            "WHERE at >= ? ORDER BY at LIMIT 1) ORDER BY rowid DESC LIMIT 50) ORDER BY log.id DESC",
            _const(f'"{RARE_WORD}"'),
            _ids("since_1h"),
        ),
    ),
    Case(
        f"FTS {COMMON_WORD!r} + level=error",
        "",
        _page(search=COMMON_WORD, level="error"),
        _walk("log.level = 'error' AND log.message LIKE ?", _const(f"%{COMMON_WORD}%")),
    ),
)


@dataclass
class Result:
    case: Case
    big: tuple[float, float, float | None]  # store, raw, naive (ms)
    small: tuple[float, float, float | None]

    @property
    def ratio(self) -> float:
        return self.big[0] / self.big[1]

    @property
    def flat(self) -> float:
        return self.big[0] / self.small[0]


def run_case(case: Case, store: Store) -> tuple[float, float, float | None]:
    fns = [lambda: case.store(store), lambda: case.raw(store)]
    if case.naive:
        fns.append(lambda: case.naive(store))
    times = median_ms(*fns)
    return times[0], times[1], times[2] if case.naive else None


# --- the CLI ---------------------------------------------------------------------------------


def syncdesk_command() -> str:
    beside = Path(sys.executable).parent / "syncdesk"
    found = str(beside) if beside.exists() else shutil.which("syncdesk")
    if not found:
        sys.exit("The `syncdesk` console script is not installed next to this Python.")
    return found


def cli_commands(busy: str) -> list[list[str]]:
    return [
        ["--version"],  # interpreter start and imports, no store: the floor of every command
        ["orgs", "--json"],
        ["orgs", "--search", ORG_SEARCH, "--json"],
        ["log", "--level", "error", "--limit", "50", "--json"],
        # --limit 50: without it --json exports the whole filter (the table's default is 50).
        ["log", busy, "--level", "error", "--limit", "50", "--json"],
        ["log", "--search", COMMON_WORD, "--limit", "50", "--json"],
        ["log", "--search", RARE_WORD, "--limit", "50", "--json"],
        ["errors", "--json"],
        ["errors", "--since", "24h", "--json"],
    ]


def time_cli(exe: str, args: Sequence[str], stores: Sequence[Store], runs: int) -> list[float]:
    """Median wall-clock ms of the command on each store, runs interleaved across stores."""
    env = {k: v for k, v in os.environ.items() if k != "SYNCDESK_DB"}
    times: list[list[float]] = [[] for _ in stores]
    for attempt in range(runs + 1):  # the first round warms the OS page cache
        for store, bucket in zip(stores, times, strict=True):
            start = time.perf_counter()
            done = subprocess.run(
                [exe, "--db", str(store.path), *args], capture_output=True, env=env
            )
            elapsed = time.perf_counter() - start
            if done.returncode != 0:
                err = done.stderr.decode(errors="replace").strip()
                print(f"  ! {' '.join(args)} exited {done.returncode}: {err}")
            if attempt:
                bucket.append(elapsed)
    return [statistics.median(t) * 1000 for t in times]


# --- output ----------------------------------------------------------------------------------


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A plain text table: the first column left-aligned, the rest right-aligned."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(row: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()

    print(f"\n{title}\n")
    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print(line(row))


def ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if value < 1 else f"{value:.2f}" if value < 100 else f"{value:.0f}"


def x(value: float) -> str:
    return f"{value:.2f}x" if value < 10 else f"{value:.0f}x"


def verdict(ok: bool) -> str:
    return "OK" if ok else "OVER"


def case_verdict(r: Result) -> str:
    if r.case.budget == "page":
        return verdict(r.ratio <= PAGE_RATIO)
    if r.case.budget == "groups":
        return verdict(r.big[0] <= GROUPS_MS)
    return "-"


def report(
    labels: tuple[str, str],
    results: list[Result],
    edge: list[Result],
    cli: list[tuple[str, float, float]],
) -> None:
    b, s = labels
    print_table(
        f"Store functions vs the best raw SQL, median ms (budgets: page <= {PAGE_RATIO:g}x raw, "
        f"groups <= {GROUPS_MS:g} ms; flat: {b}/{s} <= {FLAT_RATIO:g}x for CLI queries)",
        ["query", f"{b} store", f"{b} raw", "ratio", "budget"]
        + [f"{s} store", f"{s} raw", "ratio", f"{b}/{s}", "flat", f"raw {b}/{s}"],
        [
            [r.case.name, ms(r.big[0]), ms(r.big[1]), x(r.ratio), case_verdict(r)]
            + [ms(r.small[0]), ms(r.small[1]), x(r.small[0] / r.small[1]), x(r.flat)]
            + [verdict(r.flat <= FLAT_RATIO) if r.case.cli else "-"]
            + [x(r.big[1] / r.small[1])]
            for r in results
        ],
    )
    print_table(
        "Error groups: the store, the best raw form (sum error_stats) and the naive GROUP BY "
        "over the log, median ms",
        ["query", f"{b} store", f"{b} stats", f"{b} naive", f"{s} store", f"{s} stats"]
        + [f"{s} naive"],
        [
            [r.case.name, *map(ms, r.big), *map(ms, r.small)]
            for r in results
            if r.case.naive is not None
        ],
    )
    print_table(
        "Edge cases (no budget of their own), median ms",
        ["query", f"{b} store", f"{b} raw", "ratio", f"{s} store", f"{s} raw", f"{b}/{s}"],
        [
            [r.case.name, ms(r.big[0]), ms(r.big[1]), x(r.ratio)]
            + [ms(r.small[0]), ms(r.small[1]), x(r.flat)]
            for r in edge
        ],
    )
    if cli:
        print_table(
            f"CLI end to end, median wall-clock ms of a subprocess (budget: {b}/{s} <= "
            f"{FLAT_RATIO:g}x)",
            ["syncdesk --db STORE ...", f"{b} store", f"{s} store", f"{b}/{s}", "budget"],
            [
                [cmd, ms(big), ms(small), x(big / small)]
                + ["-" if cmd == "--version" else verdict(big / small <= FLAT_RATIO)]
                for cmd, big, small in cli
            ],
        )


def summary(
    labels: tuple[str, str], big: Store, results: list[Result], cli: list[tuple[str, float, float]]
) -> None:
    """One line per budget, OK or OVER, then what is over."""
    b, s = labels
    pages = [r for r in results if r.case.budget == "page"]
    groups = [r for r in results if r.case.budget == "groups"]
    flat_cli = [(c, big_ms / small_ms) for c, big_ms, small_ms in cli if c != "--version"]
    flat_fn = [r for r in results if r.case.cli]
    when = "measured now" if not big.reused else f"cached from {big.built_at:%Y-%m-%d %H:%M} UTC"
    build_over = [] if big.build_seconds < BUILD_S else [f"{big.build_seconds:.1f} s"]
    checks = [
        (f"build {b} store < {BUILD_S:g} s", build_over, f"{big.build_seconds:.1f} s ({when})"),
        (
            f"pages <= {PAGE_RATIO:g}x raw",
            [f"{r.case.name} {x(r.ratio)}" for r in pages if r.ratio > PAGE_RATIO],
            len(pages),
        ),
        (
            f"error groups <= {GROUPS_MS:g} ms",
            [f"{r.case.name} {ms(r.big[0])} ms" for r in groups if r.big[0] > GROUPS_MS],
            len(groups),
        ),
        (
            f"CLI {b}/{s} <= {FLAT_RATIO:g}x",
            [f"{c} {x(f)}" for c, f in flat_cli if f > FLAT_RATIO],
            len(flat_cli) if cli else None,
        ),
        (
            f"store functions {b}/{s} <= {FLAT_RATIO:g}x (info)",
            [f"{r.case.name} {x(r.flat)}" for r in flat_fn if r.flat > FLAT_RATIO],
            len(flat_fn),
        ),
    ]
    print("\nBudgets\n")
    width = max(len(name) for name, _, _ in checks)
    for name, over, detail in checks:
        mark = verdict(not over)
        if detail is None:
            mark, detail = "-", "not run (--no-cli)"
        elif isinstance(detail, int):
            detail = f"{detail - len(over)} of {detail} within"
        print(f"  {name.ljust(width)}  {mark:4}  {detail}")
        for item in over:
            print(f"  {'':{width}}        over: {item}")


def size_label(n: int) -> str:
    """1000000 -> '1M', 1000 -> '1k', 20000 -> '20k'."""
    for size, unit in ((1_000_000, "M"), (1000, "k")):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return f"{n:,}"


# --- main ------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rebuild", action="store_true", help="Build both stores afresh.")
    parser.add_argument("--orgs", type=int, default=5000)
    parser.add_argument("--log-rows", type=int, default=1_000_000)
    parser.add_argument("--small-log-rows", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "benchmarks" / ".cache")
    parser.add_argument(
        "--max-age",
        type=float,
        default=6.0,
        help="Rebuild a cached store older than this many hours (its 24 h windows go stale).",
    )
    parser.add_argument("--cli-runs", type=int, default=5, help="Runs per CLI command.")
    parser.add_argument("--no-cli", action="store_true", help="Skip the CLI timings.")
    parser.add_argument("--json", type=Path, help="Also write every figure to this file.")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    common = {"orgs": args.orgs, "seed": args.seed, "max_age": args.max_age}
    rows = (args.log_rows, args.small_log_rows)
    labels = (size_label(rows[0]), size_label(rows[1]))
    big, small = (
        ensure_store(f"{label} store", args.cache_dir, log_rows=n, rebuild=args.rebuild, **common)
        for label, n in zip(labels, rows, strict=True)
    )
    busy = open_both(big, None)
    open_both(small, busy)

    print(
        f"\nsyncdesk query benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} CPUs, SQLite {sqlite3.sqlite_version}, Python {sys.version.split()[0]}"
    )
    for s in (big, small):
        how = "reused" if s.reused else "built"
        size = s.path.stat().st_size / 1e6
        print(
            f"  {s.label}: {args.orgs:,} orgs, {s.log_rows:,} log rows, {size:.0f} MB, {how} "
            f"(build {s.build_seconds:.1f} s at {s.built_at:%Y-%m-%d %H:%M} UTC)"
        )
    print(f"  busy organisation: {busy} (most errors); deep page: before_id = max(id) / 10")
    for word in (COMMON_WORD, RARE_WORD):
        print(
            f"  {word!r} is in {big.ids[word]:,} rows of the {big.label}, "
            f"{small.ids[word]:,} of the {small.label}"
        )

    results = [Result(c, run_case(c, big), run_case(c, small)) for c in CASES]
    edge = [Result(c, run_case(c, big), run_case(c, small)) for c in EDGE_CASES]
    cli: list[tuple[str, float, float]] = []
    if not args.no_cli:
        exe = syncdesk_command()
        for command in cli_commands(busy):
            b, s = time_cli(exe, command, [big, small], args.cli_runs)
            cli.append((" ".join(command), b, s))
    report(labels, results, edge, cli)
    summary(labels, big, results, cli)
    print(f"\n(benchmark took {time.perf_counter() - started:.0f} s)")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "build_seconds": big.build_seconds,
                    "stores": {label: n for label, n in zip(labels, rows, strict=True)},
                    "queries": {r.case.name: {"big": r.big, "small": r.small} for r in results},
                    "edge": {r.case.name: {"big": r.big, "small": r.small} for r in edge},
                    "cli": {c: {"big": b, "small": s} for c, b, s in cli},
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
