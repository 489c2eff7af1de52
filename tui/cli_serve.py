"""`syncdesk serve`: the same console in a web browser, through textual-serve.

textual-serve starts one app process per browser tab and has no authentication of its own, so
the server binds to loopback, refuses any other address unless --allow-remote is given, and
always wants a random access token, printed once, on every request and on the websocket
(tui/serve_auth.py): other users of a shared host can reach loopback too.
"""

from __future__ import annotations

import errno
import ipaddress
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import click

from store.errors import SyncdeskError
from tui.cli_base import Context, cli, pass_ctx

DEFAULT_PORT = 8000


def is_loopback(host: str) -> bool:
    """True when the host only accepts connections from this machine."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name.split("%", 1)[0])  # drop an IPv6 zone (::1%lo)
    except ValueError:
        return False  # a host name other than localhost may resolve to anything
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 (not loopback to Python 3.11)
    return address.is_loopback


def exposure_warning(host: str, port: int) -> str:
    return (
        f"syncdesk: WARNING: serving on {host}:{port}, which is not a loopback address: "
        "anyone who can reach this port and has the access token gets the full console and "
        "can deactivate, uninstall and reconnect organisations, over plain HTTP unless a TLS "
        "reverse proxy is in front. Prefer 127.0.0.1 and an SSH tunnel."
    )


def remote_refused(host: str, port: int) -> SyncdeskError:
    return SyncdeskError(
        f"refusing to serve on {host}:{port}, which is not a loopback address; reach the "
        f"console through an SSH tunnel (`ssh -L {port}:127.0.0.1:{port} THIS-HOST`, then "
        f"serve on 127.0.0.1), or pass --allow-remote to serve it there with an access token."
    )


def app_command(db_path: Path, *, read_only: bool = False) -> str:
    """The shell command textual-serve runs for each browser tab: this console on this store
    (read-only when the server's session is)."""
    argv = [sys.executable, "-m", "tui", "--db", str(db_path)]
    if read_only:
        argv.append("--read-only")
    if sys.platform == "win32":
        return subprocess.list2cmdline(argv)
    return shlex.join(argv)  # textual-serve hands the command to a shell


def url_host(host: str) -> str:
    """The host as browsers should reach it: a wildcard address becomes this machine's name
    (the page tells the browser where to open its websocket), IPv6 literals go in brackets."""
    bare = host.strip().strip("[]")
    if bare in ("", "0.0.0.0", "::"):
        return socket.getfqdn()
    return f"[{bare}]" if ":" in bare else bare


def check_can_listen(host: str, port: int) -> None:
    """Bind and release the address first, so a busy port is one line and not a traceback
    after the server's banner; raises SyncdeskError."""
    try:
        found = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        for family, kind, proto, _, address in found:
            with socket.socket(family, kind, proto) as sock:
                if sys.platform != "win32":  # as aiohttp does; on Windows it would share ports
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(address)
    except OSError as exc:
        raise _listen_error(host, port, exc) from exc


def _listen_error(host: str, port: int, exc: OSError) -> SyncdeskError:
    reason = exc.strerror or str(exc)
    if exc.errno == errno.EADDRINUSE:
        reason = "the port is already in use"
    return SyncdeskError(
        f"cannot listen on {host}:{port} ({reason}); choose another --port or --host."
    )


@cli.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. Anything but loopback is refused without --allow-remote: "
    "prefer an SSH tunnel, or an authenticating reverse proxy with TLS.",
)
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Serve on a non-loopback --host (anyone with the access token gets the console).",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="TCP port to listen on.",
)
@click.option(
    "--public-url",
    help="The address browsers use to reach the server (behind a reverse proxy, say). "
    "Default: http://HOST:PORT.",
)
@pass_ctx
def serve(obj: Context, host: str, port: int, allow_remote: bool, public_url: str | None) -> None:
    """Serve the console in a web browser (textual-serve), on the same store.

    Each browser tab runs its own copy of the console on this store. Every request needs
    the access token in the address printed at start (kept in a cookie by the browser).
    Keep the default loopback address and reach it through an SSH tunnel; another address
    needs --allow-remote. Stop with Ctrl+C.
    """
    if not is_loopback(host) and not allow_remote:
        raise remote_refused(host, port)
    try:
        import textual_serve.server  # noqa: F401 - only this command needs it (and aiohttp)
    except ImportError as exc:
        raise SyncdeskError(
            "textual-serve is not installed; install it with `pip install textual-serve`."
        ) from exc
    from tui.serve_auth import TokenServer, new_token

    check_can_listen(host, port)
    obj.db  # noqa: B018 - open (or create) the store now, so a bad one fails here, not per tab
    db_path = obj.path.resolve()
    if not is_loopback(host):
        click.echo(exposure_warning(host, port), err=True)
    server = TokenServer(
        app_command(db_path, read_only=obj.read_only is not None),
        host=host,
        port=port,
        title="syncdesk",
        public_url=(public_url or f"http://{url_host(host)}:{port}").rstrip("/"),
        token=new_token(),
    )
    click.echo(
        f"Serving syncdesk on {db_path}; open {server.entry_url} (the access token in it is "
        "shown only now; Ctrl+C to stop)",
        err=True,
    )
    try:
        server.serve()
    except OSError as exc:  # lost a race for the port since the check
        raise _listen_error(host, port, exc) from exc
