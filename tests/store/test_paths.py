"""store.paths.path_text names a path as pathlib does, so the store opens (and its errors name
it) without importing pathlib: `syncdesk log` starts without it (issue 17)."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import pytest

from store.db import open_store, read_only_reason
from store.errors import StoreMissing, StoreUnreadable
from store.paths import path_text, write_blocker
from store.storefile import exposure_warning

ODD = [
    "", ".", "./", "a", "a/", "./a", "a//b", "a/./b", "a/../b", "/", "//", "///", "//a",
    "///a/b/", "/tmp/x.db", "~/x", "a/b/.", "..", "../a", " a ", "a/ /b", "é/ß.db",
]  # fmt: skip


@pytest.mark.parametrize("text", ODD)
def test_path_text_is_what_pathlib_writes(text: str) -> None:
    assert path_text(text) == str(PurePosixPath(text))
    assert path_text(Path(text)) == str(Path(text))
    assert (os.path.dirname(path_text(text)) or ".") == str(PurePosixPath(text).parent)


def test_a_missing_store_is_named_as_pathlib_names_it(tmp_path: Path) -> None:
    typed = f"{tmp_path}//./nowhere.db/"
    with pytest.raises(StoreMissing) as caught:
        open_store(typed)
    assert str(caught.value) == (
        f"No store at {tmp_path / 'nowhere.db'}; create one with "
        f"`syncdesk --db {tmp_path / 'nowhere.db'} init`."
    )


def test_a_directory_and_an_empty_file_are_named_too(tmp_path: Path) -> None:
    with pytest.raises(StoreUnreadable, match=f"^{tmp_path} is a directory"):
        open_store(f"{tmp_path}/")
    empty = tmp_path / "empty.db"
    empty.touch()
    with pytest.raises(StoreUnreadable, match=f"^{empty} is an empty file, not a syncdesk"):
        open_store(f"{tmp_path}/./empty.db")


def test_read_only_reason_and_exposure_take_text_or_paths(store_path: Path) -> None:
    assert read_only_reason(str(store_path)) is None
    assert write_blocker(str(store_path)) is None and write_blocker(store_path) is None
    store_path.chmod(0o644)  # readable by every user
    for given in (store_path, str(store_path), f"{store_path.parent}//{store_path.name}"):
        warning = exposure_warning(given)
        assert warning is not None and f"warning: {store_path} can be read by every" in warning
    store_path.chmod(0o600)
    assert exposure_warning(str(store_path)) is None
