"""`syncdesk sandbox serve`: the store's embedded Xero over HTTP (store/xero/sandbox_serve.py),
loopback by default, for the integration team and Xero's own SDKs."""

from __future__ import annotations

import click

from store.errors import SyncdeskError
from store.textsafe import visible
from store.xero.config import is_loopback
from tui.cli_base import Context, cli, pass_ctx

DEFAULT_PORT = 8765


@cli.group("sandbox")
def sandbox_group() -> None:
    """The embedded Xero sandbox (the store's sandbox tenants), on its own."""


@sandbox_group.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="Port to listen on (0: any free port).",
)
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Listen on an address other than loopback (the sandbox has no access control: "
    "anyone who reaches it can consent and read its tenants).",
)
@pass_ctx
def sandbox_serve(obj: Context, host: str, port: int, allow_remote: bool) -> None:
    """Serve the identity, token, consent and accounting endpoints over HTTP from the
    store's sandbox tables, as Xero does, until interrupted.

    \b
    On start it prints the three base URLs to put in SYNCDESK_XERO_API_URL,
    SYNCDESK_XERO_IDENTITY_URL and SYNCDESK_XERO_LOGIN_URL (and in a Xero SDK's
    configuration); /.well-known/openid-configuration is served as Xero's identity
    server does. The consent page accepts any client id (printed in the log) and
    connects the store's sandbox tenants. One line per request goes to stderr.
    """
    from store.xero.sandbox_serve import QUIRKS, SandboxServer, base_urls

    if not is_loopback(host) and not allow_remote:
        raise SyncdeskError(
            f"refusing to serve the Xero sandbox on {host}, which is not a loopback address; "
            f"use 127.0.0.1 and `ssh -L {port}:127.0.0.1:{port}`, or pass --allow-remote."
        )
    obj.db  # noqa: B018 - open (or create) the store first: a bad store fails here
    try:
        server = SandboxServer(
            obj.path, host, port, log=lambda line: click.echo(visible(line), err=True)
        )
    except OSError as exc:
        raise SyncdeskError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another --port."
        ) from exc
    click.echo(f"Xero sandbox serving {obj.path} on http://{host}:{server.port}")
    for name, url in base_urls(host, server.port).items():
        click.echo(f"  {name}={url}")
    click.echo(
        "  SYNCDESK_XERO_CLIENT_ID=any-id  SYNCDESK_XERO_REDIRECT_URI=http://localhost:PORT/callback"
    )
    click.echo("Xero's quirks reproduced:")
    for quirk in QUIRKS:
        click.echo(f"  - {quirk}")
    click.echo("Ctrl+C stops it.", err=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        click.echo("Stopped.", err=True)
    finally:
        server.server_close()
