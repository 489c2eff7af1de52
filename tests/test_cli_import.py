"""`syncdesk import`: the sample data into an empty store gives what `init` gives; one bad key
imports nothing; organisations are upserted by code with a version and an audit row; real
Xero organisations get no tokens from files; a knowledge base re-classifies the log."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from store.db import open_store
from store.sample_yaml import sample_dir

SAMPLE = sample_dir()
FILES = ("orgs.yaml", "xero.yaml", "knowledge_base.yaml")
REAL_TENANT = "0b7c3a52-5d1e-4c8a-9f43-2a6d8e1f0c9b"


@pytest.fixture
def run(cli):
    """`syncdesk --db DB ARGS` in-process (the clock frozen as for every test)."""
    return lambda db, *args: cli(*args, db=db)


@pytest.fixture
def empty(run, tmp_path: Path) -> Path:
    path = tmp_path / "empty.db"
    assert run(path, "init", "--empty")[0] == 0
    return path


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A copy of sample_data/ to edit."""
    folder = tmp_path / "data"
    folder.mkdir()
    for name in FILES:
        shutil.copy(SAMPLE / name, folder / name)
    return folder


def _json(run, db: Path, *args: str):
    code, out, err = run(db, *args, "--json")
    assert code == 0, err
    return json.loads(out)


def test_sample_data_imported_into_an_empty_store_gives_what_init_gives(
    run, store_path: Path, empty: Path
) -> None:
    """The same organisations, integrations, tokens' expiry, settings, mappings and queue. What
    differs: errors_24h and the 7-day trend (init also generates a week of log rows; an import
    brings no log, `ingest` does) and updated_by (the importing actor instead of `sample`)."""
    code, out, err = run(empty, "import", *(str(SAMPLE / f) for f in FILES), "--actor", "ana")
    assert code == 0, err
    assert "added 12" in out
    built, imported = _json(run, store_path, "orgs"), _json(run, empty, "orgs")
    assert [o["code"] for o in built] == [o["code"] for o in imported]
    for a, b in zip(built, imported, strict=True):
        differs = {k for k in a if a[k] != b[k]}
        assert differs <= {"errors_24h", "trend"}, (a["code"], differs)
        assert b["errors_24h"] == 0 and set(b["trend"]) == {0}
        shown_a = _json(run, store_path, "show", a["code"])
        shown_b = _json(run, empty, "show", a["code"])
        differs = {k for k in shown_a if shown_a[k] != shown_b[k]}
        assert differs <= {"errors_24h", "updated_by"}, (a["code"], differs)
        assert shown_b["updated_by"] == "ana"
    db = open_store(empty)
    trail = db.execute("SELECT DISTINCT actor, action FROM audit").fetchall()
    assert [tuple(r) for r in trail] == [("ana", "import")]
    again = _json(run, empty, "import", *(str(SAMPLE / f) for f in FILES))
    assert again["orgs"]["added"] == [] and len(again["orgs"]["unchanged"]) == 12
    assert again["reclassified"] is None and again["knowledge"]["added"] == []


def test_one_bad_key_imports_nothing_and_names_file_line_and_key(
    run, empty: Path, data: Path
) -> None:
    text = (data / "orgs.yaml").read_text()
    (data / "orgs.yaml").write_text(text.replace("    state: inactive\n", "    state: paused\n"))
    line = next(
        n for n, t in enumerate((data / "orgs.yaml").read_text().splitlines(), 1) if "paused" in t
    )
    code, out, err = run(empty, "import", *(str(data / f) for f in FILES))
    assert code == 1 and out == ""
    assert f"orgs.yaml:{line}: orgs[7].state: must be one of" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    db = open_store(empty)
    for table in ("orgs", "integrations", "sandbox_tenants", "audit", "queue"):
        assert db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table


def test_a_json_file_with_the_same_keys(run, empty: Path, data: Path) -> None:
    for name in ("orgs", "xero"):
        content = yaml.safe_load((data / f"{name}.yaml").read_text())
        (data / f"{name}.json").write_text(json.dumps(content, indent=1))
    assert run(empty, "import", str(data / "orgs.json"), str(data / "xero.json"))[0] == 0
    assert len(_json(run, empty, "orgs")) == 12
    broken = json.loads((data / "orgs.json").read_text())
    broken["orgs"][1]["colour"] = "red"
    (data / "orgs.json").write_text(json.dumps(broken, indent=1))
    line = next(
        n for n, t in enumerate((data / "orgs.json").read_text().splitlines(), 1) if "colour" in t
    )
    code, _, err = run(empty, "import", str(data / "orgs.json"), str(data / "xero.json"))
    assert code == 1 and f"orgs.json:{line}: orgs[1].colour: unknown key" in err
    code, _, err = run(empty, "import", str(data / "orgs.json"))
    assert code == 1 and "no tenant 'harbourside' in the import's xero files or the store" in err


def _orgs_file(folder: Path, orgs: list[dict]) -> Path:
    path = folder / "team.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "orgs": orgs}, sort_keys=False))
    return path


