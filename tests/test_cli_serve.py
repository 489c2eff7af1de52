"""`syncdesk serve`: options, the warning off loopback, the command it spawns, and a real run."""

from __future__ import annotations

import asyncio
import os
import shlex
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support import run_cli

import tui.cli_serve  # noqa: F401 - registers `serve` on the group (tui/cli.py imports it too)
from tui.cli_serve import app_command, is_loopback

REPO = Path(__file__).resolve().parent.parent


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    return run_cli(capsys, *args)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Server.serve returns at once; the servers it was asked to run are collected."""
    from textual_serve.server import Server

    started: list[object] = []
    monkeypatch.setattr(Server, "serve", lambda self, debug=False: started.append(self))
    monkeypatch.delenv("SYNCDESK_DB", raising=False)
    return started


def test_help_documents_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "serve", "--help")
    assert code == 0
    for text in ("--host", "--port", "127.0.0.1", "8000", "--public-url", "reverse proxy"):
        assert text in out


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "127.8.9.10", "localhost", "LOCALHOST.", "::1", "[::1]", "::ffff:127.0.0.1"],
)
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "::", "", "192.168.1.10", "10.0.0.1", "example.com", "128.0.0.1", "fe80::1"]
)
def test_other_hosts_are_exposed(host: str) -> None:
    assert not is_loopback(host)


def test_loopback_serves_quietly_the_same_app_on_the_same_store(
    capsys: pytest.CaptureFixture[str], store_path: Path, served: list[object]
) -> None:
    port = free_port()
    code, _, err = run(capsys, "--db", str(store_path), "serve", "--port", str(port))
    assert code == 0, err
    assert "WARNING" not in err and "no authentication" not in err
    (server,) = served
    assert server.host == "127.0.0.1" and server.port == port
    assert server.public_url == f"http://127.0.0.1:{port}"
    argv = shlex.split(server.command)
    assert argv[:3] == [sys.executable, "-m", "tui"]
    assert argv[3:] == ["--db", str(store_path.resolve())]


def test_a_path_with_spaces_survives_the_shell(tmp_path: Path) -> None:
    path = tmp_path / "a dir; rm -rf x" / "my store.db"
    argv = shlex.split(app_command(path))
    assert argv == [sys.executable, "-m", "tui", "--db", str(path)]


def test_any_other_host_is_refused_without_allow_remote(
    capsys: pytest.CaptureFixture[str], store_path: Path, served: list[object]
) -> None:
    port = free_port()
    code, out, err = run(
        capsys, "--db", str(store_path), "serve", "--host", "0.0.0.0", "--port", str(port)
    )
    assert code == 1 and out == "" and not served
    (line,) = err.strip().splitlines()
    assert "refusing to serve on 0.0.0.0" in line and "SSH tunnel" in line
    assert "--allow-remote" in line


def test_allow_remote_warns_and_wants_the_token(
    capsys: pytest.CaptureFixture[str], store_path: Path, served: list[object]
) -> None:
    port = free_port()
    code, _, err = run(
        capsys,
        *("--db", str(store_path), "serve", "--host", "0.0.0.0", "--port", str(port)),
        "--allow-remote",
    )
    assert code == 0, err
    warning = [line for line in err.splitlines() if "WARNING" in line]
    assert len(warning) == 1
    assert "access token" in warning[0] and "SSH tunnel" in warning[0]
    assert "0.0.0.0" in warning[0]
    (server,) = served
    assert f"?token={server.token}" in err and len(server.token) >= 32
    (server,) = served
    assert server.host == "0.0.0.0"
    assert "0.0.0.0" not in server.public_url  # a browser elsewhere cannot open ws://0.0.0.0


def test_public_url_is_passed_on(
    capsys: pytest.CaptureFixture[str], store_path: Path, served: list[object]
) -> None:
    url = "https://desk.example.com/"
    code, _, err = run(
        capsys, "--db", str(store_path), "serve", "--port", str(free_port()), "--public-url", url
    )
    assert code == 0, err
    assert served[0].public_url == "https://desk.example.com"


def test_a_busy_port_is_one_line(
    capsys: pytest.CaptureFixture[str], store_path: Path, served: list[object]
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, out, err = run(capsys, "--db", str(store_path), "serve", "--port", str(port))
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("syncdesk: cannot listen on 127.0.0.1:")
    assert "already in use" in lines[0] and "--port" in lines[0]
    assert not served


def test_missing_textual_serve_is_one_line(
    capsys: pytest.CaptureFixture[str], store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "textual_serve.server", None)  # import raises ImportError
    code, _, err = run(capsys, "--db", str(store_path), "serve", "--port", str(free_port()))
    assert code == 1
    assert err.strip() == (
        "syncdesk: textual-serve is not installed; install it with `pip install textual-serve`."
    )


def test_a_missing_store_fails_before_serving(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, served: list[object]
) -> None:
    code, _, err = run(
        capsys, "--db", str(tmp_path / "nope.db"), "serve", "--port", str(free_port())
    )
    assert code == 1 and err.startswith("syncdesk:")
    assert not served


# --- a real server ------------------------------------------------------------------------------

MARKER = "Servedstore Marker Ltd"


@pytest.fixture
def real_server(store_path: Path, tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen, Path]]:
    """`python -m tui serve` on a free loopback port; always stopped afterwards."""
    with sqlite3.connect(store_path) as conn:  # shows that the served app reads this store
        conn.execute("UPDATE orgs SET name = ? WHERE code = 'HARBOUR'", (MARKER,))
    conn.close()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCDESK_")}
    log_path = tmp_path / "serve.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "tui", "--db", str(store_path), "serve", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield f"http://127.0.0.1:{port}", process, log_path
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        log.close()


def entry_url(url: str, process: subprocess.Popen, log_path: Path, seconds: float = 20) -> str:
    """The address with the access token, as serve printed it."""
    deadline = time.monotonic() + seconds
    while "?token=" not in log_path.read_text():
        if process.poll() is not None:
            pytest.fail(f"serve exited with {process.returncode}: {log_path.read_text()}")
        if time.monotonic() > deadline:
            pytest.fail(f"serve printed no address within {seconds} s")
        time.sleep(0.05)
    token = log_path.read_text().split("?token=", 1)[1].split()[0]
    return f"{url}/?token={token}"


def wait_for_page(
    url: str, process: subprocess.Popen, log_path: Path, seconds: float = 20
) -> httpx.Response:
    deadline = time.monotonic() + seconds
    with httpx.Client(trust_env=False, timeout=2) as client:  # loopback, never a proxy
        while True:
            try:
                response = client.get(url)
                if response.status_code == 200:
                    return response
            except httpx.TransportError:
                pass
            if process.poll() is not None:
                pytest.fail(f"serve exited with {process.returncode}: {log_path.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"no answer from {url} within {seconds} s")
            time.sleep(0.1)


async def test_serves_the_console_in_a_browser(
    real_server: tuple[str, subprocess.Popen, Path],
) -> None:
    url, process, log_path = real_server
    entry = await asyncio.to_thread(entry_url, url, process, log_path)
    page = await asyncio.to_thread(wait_for_page, entry, process, log_path)
    assert "text/html" in page.headers["content-type"]
    cookie = page.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "<div>syncdesk</div>" in page.text and "textual" in page.text
    ws_url = url.replace("http://", "ws://") + "/ws"
    assert f'data-session-websocket-url="{ws_url}"' in page.text

    # What a browser does next: open the websocket, which starts the console on the store.
    import aiohttp  # textual-serve's own dependency

    seen = b""
    token = entry.split("?token=")[1]
    jar = {"syncdesk_token": token}  # what the browser keeps from the page
    async with aiohttp.ClientSession(trust_env=False, cookies=jar) as session:
        async with session.ws_connect(url + "/ws?width=120&height=30") as ws:
            async with asyncio.timeout(20):
                while MARKER.encode() not in seen:
                    message = await ws.receive()
                    assert message.type in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT), (
                        message
                    )
                    data = message.data
                    seen += data if isinstance(data, bytes) else data.encode()
    assert b"HARBOUR" in seen


async def test_every_request_and_the_websocket_need_the_token(
    real_server: tuple[str, subprocess.Popen, Path],
) -> None:
    import aiohttp

    url, process, log_path = real_server
    entry = await asyncio.to_thread(entry_url, url, process, log_path)
    await asyncio.to_thread(wait_for_page, entry, process, log_path)
    token = entry.split("?token=")[1]
    async with aiohttp.ClientSession(trust_env=False) as session:
        for path in ("/", "/?token=wrong", "/static/css/xterm.css", "/download/x", "/ws"):
            async with session.get(url + path) as response:
                assert response.status == 403, path
                assert "access token" in await response.text()
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(url + "/ws?token=wrong")
        assert refused.value.status == 403
        with pytest.raises(aiohttp.WSServerHandshakeError) as foreign:
            await session.ws_connect(
                f"{url}/ws?token={token}", headers={"Origin": "https://evil.example"}
            )
        assert foreign.value.status == 403
        async with session.get(f"{url}/static/css/xterm.css?token={token}") as response:
            assert response.status in (200, 404)  # past the check
