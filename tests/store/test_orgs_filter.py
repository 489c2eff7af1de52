"""The console filters the organisation list in memory (store.orgs.find_orgs over the rows
list_orgs loaded): a state or a word of text finds the rows asking the store would, and more."""

from __future__ import annotations

from dataclasses import replace

import pytest

from store.errors import InvalidQuery
from store.orgs import find_orgs, list_orgs
from store.schema import STATES

# Words that are no prefix of a state or an auth health: text in code, name or tenant only.
SEARCHES = ["harb", "HARB", "Ltd", "wattle", "xyz-none", "%", "_", "café"]


def test_filtering_in_memory_gives_the_store_s_rows(db) -> None:
    db.execute("UPDATE orgs SET name = 'Café Ōtautahi' WHERE code = 'KELP'")
    db.execute("UPDATE integrations SET tenant_name = NULL WHERE org_id = 1")
    everything = list_orgs(db)
    for state in (None, *STATES):
        for search in [None, *SEARCHES]:
            expected = list_orgs(db, state=state, search=search)
            typed = " ".join(w for w in (f"state:{state}" if state else "", search or "") if w)
            got = find_orgs(everything, typed).orgs
            assert [o.code for o in got] == [o.code for o in expected], (state, search)
    assert [o.code for o in find_orgs(everything, "harb").orgs]  # not vacuous
    # Richer than SQL's LIKE: any letter's case is ignored, not only ASCII's.
    assert [o.code for o in find_orgs(everything, "CAFÉ ŌTAU").orgs] == ["KELP"]
    assert list_orgs(db, search="CAFÉ") == [] and list_orgs(db, search="ōtau") == []


def test_no_store_is_needed(db) -> None:
    everything = list_orgs(db)
    db.conn.close()  # the filter runs over the loaded rows alone
    found = find_orgs(everything, "state:active zzqx")
    assert found.orgs == [] and found.unmatched == ("zzqx",)


def test_reconsent_finds_those_on_the_deprecated_scopes(db) -> None:
    everything = list_orgs(db)
    flagged = [replace(o, needs_reconsent=o.code == "KELP") for o in everything]
    assert [o.code for o in find_orgs(flagged, "RECONSENT").orgs] == ["KELP"]
    assert find_orgs(flagged, "reconsent kauri").unmatched == ()  # each matches, not both
    nobody = [replace(o, needs_reconsent=False) for o in everything]
    assert find_orgs(nobody, "reconsent").unmatched == ("reconsent",)


def test_unknown_state_is_refused() -> None:
    with pytest.raises(InvalidQuery):
        find_orgs([], "state:sleeping")