def test_upsert_by_code_bumps_version_audits_and_snapshots(
    run, store_path: Path, tmp_path: Path
) -> None:
    before = _json(run, store_path, "show", "KAURI")
    kauri = {
        "code": "KAURI",
        "name": before["name"],
        "region": "NZ",
        "state": "inactive",
        "xero": {"tenant": before["tenant_id"]},  # a tenant the store has, by id
        "settings": {**before["settings"], "invoice_status": "DRAFT"},
        "mappings": [{"kind": "sales_account", "local": "default", "remote": "201"}],
    }
    harbour = _json(run, store_path, "show", "HARBOUR")
    same = {
        "code": "HARBOUR",
        "name": harbour["name"],
        "region": "NZ",
        "state": "active",
        "xero": {"tenant": harbour["tenant_id"]},
        "settings": harbour["settings"],
        "mappings": harbour["mappings"],
    }
    real = {
        "code": "ACME",
        "name": "Acme Widgets Ltd",
        "region": "NZ",
        "state": "active",
        "xero": {"tenant_id": REAL_TENANT, "tenant_name": "Acme Widgets"},
        "settings": {"invoice_status": "AUTHORISED"},
        "mappings": [{"kind": "sales_account", "local": "default", "remote": "200"}],
    }
    path = _orgs_file(tmp_path, [kauri, same, real])
    plan = _json(run, store_path, "import", str(path), "--dry-run")
    assert plan["dry_run"] is True and plan["orgs"]["added"] == ["ACME"]
    assert plan["orgs"]["unchanged"] == ["HARBOUR"]
    assert plan["orgs"]["changed"] == [
        {"code": "KAURI", "file": "team.yaml", "fields": ["state", "settings", "mappings"]}
    ]
    assert _json(run, store_path, "show", "KAURI") == before  # a dry run changes nothing
    code, out, err = run(store_path, "import", str(path), "--actor", "ana")
    assert code == 0, err
    assert "changed 1 (KAURI: state, settings, mappings)" in out
    after = _json(run, store_path, "show", "KAURI")
    assert after["version"] == before["version"] + 1 and after["state"] == "inactive"
    assert after["settings"]["invoice_status"] == "DRAFT" and after["updated_by"] == "ana"
    assert after["mappings"] == [{"kind": "sales_account", "local": "default", "remote": "201"}]
    assert _json(run, store_path, "show", "HARBOUR")["version"] == harbour["version"]
    audit = _json(run, store_path, "audit", "KAURI")[0]
    assert (audit["actor"], audit["action"]) == ("ana", "import")
    assert "state, settings, mappings" in audit["detail"] and "snapshot" in audit["detail"]
    snap = _json(run, store_path, "snapshots", "KAURI")[0]
    assert {"kind": "sales_account", "local": "group:Online", "remote": "220"} in snap["mappings"]
    acme = _json(run, store_path, "show", "ACME")
    assert (acme["tenant_id"], acme["tenant_name"]) == (REAL_TENANT, "Acme Widgets")
    assert acme["token_expires_at"] is None and acme["queue"]["exported"] == 0
    listed = {o["code"]: o for o in _json(run, store_path, "orgs")}
    assert listed["ACME"]["auth"] == "expired"  # no tokens from a file: reconnect by consent
    db = open_store(store_path)
    oid = db.execute("SELECT id FROM orgs WHERE code = 'ACME'").fetchone()[0]
    assert db.execute("SELECT count(*) FROM credentials WHERE org_id = ?", [oid]).fetchone()[0] == 0


def test_tokens_are_never_read_from_files(run, store_path: Path, tmp_path: Path) -> None:
    real = {
        "code": "ACME",
        "name": "Acme",
        "region": "NZ",
        "state": "active",
        "xero": {"tenant_id": REAL_TENANT, "tenant_name": "Acme", "refresh_token": "rt-123"},
    }
    code, _, err = run(store_path, "import", str(_orgs_file(tmp_path, [real])))
    assert code == 1 and "orgs[0].xero.refresh_token: must be valid or expired" in err
    assert "rt-123" not in err
    real["xero"]["refresh_token"] = "valid"
    code, _, err = run(store_path, "import", str(_orgs_file(tmp_path, [real])))
    assert code == 1 and "orgs[0].xero.refresh_token: only a sandbox tenant has this" in err
    real["xero"] = {"tenant": "harbourside", "access_token": "at-secret"}
    path = _orgs_file(tmp_path, [real])
    code, _, err = run(store_path, "import", str(path), str(SAMPLE / "xero.yaml"))
    assert code == 1 and "orgs[0].xero.access_token: must be valid or expired" in err
    assert "at-secret" not in err  # what may be a token is never echoed


def test_an_imported_knowledge_base_reclassifies_the_log(run, store_path: Path, data: Path) -> None:
    kb = yaml.safe_load((data / "knowledge_base.yaml").read_text())
    slow = {
        **next(e for e in kb["errors"] if e["kind"] == "timeout"),
        "kind": "slow_xero",
        "title": "Xero was slow to answer",
    }
    kb["errors"] = [slow] + [e for e in kb["errors"] if e["kind"] != "timeout"]
    (data / "knowledge_base.yaml").write_text(yaml.safe_dump(kb, sort_keys=False))
    timeouts = next(g for g in _json(run, store_path, "errors") if g["kind"] == "timeout")
    done = _json(run, store_path, "import", str(data / "knowledge_base.yaml"))
    assert done["knowledge"]["added"] == ["slow_xero"]
    assert done["knowledge"]["removed"] == ["timeout"]
    assert done["knowledge"]["changed"] == []  # the others are the same entries
    assert done["knowledge"]["reordered"] is False  # in the same order
    assert done["reclassified"] >= timeouts["count"]
    groups = {g["kind"]: g for g in _json(run, store_path, "errors")}
    assert "timeout" not in groups and groups["slow_xero"]["count"] == timeouts["count"]
    assert groups["slow_xero"]["title"] == "Xero was slow to answer"
    listed = {e["kind"]: e for e in _json(run, store_path, "kb")}
    assert listed["slow_xero"]["matched_7d"] == timeouts["count"]
