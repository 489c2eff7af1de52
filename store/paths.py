"""Where syncdesk keeps its files, for the command line and the console alike.

Everything lives under the user's data directory (platformdirs), unless a path is given:
the store (`--db` or SYNCDESK_DB win), escalation packets, and CSV exports.
"""

from __future__ import annotations

import os
import re
import stat
from typing import TYPE_CHECKING, TextIO

from store.errors import SyncdeskError

if TYPE_CHECKING:
    from pathlib import Path

# pathlib (with urllib.parse and ipaddress, ~4 ms) is imported by the functions that make a Path:
# opening a store given by --db (`syncdesk log`) works on the path's text alone (issue 17).


def path_text(path: str | os.PathLike[str]) -> str:
    """The path as pathlib writes it (str(PurePosixPath(path))): no empty or "." parts, no
    trailing slash, "." for nothing; so messages name a path the same way with or without
    pathlib."""
    text = os.fsdecode(path)
    root = "/" if text.startswith("/") else ""
    if text.startswith("//") and not text.startswith("///"):
        root = "//"  # POSIX leaves a leading // to the system; pathlib keeps it
    parts = [part for part in text.split("/") if part and part != "."]
    return (root + "/".join(parts)) or "."


def data_dir() -> Path:
    """The user's syncdesk data directory (XDG_DATA_HOME/syncdesk on Linux)."""
    from pathlib import Path

    import platformdirs  # here, not at start-up: a command given --db never needs it

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


def private_mode(directory: Path) -> int:
    """0600 for a file of ours, or 0660 when its directory is shared with a group (setgid or
    group-writable, the shared-support-host setup): the store holds every customer's tokens."""
    shared = directory.stat().st_mode & (stat.S_ISGID | stat.S_IWGRP)
    return 0o660 if shared else 0o600


def create_private(path: Path) -> None:
    """Create an empty file readable by its owner (and group, in a shared directory) only.

    SQLite creates the -wal and -shm files with the database file's permissions.
    """
    mode = private_mode(path.parent)
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode)
    os.close(fd)
    os.chmod(path, mode)  # the umask may have taken bits away; it cannot add any


def write_blocker(path: str | os.PathLike[str]) -> str | None:
    """Why the file system does not let this user change the store at path (the cause, in a
    few words), or None when it does. SQLite needs the directory too, for its -wal and -shm."""
    text = path_text(path)
    if os.path.exists(text) and not os.access(text, os.W_OK):
        return f"you cannot write {text}"
    parent = os.path.dirname(text) or "."  # what Path.parent names
    if os.path.exists(parent) and not os.access(parent, os.W_OK):
        return f"you cannot write its directory {parent}"
    return None


def safe_name(text: str) -> str:
    """A file-name part from outside text (an organisation code): letters, digits, - and _
    only, so a code such as '../../x' cannot steer a file out of its directory."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_")
    return cleaned[:64] or "unnamed"


def write_private(path: Path, text: str, *, force: bool = False) -> None:
    """Write text to a new file readable only by its owner (and group, in a shared directory).

    Never follows a symlink, and never replaces an existing file unless `force`.

    Raises FileExistsError (exists, force not given), IsADirectoryError, OSError.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.is_symlink():
        raise FileExistsError(f"{path} is a symbolic link; syncdesk does not write through one")
    if force and path.exists():
        if path.is_dir():
            raise IsADirectoryError(f"{path} is a directory")
        path.unlink()
    mode = private_mode(path.parent)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, mode)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
        os.fchmod(out.fileno(), mode)  # the umask may have taken bits away
        out.write(text)


def export_target(typed: str, *, confined: bool = False) -> Path:
    """Where the console's CSV export goes for what was typed: a bare file name goes into the
    exports directory, a path (`~/x.csv`, `reports/x.csv`, `/tmp/x.csv`) where it says.

    `confined` (the console served to a browser) keeps every export inside the data directory,
    so a browser cannot write any file the server's user can. Raises SyncdeskError (nothing
    typed; outside the data directory when confined; a symbolic link; an existing file).
    """
    from pathlib import Path

    text = typed.strip()
    if not text:
        raise SyncdeskError("Type a file name for the export.")
    bare = Path(text).name == text and text not in (".", "..", "~")
    path = exports_dir() / text if bare else Path(text).expanduser()
    if confined:
        inside = data_dir().resolve()
        resolved = path.resolve()
        if resolved != inside and inside not in resolved.parents:
            raise SyncdeskError(
                f"In the browser an export can only be written inside {inside}; "
                "type a file name to write it to the exports directory."
            )
    if path.is_symlink():
        raise SyncdeskError(f"{path} is a symbolic link; syncdesk does not write through one.")
    if path.exists():
        raise SyncdeskError(f"{path} already exists; type another name.")
    return path


def open_private(path: Path) -> TextIO:
    """A new file for writing text, readable only by its owner (and group, in a shared
    directory); never through a symbolic link, never over an existing file (FileExistsError).
    Creates the exports directory (0700) when the file is to go there."""
    if path.parent == exports_dir():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = private_mode(path.parent)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, mode)
    os.fchmod(fd, mode)  # the umask may have taken bits away
    return os.fdopen(fd, "w", encoding="utf-8", newline="")
