"""Where syncdesk keeps its files, for the command line and the console alike.

Everything lives under the user's data directory (platformdirs), unless a path is given:
the store (`--db` or SYNCDESK_DB win), escalation packets, and CSV exports.
"""

from __future__ import annotations

from pathlib import Path

import platformdirs


def data_dir() -> Path:
    """The user's syncdesk data directory (XDG_DATA_HOME/syncdesk on Linux)."""
    return Path(platformdirs.user_data_dir("syncdesk", appauthor=False))


def default_db_path() -> Path:
    """Where the store lives when --db and SYNCDESK_DB are not given."""
    return data_dir() / "syncdesk.db"


def packets_dir() -> Path:
    """Where escalation packets go unless --out says otherwise."""
    return data_dir() / "packets"


def exports_dir() -> Path:
    """Where the console's CSV exports go unless a path is typed."""
    return data_dir() / "exports"
