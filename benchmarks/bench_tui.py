"""The console (TUI): time to first screen, memory and log-browser page times, 10k vs 1M log rows.

    python benchmarks/bench_tui.py [--rebuild] [--orgs 5000] [--log-rows 10000 1000000]
                                   [--seed 7] [--runs 5] [--tmux-runs 5] [--memory-rows 2000]
                                   [--pages 10] [--no-tmux] [--json FILE]

Builds (or reuses, through bench_queries.ensure_store and the same benchmarks/.cache) one store
per --log-rows value, all with the same organisations, then measures on each:

1. time to first screen, headless: from before `SyncdeskApp(path)` until the dashboard's
   RowTable has its rows, under `App.run_test(size=(80, 24))`;
2. time to first screen in a real terminal: `syncdesk --db PATH` started in a tmux server of
   its own at 80x24, `capture-pane -p` polled every 20 ms until an organisation code shows;
3. peak memory (ru_maxrss) of a fresh process that opens the dashboard, then the log browser,
   and pages down through --memory-rows log rows with the pagedown key;
4. the log browser's page times: pushing LogsScreen to its first page in the table, the last
   loaded row to the next page loaded, `end` to the filter's oldest rows, the pagedown key, and
   typing a search word to that word's first page, each beside the store-level `page_log`
   time for the same query (the floor).

It prints figures with each budget marked OK or OVER; it never fails on them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_queries import (
    ROOT,
    Store,
    ensure_store,
    median_ms,
    ms,
    print_table,
    size_label,
    syncdesk_command,
    verdict,
    x,
)
from textual import events
from textual.app import App
from textual.css.query import NoMatches
from textual.pilot import Pilot
from textual.widgets import Input

from store.db import open_store
from store.logs import LogQuery, page_log
from tui.app import SyncdeskApp
from tui.screens.dashboard import DashboardScreen
from tui.screens.logs import COUNT_DELAY, LogsScreen
from tui.widgets.log_source import PAGE_SIZE
from tui.widgets.row_table import RowTable

FIRST_SCREEN_S = 1.0  # 5,000 organisations open in under a second (issue 6)
MEMORY_RATIO = 1.3  # memory flat in the number of log rows: big/small peak RSS
SESSION_RATIO = 1.2  # issue 17: memory after a search session at 1M rows within 1.2x of 10k
STORE_PAGE_MS = 50.0  # a log page at the store (issue 6: "first page under 50 ms")

SIZE = (80, 24)
POLL_S = 0.002  # polling interval inside the app (headless)
TMUX_POLL_S = 0.02  # capture-pane interval
TIMEOUT_S = 60.0
WORDS = ("exported", "offline")  # a word in most info rows, a word in a few errors


# --- waiting inside an app -------------------------------------------------------------------


async def until(
    pilot: Pilot,
    condition: Callable[[], bool],
    what: str,
    *,
    mark: Callable[[], bool] | None = None,
) -> float:
    """Let the app run, in POLL_S sleeps, until condition() holds.

    Returns the perf_counter() at which mark() was first seen true (or condition(), without
    a mark): e.g. when the screen was mounted on the way to its rows being there.
    """
    deadline = time.perf_counter() + TIMEOUT_S
    marked = None
    while True:
        if marked is None and mark is not None and mark():
            marked = time.perf_counter()
        if condition():
            now = time.perf_counter()
            return now if marked is None else marked
        if time.perf_counter() > deadline:
            raise RuntimeError(
                f"gave up after {TIMEOUT_S:g} s waiting for {pilot.app.screen} {what}"
            )
        await asyncio.sleep(POLL_S)  # the app runs in this loop meanwhile


def send_key(app: App, key: str, char: str | None = None) -> None:
    """A key event as the driver sends it, without Pilot.press's wait for the app to idle
    (which sleeps 20 ms at a time and would be most of what is measured)."""
    app.post_message(events.Key(key, char))


async def settle(pilot: Pilot) -> None:
    """Wait out the timers a filter starts (the count after COUNT_DELAY) and all workers."""
    await pilot.pause(COUNT_DELAY + 0.05)
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def dashboard_rows(app: App) -> int:
    screen = app.screen
    if not isinstance(screen, DashboardScreen):
        return 0
    try:
        return screen.query_one(RowTable).row_count
    except NoMatches:  # not composed yet
        return 0


def dashboard_mounted(app: App) -> bool:
    return isinstance(app.screen, DashboardScreen) and app.screen.is_mounted


def logs_mounted(app: App) -> bool:
    return isinstance(app.screen, LogsScreen) and app.screen.is_mounted


def logs_screen(app: App) -> LogsScreen | None:
    screen = app.screen
    return screen if isinstance(screen, LogsScreen) else None


def log_rows(app: App) -> int:
    """Rows in the log browser's table (0 until its first page is shown)."""
    screen = logs_screen(app)
    if screen is None or screen.source is None or not screen.is_mounted:
        return 0
    return screen.table.row_count


