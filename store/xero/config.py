"""Which Xero a session talks to, and how: configuration that cannot be half-right.

Setting any of the connection keys (client id, client secret, redirect URI, API, identity or
login URL) in the environment (`SYNCDESK_XERO_*`) or in the `[xero]` table of the config file
(`config.toml` in the user config directory, or the file SYNCDESK_CONFIG names) means the real
Xero. Then the client id and the redirect URI are required; the secret is optional (without it
syncdesk is a PKCE public client); the URLs, scopes, timeout and retries have defaults. Nothing
set means the embedded sandbox. A partial or invalid configuration is never "the sandbox": every
command that talks to Xero refuses, naming what is missing or wrong (`XeroSettings.require`).
The environment wins over the file.
"""

from __future__ import annotations

import ipaddress
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import platformdirs

from store.errors import InvalidConfig
from store.xero.client import DEFAULT_API, DEFAULT_IDENTITY, DEFAULT_LOGIN, SCOPES, XeroClient
from store.xero.sandbox import SANDBOX_LOGIN, SANDBOX_REDIRECT, SandboxTransport

MAX_TIMEOUT = 600.0  # seconds: a longer wait is a hang, not patience
MAX_RETRIES = 10
DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRIES = 3
ENV_PREFIX = "SYNCDESK_XERO_"
CONFIG_ENV = "SYNCDESK_CONFIG"

# Any of these set means "the real Xero".
CONNECTION_KEYS = (
    "client_id",
    "client_secret",
    "redirect_uri",
    "api_url",
    "identity_url",
    "login_url",
)
KEYS = (*CONNECTION_KEYS, "scopes", "timeout", "retries")
DEFAULTS: dict[str, Any] = {
    "api_url": DEFAULT_API,
    "identity_url": DEFAULT_IDENTITY,
    "login_url": DEFAULT_LOGIN,
    "scopes": SCOPES,
    "timeout": DEFAULT_TIMEOUT,
    "retries": DEFAULT_RETRIES,
}
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


def config_path() -> Path:
    """The config file: SYNCDESK_CONFIG, else config.toml in the user config directory
    (XDG_CONFIG_HOME/syncdesk on Linux)."""
    given = os.environ.get(CONFIG_ENV)
    if given:
        return Path(given).expanduser()
    return Path(platformdirs.user_config_dir("syncdesk", appauthor=False)) / "config.toml"


def env_name(key: str) -> str:
    return ENV_PREFIX + key.upper()


@dataclass(frozen=True)
class XeroSettings:
    """What `syncdesk config` shows and what a client is built from."""

    mode: str  # "sandbox" or "real"
    client_id: str | None
    client_secret: str | None = field(repr=False)
    redirect_uri: str
    api_url: str
    identity_url: str
    login_url: str
    scopes: str
    timeout: float
    retries: int
    sources: dict[str, str]
    config_file: str
    problems: tuple[str, ...] = ()

    @property
    def sandbox(self) -> bool:
        return self.mode == "sandbox"

    def require(self) -> XeroSettings:
        """These settings, or InvalidConfig naming every problem (before any call to Xero)."""
        if self.problems:
            raise InvalidConfig(
                f"The Xero configuration is {'incomplete' if self.mode == 'real' else 'invalid'}"
                f": {'; '.join(self.problems)}; correct or unset it (`syncdesk config` shows "
                "what is in use)."
            )
        return self

    def secret_exposure(self) -> str | None:
        """A warning (with the command that fixes it) when the client secret comes from the
        config file and other users can read that file; None otherwise."""
        if not self.sources.get("client_secret", "").startswith("config file"):
            return None
        try:
            exposed = os.stat(self.config_file).st_mode & 0o077
        except OSError:
            return None
        if not exposed:
            return None
        return (
            f"warning: {self.config_file} holds the Xero client secret and other users can "
            f"read it; `chmod 600 {self.config_file}`."
        )

    def describe(self) -> dict[str, Any]:
        """For `syncdesk config --json`: secrets masked, URL credentials hidden."""
        return {
            "xero": self.mode,
            "valid": not self.problems,
            "problems": list(self.problems),
            "config_file": self.config_file,
            "client_id": self.client_id,
            "client_secret": mask(self.client_secret),
            "redirect_uri": hide_userinfo(self.redirect_uri) if self.redirect_uri else None,
            "api_url": "embedded sandbox" if self.sandbox else hide_userinfo(self.api_url),
            "identity_url": "embedded sandbox"
            if self.sandbox
            else hide_userinfo(self.identity_url),
            "login_url": "embedded sandbox" if self.sandbox else hide_userinfo(self.login_url),
            "scopes": self.scopes,
            "timeout": self.timeout,
            "retries": self.retries,
            "sources": dict(self.sources),
        }


def mask(secret: str | None) -> str | None:
    return None if not secret else "********"


def hide_userinfo(url: str) -> str:
    """The URL with any user:password@ replaced by ***@."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(not a URL)"
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))


def _read_file(path: Path) -> tuple[dict[str, Any], list[str]]:
    """The [xero] table of the config file ({} when there is no file) and its problems."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}, []
    except OSError as exc:
        return {}, [f"the config file {path} cannot be read ({exc.strerror or exc})"]
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return {}, [f"the config file {path} is not valid TOML ({exc})"]
    table = data.get("xero", {})
    problems = [f"the config file {path} has an unknown table [{k}]" for k in data if k != "xero"]
    if not isinstance(table, dict):
        return {}, [*problems, f"in the config file {path}, xero must be a table ([xero])"]
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        problems.append(
            f"the config file {path} has unknown keys in [xero]: {', '.join(unknown)} "
            f"(known: {', '.join(KEYS)})"
        )
    return {k: v for k, v in table.items() if k in KEYS}, problems


