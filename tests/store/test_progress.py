"""Long work says how far it has got and stops between items (store/progress.py): the live
check (one step per thing it asks Xero) and retry (one document at a time)."""

from __future__ import annotations

from store.checks import check, retry
from store.xero.health import CHECK_STEPS


def test_a_check_reports_each_step(db, xero) -> None:
    seen: list[tuple[int, int, str]] = []
    report = check(db, "HARBOUR", client=xero, progress=lambda *p: seen.append(p))
    assert report.healthy
    assert seen == [(i, 4, CHECK_STEPS[i]) for i in range(4)] + [(4, 4, "")]


def test_a_cancelled_check_says_what_it_did_not_do(db, xero) -> None:
    seen: list[tuple[int, int, str]] = []
    report = check(
        db,
        "HARBOUR",
        client=xero,
        progress=lambda *p: seen.append(p),
        cancelled=lambda: len(seen) >= 2,
    )
    assert not report.healthy
    cancelled = [f for f in report.findings if f.check == "cancelled"]
    assert [f.detail for f in cancelled] == [
        "Cancelled after 2 of 4 steps; not done: reading the Xero organisation, "
        "reading the chart of accounts and tax rates."
    ]
    assert [f.check for f in report.findings if f.ok][:2] == ["state", "token"]
    assert any(f.check == "connection" and f.ok for f in report.findings)
    assert not any(f.check in ("tenant", "mapping") for f in report.findings)


def test_retry_names_each_document_as_it_is_sent(db, xero) -> None:
    seen: list[tuple[int, int, str]] = []
    retry(db, "THISTLE", client=xero, progress=lambda *p: seen.append(p))
    numbers = [doing.removeprefix("sending ") for _, _, doing in seen[:-1]]
    queued = db.execute(
        "SELECT number FROM queue q JOIN orgs o ON o.id = q.org_id WHERE o.code = 'THISTLE'"
    ).fetchall()
    assert len(seen) == 4 and seen[-1] == (3, 3, "")
    assert set(numbers) <= {row[0] for row in queued} and len(set(numbers)) == 3