# --- 1. first screen, headless ---------------------------------------------------------------


async def first_screen_once(path: Path) -> tuple[float, float]:
    """Milliseconds from before App() to the dashboard mounted, and to its rows."""
    start = time.perf_counter()
    app = SyncdeskApp(path)
    async with app.run_test(size=SIZE) as pilot:
        mounted = await until(
            pilot, lambda: dashboard_rows(app) > 0, "rows", mark=lambda: dashboard_mounted(app)
        )
        rows = time.perf_counter()
    return (mounted - start) * 1000, (rows - start) * 1000


def first_screen_headless(stores: Sequence[Store], runs: int) -> dict[str, list[list[float]]]:
    """Milliseconds per run and store; runs alternate between stores, after a warm-up each."""
    out: dict[str, list[list[float]]] = {key: [[] for _ in stores] for key in ("mounted", "rows")}
    for attempt in range(runs + 1):
        for i, store in enumerate(stores):
            mounted, rows = asyncio.run(first_screen_once(store.path))
            if attempt:  # the first round pays Textual's lazy imports and CSS parsing
                out["mounted"][i].append(mounted)
                out["rows"][i].append(rows)
    return out


# --- 2. first screen, real terminal ----------------------------------------------------------


class Tmux:
    """A tmux server of its own (-L), killed on close whatever happened."""

    def __init__(self) -> None:
        self.socket = f"syncdesk-bench-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "SYNCDESK_DB")}
        self.env["TERM"] = "xterm-256color"

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args],
            capture_output=True,
            text=True,
            timeout=10,
            env=self.env,
        )

    def start(self, command: str) -> None:
        # The pane outlives the command, so a crash is read off the screen, not lost.
        shell = f"{command}; echo EXITED $?; sleep 60"
        w, h = SIZE
        done = self.run(
            "-f", "/dev/null", "new-session", "-d", "-s", "b", "-x", str(w), "-y", str(h), shell
        )
        if done.returncode:
            raise RuntimeError(f"tmux new-session failed: {done.stderr.strip()}")

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "b").stdout

    def size(self) -> str:
        return self.run("display-message", "-p", "-t", "b", "#{pane_width}x#{pane_height}").stdout

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10)
        # kill-server leaves the socket file behind; it is ours alone, so remove it.
        tmpdir = self.env.get("TMUX_TMPDIR") or "/tmp"
        Path(tmpdir, f"tmux-{os.getuid()}", self.socket).unlink(missing_ok=True)


def time_in_tmux(command: str, shown: Callable[[str], bool]) -> tuple[float, str]:
    """Milliseconds from starting command in a fresh 80x24 tmux to shown(screen) being true."""
    term = Tmux()
    try:
        start = time.perf_counter()
        term.start(command)
        deadline = start + TIMEOUT_S
        while True:
            screen = term.screen()
            if shown(screen):
                elapsed = (time.perf_counter() - start) * 1000
                return elapsed, term.size().strip()
            if "EXITED" in screen or time.perf_counter() > deadline:
                raise RuntimeError(f"{command!r} never showed its first screen:\n{screen}")
            time.sleep(TMUX_POLL_S)
    finally:
        term.close()


