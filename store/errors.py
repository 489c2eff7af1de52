"""Every failure a person at the keyboard can act on.

    SyncdeskError                  one sentence: what happened, what to try next (exit code 1)
    ├── StoreError
    │   ├── StoreMissing           no file at the path
    │   ├── StoreUnreadable        not SQLite, truncated, corrupt, or not a syncdesk store
    │   │   └── StoreDamaged       PRAGMA quick_check confirms damage (never said otherwise)
    │   ├── StoreTooNew            written by a newer syncdesk (PRAGMA user_version ahead of us)
    │   ├── StoreExists            init refused to overwrite
    │   ├── StoreBusy              another session held the write lock past the busy timeout
    │   ├── StoreReadOnly          the file system does not let this user write the store
    │   ├── StoreFull              the disk is full: nothing was written
    │   ├── StoreIOError           the operating system reported an I/O error
    │   └── StoreBadValue          one value is unreadable (bad UTF-8); the store is sound
    ├── SampleDataError            bad YAML or JSON, named by file, line and key
    ├── InvalidConfig              an environment variable holds a value syncdesk cannot use
    ├── InputUnreadable            a file to ingest cannot be read (missing, a directory, denied)
    ├── NotFound
    │   └── UnknownOrganisation
    ├── InvalidQuery               a filter the store cannot run (bad --since, bad search syntax)
    ├── TransitionRefused          a state change the state table does not allow
    │   ├── VersionConflict        someone else changed the integration since you looked
    │   ├── RunClaimed             someone else holds the refresh run (--take-over)
    │   └── XeroWaiting            Xero cannot answer now: nothing irreversible before .until
    ├── RetryRefused               retry asked of an integration that is not active
    └── XeroError                  Xero said no, or could not be asked; carries kind,
        │                          correlation_id, status and log_message (the log wording)
        ├── XeroAuthExpired        401: access token expired or invalid
        ├── XeroTokenRefused       the token endpoint refused (invalid_client, ...)
        │   └── XeroInvalidGrant   refresh token expired, revoked or reused: reconnect
        ├── XeroForbidden          403 AuthorizationUnsuccessful: role or scope missing
        │   └── XeroConnectionRemoved  403 AuthenticationUnsuccessful / not in /connections
        ├── XeroNotFound           404
        ├── XeroValidation         400 ValidationException; .messages holds Xero's texts
        ├── XeroRateLimited        429; .retry_after (seconds) and .problem (minute, day, ...)
        ├── XeroServerError        5xx after the retries (503 "Organisation offline" included)
        ├── XeroTimeout            no answer within the timeout, after the retries
        ├── XeroUnreachable        DNS, refused connection, TLS, bad URL
        ├── XeroBadResponse        malformed JSON or an answer of the wrong shape
        └── XeroConsentRequired    authorising needs a person in a browser

A XeroError's texts are redacted (store/redact.py) as it is made: Xero's answers may echo
credentials. Lower-level errors become these at one place per source: sqlite3 in db.py, yaml
in sample_yaml.py, httpx in xero/client.py.
"""

from __future__ import annotations

from store.redact import redact


class SyncdeskError(Exception):
    """A failure the person at the keyboard can act on (exit code 1)."""


class StoreError(SyncdeskError):
    """The store cannot be used."""


class StoreMissing(StoreError):
    """No store at the given path."""


class StoreUnreadable(StoreError):
    """The file is not a usable syncdesk store."""


class StoreTooNew(StoreError):
    """The store was written by a newer syncdesk."""


class StoreExists(StoreError):
    """init would overwrite an existing store."""


class StoreBusy(StoreError):
    """Another session held the store's write lock for longer than the busy timeout."""


class StoreReadOnly(StoreError):
    """The store (or its directory, for the WAL files) cannot be written by this user."""


class StoreFull(StoreError):
    """The disk or file system holding the store is full."""


class StoreIOError(StoreError):
    """The operating system failed a read or write of the store."""


class StoreBadValue(StoreError):
    """One stored value cannot be read (not valid UTF-8, say); the store itself is sound."""


class StoreDamaged(StoreUnreadable):
    """SQLite's own integrity check finds the store damaged."""


class SampleDataError(SyncdeskError):
    """Sample or imported YAML (or JSON) is malformed; the message names file, line and key."""


class InputUnreadable(SyncdeskError):
    """A file given to `ingest` cannot be read, or is not in the format it should be."""