def _number(value: Any, where: str, kind: type, most: float) -> tuple[Any, str | None]:
    wanted = (
        f"a number of seconds above 0 and at most {most:g}"
        if kind is float
        else f"a whole number from 0 to {most:g}"
    )
    try:
        if isinstance(value, bool) or (kind is int and isinstance(value, float)):
            raise ValueError
        number = kind(value)
    except (TypeError, ValueError):
        number = None
    low_ok = number is not None and (number > 0 if kind is float else number >= 0)
    if number is None or not math.isfinite(number) or not low_ok or number > most:
        return None, f"{where} must be {wanted} (got {value!r})"
    return number, None


def is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url(value: str, where: str) -> str | None:
    """Why value is not a usable URL for Xero, or None."""
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return f"{where} is not a URL (got {hide_userinfo(value)!r})"
    if parts.scheme not in ("http", "https") or not host:
        return f"{where} must be an http(s) URL with a host (got {hide_userinfo(value)!r})"
    if parts.scheme == "http" and not is_loopback(host):
        return f"{where} must use https unless it is on this machine (got {hide_userinfo(value)!r})"
    return None


def load_settings(environ: dict[str, str] | None = None) -> XeroSettings:
    """The settings from the environment and the config file, with every problem found."""
    env = os.environ if environ is None else environ
    path = config_path()
    from_file, problems = _read_file(path)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    wheres: dict[str, str] = {}
    for key in KEYS:
        name = env_name(key)
        if env.get(name, "") != "":
            values[key], sources[key], wheres[key] = env[name], f"env {name}", name
        elif key in from_file and from_file[key] not in ("", None):
            values[key], sources[key] = from_file[key], f"config file {path}"
            wheres[key] = f"{key} in {path}"
    real = any(key in values for key in CONNECTION_KEYS)
    for key in ("client_id", "client_secret", "redirect_uri", "api_url", "identity_url"):
        if key in values and not isinstance(values[key], str):
            problems.append(f"{wheres[key]} must be text (got {values[key]!r})")
            values.pop(key)
    if "login_url" in values and not isinstance(values["login_url"], str):
        problems.append(f"{wheres['login_url']} must be text")
        values.pop("login_url")
    scopes = values.get("scopes", DEFAULTS["scopes"])
    if isinstance(scopes, list) and all(isinstance(s, str) for s in scopes):
        scopes = " ".join(scopes)
    if not isinstance(scopes, str):
        problems.append(f"{wheres['scopes']} must be text or a list of text")
        scopes = DEFAULTS["scopes"]
    scopes = " ".join(scopes.split())
    if "offline_access" not in scopes.split():
        problems.append(
            f"{wheres.get('scopes', 'the scopes')} must include offline_access "
            "(without it Xero gives no refresh token)"
        )
    timeout, bad = _number(
        values.get("timeout", DEFAULT_TIMEOUT), wheres.get("timeout", ""), float, MAX_TIMEOUT
    )
    problems += [bad] if bad else []
    retries, bad = _number(
        values.get("retries", DEFAULT_RETRIES), wheres.get("retries", ""), int, MAX_RETRIES
    )
    problems += [bad] if bad else []
    if real:
        for key in ("client_id", "redirect_uri"):
            if key not in values:
                problems.append(
                    f"{env_name(key)} (or {key} in {path}) is not set, and the real Xero needs it"
                )
        for key in ("redirect_uri", "api_url", "identity_url", "login_url"):
            if key in values:
                bad = _url(values[key], wheres[key])
                problems += [bad] if bad else []
    for key in KEYS:
        missing = real and key in ("client_id", "redirect_uri") and key not in values
        fallback = "default" if real or key in ("timeout", "retries") else "sandbox"
        sources.setdefault(key, "MISSING" if missing else fallback)
    sources = {key: sources[key] for key in KEYS}
    return XeroSettings(
        mode="real" if real else "sandbox",
        client_id=values.get("client_id") if real else "syncdesk-sandbox",
        client_secret=values.get("client_secret") if real else "sandbox-secret",
        redirect_uri=values.get("redirect_uri") or ("" if real else SANDBOX_REDIRECT),
        api_url=(values.get("api_url") or DEFAULT_API).rstrip("/"),
        identity_url=(values.get("identity_url") or DEFAULT_IDENTITY).rstrip("/"),
        login_url=values.get("login_url") or DEFAULT_LOGIN,
        scopes=scopes,
        timeout=float(timeout if timeout is not None else DEFAULT_TIMEOUT),
        retries=int(retries if retries is not None else DEFAULT_RETRIES),
        sources=sources,
        config_file=str(path),
        problems=tuple(problems),
    )


def client_from_env(db: Any, **options: Any) -> XeroClient:
    """A client for the configured Xero: the real API, or the embedded sandbox on `db`.

    Raises InvalidConfig (naming what is missing or wrong) for a partial or invalid
    configuration. `options` go to XeroClient (tests pass sleep, clock, transport).
    """
    settings = load_settings().require()
    options.setdefault("timeout", settings.timeout)
    options.setdefault("retries", settings.retries)
    common = {
        "login_url": SANDBOX_LOGIN if settings.sandbox else settings.login_url,
        "scopes": settings.scopes,
        "redirect_uri": settings.redirect_uri,
    }
    if not settings.sandbox:
        return XeroClient(
            api_url=settings.api_url,
            identity_url=settings.identity_url,
            client_id=settings.client_id or "",
            client_secret=settings.client_secret,
            **common,
            **options,
        )
    transport = options.pop("transport", None) or SandboxTransport(db)
    return XeroClient(
        client_id="syncdesk-sandbox",
        client_secret="sandbox-secret",
        transport=transport,
        **common,
        **options,
    )