def first_screen_tmux(
    stores: Sequence[Store], codes: set[str], runs: int
) -> tuple[list[list[float]], list[float], list[float], str]:
    """Per store the app's times; then the floors: tmux itself, and Python + the CLI's imports."""
    exe = syncdesk_command()

    def has_code(screen: str) -> bool:
        return any(word in codes for word in screen.split())

    app_times: list[list[float]] = [[] for _ in stores]
    echo_times: list[float] = []
    version_times: list[float] = []
    size = "?"
    for attempt in range(runs + 1):  # the first round warms the OS page cache
        for store, bucket in zip(stores, app_times, strict=True):
            elapsed, size = time_in_tmux(shlex.join([exe, "--db", str(store.path)]), has_code)
            if attempt:
                bucket.append(elapsed)
        echo, _ = time_in_tmux("echo READY", lambda s: "READY" in s)
        version, _ = time_in_tmux(shlex.join([exe, "--version"]), lambda s: "version" in s)
        if attempt:
            echo_times.append(echo)
            version_times.append(version)
    return app_times, echo_times, version_times, size


# --- 3. memory (a child process per store) ---------------------------------------------------


def max_rss_mb() -> float:
    """getrusage(RUSAGE_SELF).ru_maxrss in MB (it is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def proc_status_mb(field: str) -> float:
    """VmHWM (peak RSS of this process image) or VmRSS (now) from /proc/self/status, MB."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:  # not Linux
        pass
    return float("nan")


async def memory_walk(path: Path, rows: int) -> dict[str, Any]:
    """Dashboard, then the log browser, then pagedown until the cursor is `rows` rows down."""
    figures: dict[str, Any] = {"imports": max_rss_mb()}
    app = SyncdeskApp(path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: dashboard_rows(app) > 0, "the dashboard's rows")
        figures["dashboard"] = max_rss_mb()
        await pilot.press("l")
        await until(pilot, lambda: log_rows(app) > 0, "the log's first page")
        figures["first_page"] = max_rss_mb()
        screen = logs_screen(app)
        if screen is None or screen.source is None:
            raise RuntimeError("the log browser did not open")
        table = screen.table
        presses = 0
        while table.cursor < rows:
            before = table.cursor
            await pilot.press("pagedown")
            presses += 1
            if table.cursor == before:  # at the end of what is loaded: wait for the next page
                source = screen.source
                if not source.more:
                    break
                count = len(source)
                await until(
                    pilot, lambda s=source, n=count: len(s) > n or not s.more, "the next page"
                )
        figures.update(
            paged=max_rss_mb(),
            hwm=proc_status_mb("VmHWM"),
            rss_now=proc_status_mb("VmRSS"),
            cursor=table.cursor,
            loaded=len(screen.source),
            pages_kept=screen.source.pages_kept,
            presses=presses,
        )
    return figures


SESSION_WORDS = ("exported", "offline", "invalid_grant", "xero api")
SESSION_KIND = "rate_limited_minute"
DASHBOARD_FILTER = "expired"  # an auth word: the organisations whose token has expired


async def type_text(pilot: Pilot, text: str) -> None:
    """Letter by letter, as a person types (Pilot waits for the app between keys)."""
    keys = {" ": "space", "_": "underscore", ":": "colon", "-": "minus"}
    await pilot.press(*(keys.get(ch, ch) for ch in text))


async def counted(pilot: Pilot, screen: LogsScreen) -> None:
    """The filter's first page shown and its count arrived (or none is coming)."""
    await until(
        pilot,
        lambda: screen.source is not None
        and screen.source.query == screen.query_now
        and screen.source.started,
        "the filter's first page",
    )
    await settle(pilot)


def check(ok: bool, what: str, screen: LogsScreen) -> None:
    """The session did what it says (else its figures would measure something else)."""
    if not ok:
        raise RuntimeError(f"search session: expected {what}; the filter is {screen.query_now}")


