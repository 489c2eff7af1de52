"""Every failure a person at the keyboard can act on.

    SyncdeskError                  one sentence: what happened, what to try next (exit code 1)
    ├── StoreError
    │   ├── StoreMissing           no file at the path
    │   ├── StoreUnreadable        not SQLite, truncated, corrupt, or not a syncdesk store
    │   ├── StoreTooNew            written by a newer syncdesk (PRAGMA user_version ahead of us)
    │   └── StoreExists            init refused to overwrite
    ├── SampleDataError            bad YAML, named by file and key
    ├── NotFound
    │   └── UnknownOrganisation
    ├── InvalidQuery               a filter the store cannot run (bad --since, bad search syntax)
    └── TransitionRefused          a state change the state table does not allow

Lower-level errors become these at one place per source: sqlite3 in db.py, yaml in sample.py.
"""

from __future__ import annotations


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


class SampleDataError(SyncdeskError):
    """Sample or knowledge-base YAML is malformed; the message names the file and key."""


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
