"""The console filters the organisation list in memory: the same rows as asking the store."""

from __future__ import annotations

import pytest

from store.errors import InvalidQuery
from store.orgs import filter_orgs, list_orgs

SEARCHES = [None, "harb", "HARB", "a", "Ltd", "wattle", "xyz-none", "%", "_", "  "]


def test_filtering_in_memory_gives_the_store_s_rows(db) -> None:
    db.execute("UPDATE orgs SET name = 'Café Ōtautahi' WHERE code = 'KELP'")
    db.execute("UPDATE integrations SET tenant_name = NULL WHERE org_id = 1")
    everything = list_orgs(db)
    for state in (None, "active", "inactive", "disconnected", "uninstalled"):
        for search in [*SEARCHES, "café", "CAFÉ", "ōtau"]:
            expected = list_orgs(db, state=state, search=search)
            got = filter_orgs(everything, state=state, search=search)
            assert [o.code for o in got] == [o.code for o in expected], (state, search)
    assert [o.code for o in filter_orgs(everything, search="harb")]  # not vacuous


def test_unknown_state_is_refused() -> None:
    with pytest.raises(InvalidQuery):
        filter_orgs([], state="sleeping")