class InvalidConfig(SyncdeskError):
    """An environment variable holds a value syncdesk cannot use; the message names it."""


class ConsentRefused(SyncdeskError):
    """A consent redirect syncdesk cannot use: a wrong or expired state, error=access_denied,
    no code. The message says which, and how to start again."""


class NotFound(SyncdeskError):
    """Something named on the command line does not exist."""


class UnknownOrganisation(NotFound):
    """No organisation has that code."""

    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(f"No organisation with code {code!r}; `syncdesk orgs` lists the codes.")


class InvalidQuery(SyncdeskError):
    """A filter the store cannot run."""


class TransitionRefused(SyncdeskError):
    """A state change the state table does not allow from here."""


class VersionConflict(TransitionRefused):
    """Someone else changed the integration since the caller looked at it."""


class RunClaimed(TransitionRefused):
    """Someone else holds the run on this organisation."""


class RetryRefused(SyncdeskError):
    """Exports are only sent for an active integration."""


class XeroWaiting(TransitionRefused):
    """Xero or the tenant cannot answer now (rate-limited, offline, unreachable): nothing
    irreversible is done before `until` (an ISO time)."""

    def __init__(self, message: str, *, until: str) -> None:
        super().__init__(message)
        self.until = until


class XeroError(SyncdeskError):
    """Xero refused a call or could not be reached.

    `kind` is the knowledge-base kind that explains it, `log_message` the connection-log wording
    (the knowledge base's patterns recognise it), `correlation_id` Xero's Xero-Correlation-Id.
    Neither the message nor any attribute ever holds a token or a secret.
    """

    default_kind: str | None = None

    def __init__(
        self,
        message: str,
        *,
        kind: str | None = None,
        correlation_id: str | None = None,
        status: int | None = None,
        log_message: str | None = None,
    ) -> None:
        message = redact(message)  # Xero's answers may echo credentials
        super().__init__(message)
        self.kind = kind or self.default_kind
        self.correlation_id = correlation_id
        self.status = status
        self.log_message = redact(log_message) if log_message else message


class XeroAuthExpired(XeroError):
    """401: the access token is expired or not valid."""

    default_kind = "auth_expired"


class XeroTokenRefused(XeroError):
    """The token endpoint refused the request (invalid_client, unsupported_grant_type, ...)."""

    default_kind = "token_refresh_failed"


class XeroInvalidGrant(XeroTokenRefused):
    """invalid_grant: the refresh token (or code) expired, was revoked or was already used."""

    default_kind = "refresh_token_invalid"


class XeroForbidden(XeroError):
    """403 AuthorizationUnsuccessful: the user lacks the role, or the app the scope."""

    default_kind = "authorization_failed"


class XeroConnectionRemoved(XeroForbidden):
    """403 AuthenticationUnsuccessful on a tenant, or the tenant missing from /connections."""

    default_kind = "connection_removed"

    def __init__(self, message: str, *, tenant_id: str | None = None, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.tenant_id = tenant_id


class XeroNotFound(XeroError):
    """404: no such resource."""

    default_kind = "document_not_found"


class XeroValidation(XeroError):
    """400 ValidationException; `messages` are Xero's own ValidationErrors[].Message texts."""

    default_kind = "validation_exception"

    def __init__(self, message: str, *, messages: tuple[str, ...] = (), **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.messages = tuple(redact(m) for m in messages)


class XeroRateLimited(XeroError):
    """429: `retry_after` seconds to wait, `problem` is Xero's X-Rate-Limit-Problem."""

    default_kind = "rate_limited"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        problem: str | None = None,
        **kwargs,
    ) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after
        self.problem = problem


class XeroServerError(XeroError):
    """5xx from Xero, still failing after the retries."""

    default_kind = "xero_server_error"


class XeroTimeout(XeroError):
    """Xero did not answer in time, after the retries."""

    default_kind = "timeout"


class XeroUnreachable(XeroError):
    """Xero could not be reached at all: DNS, refused connection, TLS, a bad URL."""

    default_kind = "xero_unavailable"


class XeroBadResponse(XeroError):
    """Xero answered with something syncdesk cannot read (malformed JSON, wrong shape)."""

    default_kind = "xero_server_error"


class XeroConsentRequired(XeroError):
    """Authorising the app needs a person to sign in to Xero in a browser."""

    default_kind = "refresh_token_invalid"
