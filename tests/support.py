"""Helpers shared by the tests (tests/ is on pytest's pythonpath): the instant, the fake clock,
a sandbox client, polls that wait for a condition instead of sleeping, and the same two for
pilot tests (`settle`, `until`)."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from store import clock as store_clock
from store.db import open_store
from store.errors import SyncdeskError
from store.xero.client import XeroClient
from store.xero.sandbox import SandboxTransport

# The one instant every test store is built at and every test runs at. It is a fixed point,
# not today: the suite must read the same whatever the machine's date (checked under faketime).
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


class FakeClock:
    """Time that moves only when something sleeps.

    Without `start` it is the store's frozen clock, shared by the sandbox (token expiry, rate
    windows), the client's limiter and its sleep, so waiting for a Retry-After costs no real time
    and the store sees the same instant. With `start` it is a private counter for limiter tests.
    """

    def __init__(self, start: float | None = None) -> None:
        self._own = start
        self.slept: list[float] = []

    @property
    def now(self) -> float:
        return store_clock.epoch() if self._own is None else self._own

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if self._own is None:
            store_clock.advance(seconds)
        else:
            self._own += seconds


def sandbox_client(db: Any, clock: FakeClock, **options: Any) -> XeroClient:
    """A XeroClient on the embedded sandbox over `db`, on the fake clock."""
    return XeroClient(
        client_id="test-client",
        client_secret="test-secret-value",
        transport=SandboxTransport(db, clock=clock.time),
        sleep=clock.sleep,
        clock=clock.monotonic,
        **options,
    )


def wait_until(condition: Any, timeout: float = 10.0, interval: float = 0.02) -> None:
    """Poll `condition()` until it is true (for threads and subprocesses, never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition never held within {timeout}s: {condition}")
        time.sleep(interval)


# --- pilot tests -------------------------------------------------------------------------------


LISTENERS = {"consent-listen"}  # worker groups that wait for a person, not for the store


async def settle(pilot: Any) -> None:
    """Let the app run until no worker is left: one worker's result often starts another (an
    action reloads the screen, the reload starts a live check), so wait again until none runs."""
    from textual.worker import WorkerError  # only pilot tests load Textual

    for _ in range(20):
        await pilot.pause()
        # A listener waiting for a person (the consent dialog's redirect catcher) never
        # "settles": everything else does.
        working = [w for w in pilot.app.workers if w.group not in LISTENERS]
        if all(worker.is_finished for worker in working):
            break
        with suppress(WorkerError):  # failed or cancelled: the screen has said so (or dropped it)
            await pilot.app.workers.wait_for_complete(working)
    await pilot.pause()


async def until(pilot: Any, condition: Callable[[], object], timeout: float = 10.0) -> None:
    """Let the app run until condition() holds (a worker's result has been applied)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"the screen never got there within {timeout}s: {condition}")
        await pilot.pause(0.005)


def plant(path: Path, *statements: str) -> None:
    """Write rows the way a broken tool would: plain sqlite3, none of the store's checks."""
    conn = sqlite3.connect(path)
    with conn:
        for sql in statements:
            conn.execute(sql)
    conn.close()


def query(path: Path, sql: str, *args: object) -> list[tuple]:
    """Rows of `sql` read through the store (open_store), the store closed again."""
    db = open_store(path)
    try:
        return [tuple(r) for r in db.execute(sql, list(args)).fetchall()]
    finally:
        db.conn.close()


def moved_away(path: Path) -> str:
    """Move the store away (a colleague's rebuild, a slip of mv); what opening it now says."""
    path.rename(path.with_name(path.name + ".moved"))
    try:
        open_store(path).close()
    except SyncdeskError as exc:
        return str(exc)
    raise AssertionError(f"{path} still opens")


def notified(app: Any) -> list[str]:
    """The texts of the app's notifications still showing (run_test records them unshown)."""
    return [notification.message for notification in app._notifications]


async def reload_without_the_store(pilot: Any, path: Path) -> None:
    """Move the store away and press f5: the screen says what opening the store says."""
    expected = moved_away(path)
    await pilot.press("f5")
    await settle(pilot)
    assert expected in notified(pilot.app)


# --- the command line --------------------------------------------------------------------------


def run_cli(capsys: Any, *argv: str) -> tuple[int, str, str]:
    """Run `syncdesk ARGV` in-process: (exit code, stdout, stderr); never a traceback."""
    from tui.cli import main

    try:
        main(list(argv))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def one_line(err: str) -> str:
    """The one line a refused command prints on stderr."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def one_error_line(err: str) -> str:
    """The one `syncdesk: ...` line among what a failed command printed on stderr."""
    lines = [line for line in err.splitlines() if line.startswith("syncdesk:")]
    assert len(lines) == 1, err
    return lines[0]


def refused(result: tuple[int, str, str]) -> str:
    """Exit 1 with exactly one line on stderr, `syncdesk: ...`; returns that line."""
    code, _, err = result
    lines = err.strip().splitlines()
    assert code == 1, result
    assert len(lines) == 1 and lines[0].startswith("syncdesk: "), err
    return lines[0]


def as_json(result: tuple[int, str, str]) -> Any:
    """Exit 0 and the JSON printed on stdout."""
    code, out, _ = result
    assert code == 0, result
    return json.loads(out)
