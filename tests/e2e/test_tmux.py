"""The real `syncdesk` in a real terminal (tmux), read off the screen as a person would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Terminal:
    """One tmux server running one command, at a fixed size."""

    def __init__(self, command: list[str], width: int, height: int, env: dict[str, str]) -> None:
        self.socket = f"syncdesk-test-{uuid.uuid4().hex[:8]}"
        exports = " ".join(f"{k}={v}" for k, v in env.items())
        shell = f"env {exports} {' '.join(command)}; echo EXITED $?; sleep 60"
        self.tmux(
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            str(width),
            "-y",
            str(height),
            shell,
        )
        self.tmux("set-option", "-t", "t", "window-size", "manual")
        self.tmux("resize-window", "-t", "t", "-x", str(width), "-y", str(height))

    def tmux(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10
        )
        return result.stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "t").rstrip("\n")

    def keys(self, *keys: str) -> None:
        """Type keys one at a time at a brisk typing pace.

        The pause is typing speed, not a wait for a result: a key that moves focus (`/`) is
        handled before the next arrives, as with a person at the keyboard. Results are awaited
        with wait_for.
        """
        for key in keys:
            self.tmux("send-keys", "-t", "t", key)
            time.sleep(0.05)

    def filter(self, text: str, shown: int = 1) -> None:
        """Type a dashboard filter and go back to the table, waiting for each focus change
        (the footer shows the search box's keys, then the table's), as a person looks before
        typing on."""
        self.keys("/")
        self.wait_for("f1 Keys")
        self.keys(*text)
        self.wait_for(f" {shown} shown")
        self.keys("Enter")
        self.wait_for("q Quit")

    def wait_for(self, text: str, *also: str, timeout: float = 30.0) -> str:
        """The screen once it shows `text` (and every one of `also`) and has settled: two
        captures 0.1 s apart agree. Textual redraws in pieces, and under load a redraw can
        stall; a screen read mid-redraw holds half of the old one.
        """
        wanted = (text, *also)
        deadline = time.monotonic() + timeout
        previous = None
        while time.monotonic() < deadline:
            screen = self.screen()
            complete = all(w in screen for w in wanted)
            if complete and screen == previous:
                return screen
            previous = screen if complete else None
            time.sleep(0.1)  # polling interval between captures, not a wait for a result
        raise AssertionError(f"{wanted!r} never all appeared; the screen was:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


@pytest.fixture
def terminal(store_path: Path) -> Iterator:
    opened: list[Terminal] = []

    def open_terminal(width: int, height: int) -> Terminal:
        env = {
            "SYNCDESK_DB": str(store_path),
            "TERM": "xterm-256color",
            "PYTHONPATH": os.pathsep.join(sys.path),
            # The console's clock starts at the test's frozen instant (store/clock.py).
            "SYNCDESK_NOW": os.environ["SYNCDESK_NOW"],
        }
        term = Terminal([sys.executable, "-m", "tui"], width, height, env)
        opened.append(term)
        return term

    yield open_terminal
    for term in opened:
        term.close()


@pytest.mark.parametrize(("width", "height"), [(80, 24), (200, 50)])
def test_first_screen_filter_open_and_quit(terminal, width: int, height: int) -> None:
    term = terminal(width, height)
    term.wait_for("KAURI")
    screen = term.wait_for("q Quit", "KAURI", "HARBOUR", "SXBREW", "WATTLE")
    lines = screen.splitlines()
    assert len(lines) <= height and max(len(line) for line in lines) <= width
    assert "syncdesk" in lines[0]
    assert any("CODE" in line and "STATE" in line for line in lines)
    for code in ("HARBOUR", "SXBREW", "WATTLE"):
        assert code in screen
    assert "q Quit" in lines[-1]
    term.filter("pine")
    screen = term.wait_for(" 1 shown", "WATTLE")
    assert "KAURI" not in screen
    term.keys("Enter")
    term.wait_for("Integration", "Wattle & Pine", "State: active")
    term.keys("Escape")
    term.wait_for(" 1 shown")
    term.keys("q")
    term.wait_for("EXITED 0")


def test_refresh_run_with_the_keyboard_alone_at_80x24(terminal, store_path: Path) -> None:
    """SXBREW (app removed in Xero) from the dashboard to resolved, reading every screen."""
    term = terminal(80, 24)
    term.wait_for("q Quit")
    term.filter("sxbrew")
    term.wait_for(" 1 shown")
    term.keys("r")
    term.wait_for("Press enter to start")
    term.wait_for("Diagnosis")  # the live diagnosis arrives from a worker
    term.keys("Enter")
    term.wait_for("Step 1: Diagnose", "Kept:", "Lost:")
    term.keys("Enter")
    term.wait_for("Step 4: Uninstall", "– 2 Deactivate", "✓ 1 Diagnose")
    term.keys("Enter")
    term.wait_for("Type SXBREW to confirm", "Removed:", "Kept:")
    term.keys(*"SXBREW", "Enter")
    term.wait_for("Step 5: Reconnect", "✓ 4 Uninstall")
    term.keys("Enter")
    term.wait_for("Reconnect SXBREW to Xero", "(previous)")
    term.keys("Enter")  # choose the highlighted (previous) tenant: it reconnects
    term.wait_for("Step 6: Verify", "✓ 5 Reconnect")
    term.keys("Enter")
    term.wait_for("Resolved.", "✓ resolved")
    term.keys("Escape")
    term.wait_for(" 1 shown")
    term.keys("q")
    term.wait_for("EXITED 0")


def test_killed_ssh_session_resumes_the_run(terminal, store_path: Path) -> None:
    """The terminal dies mid-run (as a dropped SSH session does); a new session resumes."""
    term = terminal(80, 24)
    term.wait_for("q Quit")
    term.filter("wattle")
    term.wait_for(" 1 shown")
    term.keys("r")
    term.wait_for("Press enter to start")
    term.keys("Enter")
    term.wait_for("Step 1: Diagnose")
    term.keys("Enter")
    term.wait_for("Step 2: Deactivate")
    term.close()  # the whole tmux server goes: the app gets SIGHUP mid-run
    again = terminal(80, 24)
    again.wait_for("q Quit")
    again.filter("wattle")
    again.wait_for(" 1 shown", "⚑")  # the dashboard shows the run in progress
    again.keys("r")
    again.wait_for("Step 2: Deactivate", "✓ 1 Diagnose")


def assert_read_as_people_read(screen: str, width: int) -> None:
    """No cut key hint in the footer (? Keys, the last key, is whole), no escaped newline."""
    lines = screen.splitlines()
    footer = lines[-1]
    assert footer.rstrip().endswith("^p palette") and "? Keys" in footer, footer
    assert "…" not in footer.split("▏")[0], footer
    assert max(len(line) for line in lines) <= width
    assert "\\x0a" not in screen, screen


def test_every_screen_at_80x24_shows_whole_keys_and_no_escapes(terminal) -> None:
    """Dashboard → organisation (with a live check) → log → wizard, read at 80×24."""
    term = terminal(80, 24)
    assert_read_as_people_read(term.wait_for("q Quit", "KAURI"), 80)
    term.filter("tasman")
    term.keys("Enter")
    screen = term.wait_for("Integration", "State: active", "esc Back")
    assert_read_as_people_read(screen, 80)
    term.keys("k")
    screen = term.wait_for("Live check", "✗")
    assert_read_as_people_read(screen, 80)
    assert "syncdesk retry" not in screen and "syncdesk map" not in screen
    term.keys("l")
    screen = term.wait_for("syncdesk · log · TASMAN", "rows", "s Groups")
    assert_read_as_people_read(screen, 80)
    term.keys("Escape")
    term.wait_for("Live check")
    term.keys("r")
    screen = term.wait_for("Diagnosis", "✓ state", "Do step", "f Refresh anyway")
    assert_read_as_people_read(screen, 80)
    assert "syncdesk run start" not in screen
    term.keys("Enter")
    screen = term.wait_for("Step 1: Diagnose", "Kept:")
    assert_read_as_people_read(screen, 80)
    term.keys("?")
    screen = term.wait_for("Refresh run", "Everywhere")
    assert screen.index("Do step") < screen.index("Everywhere")