async def search_session(path: Path) -> dict[str, Any]:
    """A support person's session: dashboard, log browser, searches typed letter by letter,
    errors only, a kind, one organisation, End and Home, back to the dashboard and filter it.

    Every step waits for its rows and counts, so each query really ran; the figures are the
    peak (VmHWM) and current (VmRSS) RSS at the end and after each step.
    """
    figures: dict[str, Any] = {"imports": proc_status_mb("VmRSS")}
    steps: dict[str, float] = {}
    app = SyncdeskApp(path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: dashboard_rows(app) > 0, "the dashboard's rows")
        dashboard = app.screen
        codes = [o.code for o in getattr(dashboard, "orgs", [])]
        steps["dashboard"] = proc_status_mb("VmRSS")
        await pilot.press("l")
        await until(pilot, lambda: log_rows(app) > 0, "the log's first page")
        screen = logs_screen(app)
        if screen is None:
            raise RuntimeError("the log browser did not open")
        await counted(pilot, screen)
        steps["log browser"] = proc_status_mb("VmRSS")
        field = screen.query_one("#log-search", Input)
        for word in SESSION_WORDS:
            await pilot.press("slash")
            await type_text(pilot, word)
            await counted(pilot, screen)
            check(screen.query_now.search == word, f"the search is {word!r}", screen)
            await pilot.press("escape")  # clears the search, back to the table
            await counted(pilot, screen)
            check(field.value == "" and screen.focused is screen.table, "a cleared search", screen)
            steps[f"typed {word!r}"] = proc_status_mb("VmRSS")
        await pilot.press("e")  # errors only
        await counted(pilot, screen)
        check(screen.query_now.level == "error", "errors only", screen)
        steps["errors only"] = proc_status_mb("VmRSS")
        screen._kind_picked(SESSION_KIND)  # what the kind picker's enter does
        await counted(pilot, screen)
        check(screen.query_now.kind == SESSION_KIND, f"kind {SESSION_KIND}", screen)
        steps[f"kind {SESSION_KIND}"] = proc_status_mb("VmRSS")
        await pilot.press("a")  # every level again, the kind kept
        # One organisation typed as org:CODE (the `o` key starts the same word, but the field
        # selects its text on focus, so the first letter typed replaces "org:")
        await pilot.press("slash")
        await type_text(pilot, f"org:{codes[0]}")
        await counted(pilot, screen)
        check(screen.query_now.org == codes[0], f"org {codes[0]}", screen)
        check(screen.total is not None, "a count for the organisation", screen)
        screen.table.focus()
        steps["one organisation"] = proc_status_mb("VmRSS")
        await pilot.press("c")  # clear: the whole log
        await counted(pilot, screen)
        source = screen.source
        await pilot.press("end")
        await until(
            pilot,
            lambda s=source: screen.source is not s and screen.source.started,
            "the oldest page",
        )
        await pilot.press("home")
        await until(
            pilot,
            lambda: screen.source.started and screen.source.at_head,
            "the newest page",
        )
        await counted(pilot, screen)
        steps["end, home"] = proc_status_mb("VmRSS")
        await pilot.press("escape")
        await until(pilot, lambda: dashboard_rows(app) > 0, "the dashboard again")
        await settle(pilot)
        await pilot.press("slash")
        await type_text(pilot, DASHBOARD_FILTER)
        await settle(pilot)
        if not isinstance(app.screen, DashboardScreen) or not app.screen.orgs:
            raise RuntimeError(
                f"search session: the dashboard filter {DASHBOARD_FILTER!r} shows nothing"
            )
        figures["dashboard_shown"] = len(app.screen.orgs)
        await pilot.press("escape")
        await settle(pilot)
        steps["dashboard filtered"] = proc_status_mb("VmRSS")
        figures.update(
            steps=steps,
            hwm=proc_status_mb("VmHWM"),
            rss_now=proc_status_mb("VmRSS"),
            threads=threading.active_count(),
        )
    figures["rss_closed"] = proc_status_mb("VmRSS")
    return figures


