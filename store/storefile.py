"""The store as a file: replacing it safely (init --force) and saying when it is exposed.

A build happens in a temporary file of its own beside the store, under an exclusive lock on
`.NAME.lock`, so two builds of one store queue up instead of sharing (and deleting) each
other's files, and a build killed halfway leaves the store as it was. The store it replaces
is kept beside it as `NAME.STAMP.bak` (with its WAL, so nothing committed is lost), and the new
store takes the old one's permissions. `exposure_warning` says when a store holding
customers' tokens can be read by every user of the machine.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from store import clock
from store.paths import create_private, path_text

if TYPE_CHECKING:
    from pathlib import Path

try:  # POSIX; on Windows builds are not locked against each other
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

_BUILDING = ".building"


@contextmanager
def build_lock(path: Path) -> Iterator[None]:
    """Hold the exclusive build lock of the store at path (waiting for another build to end).

    The lock is the operating system's (flock): a killed build releases it. Files left by a
    killed build are removed once the lock is held, since no build can be using them.
    """
    lock_path = path.with_name(f".{path.name}.lock")
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not lock_path.exists():
        try:
            create_private(lock_path)
        except FileExistsError:
            pass  # another build created it first
    with open(lock_path, "a") as handle:
        if fcntl is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        for stale in path.parent.glob(f".{path.name}.*{_BUILDING}*"):
            stale.unlink(missing_ok=True)
        yield  # closing the file releases the lock


def temporary_path(path: Path) -> Path:
    """A build's own temporary file beside the store (a name no other build uses)."""
    import secrets  # (imported when a build needs it, not at every command's start)

    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}{_BUILDING}")


def keep_previous(path: Path, built: Path) -> Path | None:
    """Before `built` replaces the store at path: keep the store (and its WAL) as a
    timestamped backup beside it, give `built` the store's permissions, and return where the
    backup is (None when there was no store).

    Hard links where the file system has them (instant, and the store never goes missing),
    copies otherwise. Raises OSError.
    """
    from pathlib import Path  # (every command calls exposure_warning; only a build this)

    if not path.exists():
        return None
    mode = stat.S_IMODE(path.stat().st_mode)
    stamp = clock.now().strftime("%Y%m%dT%H%M%SZ")
    backup = path.with_name(f"{path.name}.{stamp}.bak")
    number = 1
    while backup.exists() or Path(f"{backup}-wal").exists():
        number += 1
        backup = path.with_name(f"{path.name}.{stamp}-{number}.bak")
    for suffix in ("", "-wal"):  # the WAL holds committed changes not yet in the file
        source = Path(f"{path}{suffix}")
        if source.exists():
            _link_or_copy(source, Path(f"{backup}{suffix}"))
    os.chmod(built, mode)
    return backup


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        import shutil

        shutil.copy2(source, target)


def exposure_warning(path: str | os.PathLike[str]) -> str | None:
    """A warning when the store (or its WAL) can be read by every user of this machine, with
    the command that fixes it; None when it is private."""
    text = path_text(path)
    files = [p for p in (text, f"{text}-wal", f"{text}-shm") if os.path.exists(p)]
    try:
        exposed = [p for p in files if os.stat(p).st_mode & stat.S_IROTH]
    except OSError:
        return None
    if not exposed:
        return None
    mode = stat.S_IMODE(os.stat(exposed[0]).st_mode)
    names = " ".join(files)
    return (
        f"warning: {exposed[0]} can be read by every user of this machine (mode {mode:04o}) "
        "and holds customers' Xero tokens; make it private with `chmod o-rwx "
        f"{names}` (0660 for a support group, see the README)."
    )
