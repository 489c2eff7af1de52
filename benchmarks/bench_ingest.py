"""`syncdesk ingest` against the fastest raw SQLite form of the same work.

    python benchmarks/bench_ingest.py          # 300,000 rows into a 5,000-org, 1M-row store
    python benchmarks/bench_ingest.py --log-rows 100000 --rows 50000   # a quicker run

Builds (or reuses, from benchmarks/.cache/) a generated store (`init --orgs 5000 --log-rows
1000000`), writes a JSON Lines file of --rows connection-log rows newer than the store's log (95 %
routine exports, 5 % errors in Xero's words, each with an id), and then, on fresh copies of the
store, alternately:

- ingest: `store.ingest.ingest_file` on the file, as `syncdesk ingest FILE` runs it: read, parse,
  check, classify, sort, skip duplicates, write in batches of 5,000 with their keys;
- raw: the same rows already parsed and classified, written with one `executemany` into `log`
  and one into `ingest_keys` per batch of 5,000 in a transaction each, on a plain sqlite3
  connection with the store's settings (WAL, synchronous NORMAL). The log's triggers keep the
  full-text index and the error groups current in both, so the two do the same SQLite work.

It prints rows/s for both, their ratio (the budget is 2x) and where ingest spends its time
(reading and checking vs writing). Figures are medians of --rounds rounds. It never fails on them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import sqlite3
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from store import clock  # noqa: E402
from store.db import open_store  # noqa: E402
from store.generate import build_store  # noqa: E402
from store.generate_log import INFO_TEMPLATES  # noqa: E402
from store.ingest import BATCH, Ingester, ingest_file  # noqa: E402
from store.kb import Classifier, knowledge  # noqa: E402
from store.tail import read_all  # noqa: E402
from store.timeparse import iso, parse  # noqa: E402

RATIO_BUDGET = 2.0


def ensure_store(cache: Path, orgs: int, log_rows: int, seed: int) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"ingest-base-o{orgs}-r{log_rows}-s{seed}.db"
    if not path.exists():
        print(f"building a store with {orgs:,} organisations and {log_rows:,} log rows ...")
        started = time.perf_counter()
        build_store(path, orgs=orgs, log_rows=log_rows, seed=seed)
        print(f"  built in {time.perf_counter() - started:.1f} s")
    return path


def write_input(store: Path, target: Path, rows: int, seed: int) -> str:
    """The rows to ingest, newer than the store's log; returns the time the last one has."""
    db = open_store(store)
    codes = [r[0] for r in db.execute("SELECT code FROM orgs")]
    errors = [e.example for e in knowledge(db) if e.level == "error"]
    newest = parse(db.execute("SELECT at FROM log ORDER BY id DESC LIMIT 1").fetchone()[0])
    db.conn.close()
    rng = random.Random(seed)
    templates = [t for _, t in INFO_TEMPLATES]
    span = 6 * 3600  # the rows spread over six hours after the store's newest row
    stamps = sorted(rng.uniform(1, span) for _ in range(rows))
    with target.open("w", encoding="utf-8") as out:
        for i, offset in enumerate(stamps):
            error = rng.random() < 0.05
            if error:
                message = rng.choice(errors)
            else:
                message = rng.choice(templates)
                for name, value in (
                    ("{SI}", f"SI-{i:08d}"),
                    ("{PO}", f"PO-{i:08d}"),
                    ("{SC}", f"SC-{i:08d}"),
                    ("{SO}", f"SO-{i:08d}"),
                    ("{SA}", f"SA-{i:08d}"),
                    ("{SR}", f"SR-{i:08d}"),
                    ("{CUST}", f"CUST{i % 97:03d}"),
                    ("{SUPP}", "SUP-BEANCO"),
                    ("{uuid}", f"{rng.getrandbits(128):032x}"),
                    ("{n}", str(rng.randint(5, 59))),
                ):
                    message = message.replace(name, value)
            row = {
                "id": i + 1,
                "at": iso(newest + timedelta(seconds=offset)),
                "org": rng.choice(codes),
                "level": "error" if error else "info",
                "document": None,
                "message": message,
                "correlation_id": f"{rng.getrandbits(64):016x}" if error else None,
            }
            out.write(json.dumps(row) + "\n")
    return iso(newest + timedelta(seconds=span))


def fresh_copy(base: Path, work: Path) -> Path:
    target = work / "copy.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(target) + suffix).unlink(missing_ok=True)
    shutil.copyfile(base, target)
    return target


