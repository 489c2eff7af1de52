"""store.models.to_json: the one way a store value becomes JSON."""

from __future__ import annotations

import json
from dataclasses import asdict

from store.enums import RunStatus, State, StepName, StepStatus, Transition
from store.models import Mapping, OrgDetail, Run, Step, TransitionResult, to_json


def _result() -> TransitionResult:
    return TransitionResult(
        "KAURI",
        Transition.DEACTIVATE,
        State.ACTIVE,
        State.INACTIVE,
        2,
        "alice",
        "2026-11-24T12:00:00Z",
        ("3 pending exports held",),
    )


def test_a_dataclass_is_its_fields_in_order_with_enums_as_their_words() -> None:
    data = to_json(_result())
    assert list(data) == list(asdict(_result()))
    assert type(data["before"]) is str and data["before"] == "active"
    assert data["messages"] == ["3 pending exports held"]
    assert json.dumps(data) == json.dumps(asdict(_result()))


def test_nested_values_lists_and_dicts_are_converted_all_the_way_down() -> None:
    mapping = Mapping("sales_account", "default", "200")
    data = to_json({State.ACTIVE: [(mapping,)], "n": None})
    assert data == {
        "active": [[{"kind": "sales_account", "local": "default", "remote": "200"}]],
        "n": None,
    }
    assert type(next(iter(data))) is str


def test_a_dataclass_with_its_own_to_json_gets_its_own_shape() -> None:
    step = Step(0, StepName.DIAGNOSE, StepStatus.TODO, None, None, None, None, None)
    run = Run(
        1, "KAURI", RunStatus.IN_PROGRESS, "t", "a", "a", "t", None, (step,), (), (), None, None
    )
    data = to_json([run])
    assert data[0]["current"] == 0 and data[0]["steps"][0]["status"] == "todo"


def test_org_detail_json_matches_its_fields(db) -> None:
    from store.orgs import show_org

    detail = show_org(db, "KAURI")
    assert isinstance(detail, OrgDetail)
    assert json.dumps(to_json(detail)) == json.dumps(asdict(detail))