def memory(store: Store, rows: int, session: str = "paging") -> dict[str, Any]:
    """The memory walk in a fresh process, started through sh so that its ru_maxrss is its own.

    Linux carries a process's peak RSS across exec, and a forked child's memory map starts
    with the parent's peak: a child forked straight from this (large) process would report at
    least this process's peak. sh is a fresh image; the child it forks starts clean.
    """
    child = [sys.executable, __file__, "--memory-child", str(store.path), "--session", session]
    command = shlex.join([*child, "--memory-rows", str(rows)]) + "; exit $?"  # sh must fork
    done = subprocess.run(
        ["/bin/sh", "-c", command],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    if done.returncode:
        raise RuntimeError(f"memory run on {store.label} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def session_memory(paths: Sequence[Path], runs: int) -> list[dict[str, Any]]:
    """The search session in a fresh process per run, stores interleaved; medians printed."""
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    print(
        f"\nsyncdesk console memory after a search session, {datetime.now(UTC):%Y-%m-%d %H:%M} "
        f"UTC, load {' '.join(load)}"
    )
    stores = []
    for path in paths:
        raw = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        rows = raw.execute("SELECT count(*) FROM log").fetchone()[0]
        orgs = raw.execute("SELECT count(*) FROM orgs").fetchone()[0]
        raw.close()
        print(f"  {path}: {orgs:,} orgs, {rows:,} log rows")
        stores.append(Store(size_label(rows), path, rows, 0.0, datetime.now(UTC), reused=True))
    results: list[list[dict[str, Any]]] = [[] for _ in paths]
    for _ in range(runs):  # interleaved: load hits every store alike
        for store, bucket in zip(stores, results, strict=True):
            bucket.append(memory(store, 0, "search"))
    labels = [s.label for s in stores]
    first = results[0][0]
    rows = []
    for step in first["steps"]:
        values = [med([r["steps"][step] for r in runs_]) for runs_ in results]
        rows.append([f"current RSS after {step}", *map(mb, values), x(values[-1] / values[0])])
    for name, key in (
        ("peak RSS at the end (VmHWM)", "hwm"),
        ("current RSS at the end (VmRSS)", "rss_now"),
        ("threads alive at the end", "threads"),
    ):
        values = [med([r[key] for r in runs_]) for runs_ in results]
        rows.append([name, *map(mb, values), x(values[-1] / values[0])])
    print_table(
        f"RSS of a fresh process during a search session, MB, median of {runs} "
        f"(goal: last/first <= {SESSION_RATIO:g}x)",
        ["memory", *labels, "ratio"],
        rows,
    )
    print(f"load at the end: {Path('/proc/loadavg').read_text().split()[:3]}")
    return [r for runs_ in results for r in runs_]


# --- 4. the log browser ----------------------------------------------------------------------


async def log_browser(path: Path, runs: int, pages: int) -> dict[str, Any]:
    """The log browser's times in one app: first page, next pages, pagedown, a typed word."""
    out: dict[str, Any] = {"first": [], "mounted": [], "next": [], "pagedown": [], "search": {}}
    app = SyncdeskApp(path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: dashboard_rows(app) > 0, "the dashboard's rows")

        # Push LogsScreen -> its first page in the table (warm-up, then `runs` times).
        for attempt in range(runs + 1):
            start = time.perf_counter()
            app.open_logs(None)
            mounted = await until(
                pilot, lambda: log_rows(app) > 0, "first page", mark=lambda: logs_mounted(app)
            )
            if attempt:
                out["first"].append((time.perf_counter() - start) * 1000)
                out["mounted"].append((mounted - start) * 1000)
            await settle(pilot)  # the knowledge base and the count, as a person reads
            if attempt < runs:
                await pilot.press("escape")
                await until(pilot, lambda: dashboard_rows(app) > 0, "the dashboard again")
                await settle(pilot)  # the dashboard reloads when it comes back

        screen = logs_screen(app)
        if screen is None or screen.source is None:
            raise RuntimeError("the log browser did not open")
        table = screen.table

        # pagedown from the top: the key sent to the cursor moved (rows come from memory;
        # pages are fetched ahead, LOOKAHEAD rows before the end, in workers).
        for _ in range(60):
            source = screen.source
            if table.cursor >= len(source) - 1:  # the last row loaded: pagedown cannot move
                count = len(source)
                await until(
                    pilot, lambda s=source, n=count: len(s) > n or not s.more, "the next page"
                )
                if table.cursor >= len(source) - 1:  # the end of the log
                    break
            before = table.cursor
            start = time.perf_counter()
            send_key(app, "pagedown")
            await until(pilot, lambda b=before: table.cursor != b, "the cursor to move")
            out["pagedown"].append((time.perf_counter() - start) * 1000)
            await pilot.pause(0.03)  # a person's key repeat is slower than this
        await app.workers.wait_for_complete()
        await pilot.pause()

        # The last loaded row -> the next older page loaded (its highlighting asks for more;
        # `end` goes to the filter's oldest row instead, timed below).
        for _ in range(pages):
            source = screen.source
            if not source.more:
                break
            count, before_id = len(source), source.next_before
            start = time.perf_counter()
            table.cursor = len(source) - 1
            await until(pilot, lambda s=source, n=count: len(s) > n or not s.more, "the next page")
            if len(source) > count:  # not the empty page that says there is nothing older
                out["next"].append((time.perf_counter() - start) * 1000)
                out["before_id"] = before_id  # for the store-level floor of the same page
        out["loaded"] = len(screen.source)

        # end -> the filter's oldest row shown (one key; keyset from the other end), and home
        # back to the newest.
        for _ in range(runs):
            source = screen.source
            start = time.perf_counter()
            send_key(app, "end")
            await until(
                pilot,
                lambda s=source: screen.source is not s and screen.source.started,
                "the oldest page",
            )
            out.setdefault("oldest", []).append((time.perf_counter() - start) * 1000)
            send_key(app, "home")
            await until(
                pilot,
                lambda: screen.source.started and screen.source.at_head,
                "the newest page",
            )
            await settle(pilot)

        # Typing a word: the last key to that word's first page (each key before it started
        # a prefix search of its own, cancelled by the next key).
        field = screen.query_one("#log-search", Input)
        await pilot.press("slash")
        for word in WORDS:
            times = []
            for _ in range(runs):
                await pilot.press(*word[:-1])  # Pilot waits ~50-100 ms a key: a fast typist
                start = time.perf_counter()
                send_key(app, word[-1], word[-1])
                await until(
                    pilot,
                    lambda w=word: (
                        screen.source is not None
                        and screen.source.query.search == w
                        and screen.source.started
                    ),
                    f"the first page for {word!r}",
                )
                times.append((time.perf_counter() - start) * 1000)
                out.setdefault("search_rows", {})[word] = table.row_count
                await settle(pilot)  # let the count of this word run now, not in the next
                field.value = ""
                await until(
                    pilot,
                    lambda: screen.source is not None and screen.source.query.search is None,
                    "the unfiltered log again",
                )
                await settle(pilot)
            out["search"][word] = times
    return out


def store_floor(store: Store, before_id: int | None) -> dict[str, float]:
    """page_log for the queries the browser sent, on a connection of its own (median ms)."""
    db = open_store(store.path)
    try:
        plain = LogQuery(prefix=True)  # what LogsScreen.build_query gives with no filter
        if before_id is None:  # the browser fetched no page with `end`: take the second page
            before_id = page_log(db, plain, limit=PAGE_SIZE).before_id
        fns: dict[str, Callable[[], Any]] = {
            "first": lambda: page_log(db, plain, limit=PAGE_SIZE),
            "next": lambda: page_log(db, plain, limit=PAGE_SIZE, before_id=before_id),
        }
        for word in WORDS:
            query = LogQuery(search=word, prefix=True)
            fns[word] = lambda q=query: page_log(db, q, limit=PAGE_SIZE)
        return dict(zip(fns, median_ms(*fns.values()), strict=True))
    finally:
        db.conn.close()


# --- output ----------------------------------------------------------------------------------


def med(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def mb(value: float) -> str:
    return f"{value:.1f}"


def report(labels: Sequence[str], fig: dict[str, Any], runs: int, tmux_runs: int) -> None:
    """Print the tables, then one line per budget: OK or OVER, the worst figure, what is over."""
    small, big = labels[0], labels[-1]
    first_ms = FIRST_SCREEN_S * 1000
    limits = {"first": first_ms, "page": STORE_PAGE_MS}
    # budget -> (figure name, store label, value) for every figure it covers
    measured: dict[str, list[tuple[str, str, float]]] = {key: [] for key in limits}

    def row(name: str, values: Sequence[float], budget: str | None, ratio: bool = True) -> list:
        cells = [name, *map(ms, values), x(values[-1] / values[0]) if ratio else "-"]
        if budget is None:
            return [*cells, "-"]
        short = name.strip().split(" (")[0]
        measured[budget] += [(short, label, v) for label, v in zip(labels, values, strict=True)]
        return [*cells, verdict(all(v < limits[budget] for v in values))]

    rows = [
        row(
            f"headless run_test, App() to dashboard rows (median of {runs})",
            [med(t) for t in fig["headless"]["rows"]],
            "first",
        ),
        row(
            "  of which App() to dashboard mounted (no rows yet)",
            [med(t) for t in fig["headless"]["mounted"]],
            None,
        ),
    ]
    if fig.get("tmux"):
        t = fig["tmux"]
        rows.append(
            row(
                f"real terminal, tmux {t['size']}: start to a code on screen (median of "
                f"{tmux_runs})",
                [med(v) for v in t["app"]],
                "first",
            )
        )
        floors = [med(t["echo"])] * len(labels), [med(t["version"])] * len(labels)
        rows.append(row("  floor: tmux + `echo` (no Python)", floors[0], None, False))
        rows.append(
            row("  floor: `syncdesk --version` (Python + CLI imports)", floors[1], None, False)
        )
    headers = ["first screen, ms", *labels, f"{big}/{small}", "budget"]
    print_table(f"Time to first screen (budget < {first_ms:g} ms on every store)", headers, rows)

    mem = fig["memory"]
    stages = (
        ("after imports", "imports"),
        ("dashboard shown", "dashboard"),
        ("log browser, first page", "first_page"),
        (f"after paging {mem[0]['cursor']:,} rows (peak)", "paged"),
        ("  check: VmHWM at the end (peak RSS, /proc)", "hwm"),
        ("  current RSS at the end (VmRSS)", "rss_now"),
    )
    mem_rows = []
    for name, key in stages:
        values = [m[key] for m in mem]
        ratio = values[-1] / values[0]
        mark = verdict(ratio <= MEMORY_RATIO) if key == "paged" else "-"
        mem_rows.append([name, *map(mb, values), x(ratio), mark])
    peaks = [m["paged"] for m in mem]
    mem_rows.append(
        [
            "  rows loaded / pages of rows kept",
            *(f"{m['loaded']:,} / {m['pages_kept']}" for m in mem),
        ]
        + ["-", "-"]
    )
    print_table(
        f"Peak RSS (ru_maxrss) of a fresh process after each step, MB (budget: {big}/{small} <= "
        f"{MEMORY_RATIO:g}x after paging)",
        ["memory", *labels, f"{big}/{small}", "budget"],
        mem_rows,
    )

    logs, floor = fig["logs"], fig["floor"]
    page = PAGE_SIZE
    log_table = [
        row(
            f"app: push LogsScreen to first page shown (median of {runs})",
            [med(v["first"]) for v in logs],
            None,
        ),
        row(
            "  of which push to LogsScreen mounted (no rows yet)",
            [med(v["mounted"]) for v in logs],
            None,
        ),
        row(
            f"  store: page_log first {page} rows (floor)",
            [f["first"] for f in floor],
            "page",
        ),
        row(
            f"app: last row to next {page} rows loaded (median of {len(logs[0]['next'])})",
            [med(v["next"]) for v in logs],
            None,
        ),
        row("  slowest of those", [max(v["next"], default=float("nan")) for v in logs], None),
        row(
            f"app: end to the oldest {page} rows (median of {len(logs[0].get('oldest', []))})",
            [med(v.get("oldest", [])) for v in logs],
            None,
        ),
        row(f"  store: page_log next {page} rows (floor)", [f["next"] for f in floor], "page"),
        row(
            f"app: pagedown key handled (median of {len(logs[0]['pagedown'])})",
            [med(v["pagedown"]) for v in logs],
            None,
        ),
        row("  slowest of those", [max(v["pagedown"], default=float("nan")) for v in logs], None),
    ]
    for word in WORDS:
        log_table += [
            row(
                f"app: type {word!r}, last key to its first page (median of {runs})",
                [med(v["search"][word]) for v in logs],
                None,
            ),
            row(
                f"  store: page_log search {word!r}* (floor)",
                [f[word] for f in floor],
                "page",
            ),
        ]
    print_table(
        f"Log browser, ms (budget: a page at the store < {STORE_PAGE_MS:g} ms)",
        ["log browser", *labels, f"{big}/{small}", "budget"],
        log_table,
    )

    print("\nBudgets\n")
    lines = []
    for key, title in (
        ("first", f"first screen < {first_ms:g} ms, every store"),
        ("page", f"a log page at the store < {STORE_PAGE_MS:g} ms"),
    ):
        name, label, worst = max(measured[key], key=lambda m: m[2])
        over = [f"{n}, {lb}: {ms(v)} ms" for n, lb, v in measured[key] if v >= limits[key]]
        detail = f"slowest {ms(worst)} ms ({name}, {label})"
        lines.append((title, not over, detail, over))
    ratio = peaks[-1] / peaks[0]
    detail = f"{x(ratio)} ({' / '.join(mb(p) for p in peaks)} MB peak RSS)"
    over = [] if ratio <= MEMORY_RATIO else [f"peak RSS {big}/{small} {x(ratio)}"]
    lines.insert(1, (f"memory flat: {big}/{small} <= {MEMORY_RATIO:g}x", not over, detail, over))
    width = max(len(title) for title, *_ in lines)
    for title, ok, detail, over in lines:
        print(f"  {title.ljust(width)}  {verdict(ok):4}  {detail}")
        for item in over:
            print(f"  {'':{width}}        over: {item}")


# --- main ------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rebuild", action="store_true", help="Build the stores afresh.")
    parser.add_argument("--orgs", type=int, default=5000)
    parser.add_argument("--log-rows", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "benchmarks" / ".cache")
    parser.add_argument("--max-age", type=float, default=6.0, help="Rebuild older stores (h).")
    parser.add_argument("--runs", type=int, default=5, help="Runs of each in-process timing.")
    parser.add_argument("--tmux-runs", type=int, default=5, help="Runs in a real terminal.")
    parser.add_argument("--no-tmux", action="store_true", help="Skip the real-terminal timing.")
    parser.add_argument("--memory-rows", type=int, default=2000, help="Log rows to page down.")
    parser.add_argument("--pages", type=int, default=10, help="Next pages fetched with `end`.")
    parser.add_argument("--json", type=Path, help="Also write every figure to this file.")
    parser.add_argument("--memory-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--session", choices=("paging", "search"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--session-stores",
        type=Path,
        nargs="+",
        help="Only the search session's memory, on these built stores (small first).",
    )
    parser.add_argument("--session-runs", type=int, default=3, help="Sessions per store.")
    args = parser.parse_args(argv)

    if args.memory_child:  # the child process of the memory measurement
        walk = (
            search_session(args.memory_child)
            if args.session == "search"
            else memory_walk(args.memory_child, args.memory_rows)
        )
        print(json.dumps(asyncio.run(walk)))
        return
    if args.session_stores:  # only the search session's memory, on stores already built
        session_memory(args.session_stores, args.session_runs)
        return

    started = time.perf_counter()
    labels = [size_label(n) for n in args.log_rows]
    stores = [
        ensure_store(
            f"{label} store",
            args.cache_dir,
            orgs=args.orgs,
            log_rows=n,
            seed=args.seed,
            rebuild=args.rebuild,
            max_age=args.max_age,
        )
        for label, n in zip(labels, args.log_rows, strict=True)
    ]
    with sqlite3.connect(stores[0].path) as raw:
        codes = {code for (code,) in raw.execute("SELECT code FROM orgs")}

    print(
        f"\nsyncdesk console benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} CPUs, {platform.machine()}, Python {sys.version.split()[0]}, "
        f"SQLite {sqlite3.sqlite_version}"
    )
    for s in stores:
        how = "reused" if s.reused else "built"
        print(
            f"  {s.label}: {args.orgs:,} orgs, {s.log_rows:,} log rows, "
            f"{s.path.stat().st_size / 1e6:.0f} MB, {how} (build {s.build_seconds:.1f} s)"
        )

    fig: dict[str, Any] = {}
    print("\ntime to first screen, headless ...", flush=True)
    fig["headless"] = first_screen_headless(stores, args.runs)
    if not args.no_tmux and shutil.which("tmux"):
        print("time to first screen, tmux ...", flush=True)
        app, echo, version, size = first_screen_tmux(stores, codes, args.tmux_runs)
        fig["tmux"] = {"app": app, "echo": echo, "version": version, "size": size}
    elif not args.no_tmux:
        print("  (tmux is not installed: real-terminal timing skipped)")
    print("memory ...", flush=True)
    fig["memory"] = [memory(s, args.memory_rows) for s in stores]
    print("log browser ...", flush=True)
    fig["logs"] = [asyncio.run(log_browser(s.path, args.runs, args.pages)) for s in stores]
    fig["floor"] = [
        store_floor(s, v.get("before_id")) for s, v in zip(stores, fig["logs"], strict=True)
    ]

    report(labels, fig, args.runs, args.tmux_runs)
    print(f"\n(benchmark took {time.perf_counter() - started:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps({"stores": labels, **fig}, indent=2, default=str))


if __name__ == "__main__":
    main()