def run_ingest(store: Path, source: Path) -> tuple[float, int]:
    db = open_store(store)
    started = time.perf_counter()
    report, _ = ingest_file(db, source, source="bench", fmt="jsonl")
    seconds = time.perf_counter() - started
    db.conn.close()
    return seconds, report.added


def time_checking(store: Path, source: Path) -> float:
    """Reading, parsing, checking and classifying alone (no writing)."""
    db = open_store(store)
    ingester = Ingester(db, source="bench", fmt="jsonl", name=source.name)
    started = time.perf_counter()
    with source.open("rb") as stream:
        ingester.feed(read_all(stream))
    ingester.finish()
    seconds = time.perf_counter() - started
    db.conn.close()
    return seconds


def prepared_rows(store: Path, source: Path) -> list[tuple]:
    """The file's rows as the raw form gets them: parsed, org ids resolved, classified."""
    db = open_store(store)
    orgs = dict(db.execute("SELECT code, id FROM orgs").fetchall())
    classify = Classifier(knowledge(db))
    db.conn.close()
    rows = []
    with source.open(encoding="utf-8") as lines:
        for line in lines:
            r = json.loads(line)
            kind = classify.classify(r["message"], r["level"])
            rows.append(
                (
                    r["at"],
                    orgs[r["org"]],
                    r["level"],
                    r["document"],
                    r["message"],
                    kind,
                    r["correlation_id"],
                    str(r["id"]),
                )
            )
    return rows


def run_raw(store: Path, rows: list[tuple]) -> float:
    conn = sqlite3.connect(store, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 5000")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA journal_mode = WAL")
    started = time.perf_counter()
    for start in range(0, len(rows), BATCH):
        chunk = rows[start : start + BATCH]
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO log(at, org_id, level, document, message, kind, correlation_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [r[:7] for r in chunk],
        )
        conn.executemany(
            "INSERT INTO ingest_keys(source, key) VALUES ('bench', ?)", [(r[7],) for r in chunk]
        )
        conn.execute("COMMIT")
    seconds = time.perf_counter() - started
    conn.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orgs", type=int, default=5000)
    parser.add_argument("--log-rows", type=int, default=1_000_000)
    parser.add_argument("--rows", type=int, default=300_000, help="rows to ingest")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "benchmarks" / ".cache")
    args = parser.parse_args()

    base = ensure_store(args.cache_dir, args.orgs, args.log_rows, args.seed)
    work = args.cache_dir / "ingest-work"
    work.mkdir(exist_ok=True)
    source = work / f"rows-{args.rows}.jsonl"
    last = write_input(base, source, args.rows, args.seed)
    clock.freeze(parse(last))  # "now" just after the last row: none of them is in the future
    rows = prepared_rows(base, source)

    load = os.getloadavg()
    print(
        f"{args.rows:,} rows into a store of {args.orgs:,} organisations and {args.log_rows:,} "
        f"log rows; {os.cpu_count()} cores, load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )
    ingest_times, raw_times, check_times = [], [], []
    for round_ in range(args.rounds):
        seconds, added = run_ingest(fresh_copy(base, work), source)
        assert added == args.rows, f"ingest added {added} of {args.rows}"
        ingest_times.append(seconds)
        raw_times.append(run_raw(fresh_copy(base, work), rows))
        check_times.append(time_checking(base, source))
        print(
            f"  round {round_ + 1}: ingest {ingest_times[-1]:.2f} s, raw {raw_times[-1]:.2f} s, "
            f"reading+checking {check_times[-1]:.2f} s"
        )
    ingest_s, raw_s = statistics.median(ingest_times), statistics.median(raw_times)
    check_s = statistics.median(check_times)
    ratio = ingest_s / raw_s
    print()
    print(f"{'form':<34}{'seconds':>9}{'rows/s':>11}")
    print(f"{'ingest (syncdesk ingest FILE)':<34}{ingest_s:>9.2f}{args.rows / ingest_s:>11,.0f}")
    print(f"{'raw executemany per batch':<34}{raw_s:>9.2f}{args.rows / raw_s:>11,.0f}")
    print(f"{'  of ingest: reading + checking':<34}{check_s:>9.2f}")
    verdict = "OK" if ratio <= RATIO_BUDGET else "OVER"
    print(f"ratio ingest / raw: {ratio:.2f}x (budget {RATIO_BUDGET:.0f}x: {verdict})")
    load = os.getloadavg()
    print(f"load afterwards: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    for suffix in ("", "-wal", "-shm"):
        Path(str(work / "copy.db") + suffix).unlink(missing_ok=True)


if __name__ == "__main__":
    main()
