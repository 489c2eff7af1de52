"""`syncdesk serve`: the same console in a web browser, through textual-serve.

textual-serve starts one app process per browser tab and has no authentication of its own, so
the server binds to loopback unless told otherwise, and says loudly when it is not.
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
        f"syncdesk: WARNING: serving on {host}:{port}, which is not a loopback address. "
        "textual-serve has no authentication: anyone who can reach this port gets the full "
        "console and can deactivate, uninstall and reconnect organisations. Bind to 127.0.0.1 "
        "and put an authenticating reverse proxy (SSO, basic auth over TLS) in front of it."
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
    help="Address to listen on. Anything but loopback exposes the console without a login: "
    "put an authenticating reverse proxy in front instead.",
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
def serve(obj: Context, host: str, port: int, public_url: str | None) -> None:
    """Serve the console in a web browser (textual-serve), on the same store.

    Each browser tab runs its own copy of the console on this store. There is no login:
    keep the default loopback address and reach it through an SSH tunnel or an
    authenticating reverse proxy. Stop with Ctrl+C.
    """
    try:
        from textual_serve.server import Server  # only this command needs aiohttp
    except ImportError as exc:
        raise SyncdeskError(
            "textual-serve is not installed; install it with `pip install textual-serve`."
        ) from exc
    check_can_listen(host, port)
    obj.db  # noqa: B018 - open (or create) the store now, so a bad one fails here, not per tab
    db_path = obj.path.resolve()
    if not is_loopback(host):
        click.echo(exposure_warning(host, port), err=True)
    server = Server(
        app_command(db_path, read_only=obj.read_only is not None),
        host=host,
        port=port,
        title="syncdesk",
        public_url=(public_url or f"http://{url_host(host)}:{port}").rstrip("/"),
    )
    click.echo(f"Serving syncdesk on {db_path} at {server.public_url} (Ctrl+C to stop)", err=True)
    try:
        server.serve()
    except OSError as exc:  # lost a race for the port since the check
        raise _listen_error(host, port, exc) from exc
