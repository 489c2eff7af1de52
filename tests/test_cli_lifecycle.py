"""The lifecycle commands' contracts: exit codes (0 done, 1 refused, 2 usage), one clear stderr
line and no traceback on refusal, JSON that parses, and --actor in the audit trail."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from support import as_json, query, refused

from store.transitions import default_actor

GREENFIELD = "9b2e1d8f-e2a0-4f5b-8de9-8d2a6f4b0c17"
DEMO_AU = "a1c0e2f9-f3b1-4a6c-9ef0-9e3b7a5c1d28"


pytestmark = pytest.mark.usefixtures("sandbox_env")


def state_of(path: Path, code: str) -> tuple[str, int]:
    [row] = query(
        path,
        "SELECT i.state, i.version FROM integrations i JOIN orgs o ON o.id = i.org_id "
        "WHERE o.code = ?",
        code,
    )
    return row


# --- transitions -----------------------------------------------------------------------------


def test_deactivate_and_activate_json(cli, store_path: Path) -> None:
    off = as_json(cli("deactivate", "HARBOUR", "--actor", "alice", "--json"))
    assert {k: off[k] for k in ("code", "action", "before", "after", "version", "actor")} == {
        "code": "HARBOUR",
        "action": "deactivate",
        "before": "active",
        "after": "inactive",
        "version": 2,
        "actor": "alice",
    }
    assert isinstance(off["messages"], list) and off["messages"]
    on = as_json(cli("activate", "harbour", "--actor", "bob", "--json"))
    assert (on["before"], on["after"], on["version"], on["actor"]) == (
        "inactive",
        "active",
        3,
        "bob",
    )
    assert state_of(store_path, "HARBOUR") == ("active", 3)


def test_transition_text(cli) -> None:
    code, out, err = cli("deactivate", "HARBOUR", "--actor", "alice")
    assert code == 0 and err == ""
    assert out.splitlines()[0] == "HARBOUR: active -> inactive (version 2, by alice)"
    assert "held in the queue" in out


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["deactivate", "KELP"],
            "KELP is already inactive; from inactive you can activate, uninstall.",
        ),
        (
            ["activate", "HARBOUR"],
            "HARBOUR is already active; from active you can deactivate, uninstall.",
        ),
        (["reconnect", "HARBOUR"], "HARBOUR is already active; from active you can"),
        (
            ["deactivate", "COPPER"],
            "COPPER is uninstalled, so it cannot deactivate; from uninstalled you can reconnect.",
        ),
        (["uninstall", "COPPER", "--confirm", "COPPER"], "COPPER is already uninstalled"),
    ],
)
def test_refusals_are_one_line_and_exit_1(
    cli, store_path: Path, args: list[str], says: str
) -> None:
    code = args[1]
    before = state_of(store_path, code)
    result = cli(*args)
    assert says in refused(result)
    assert result[1] == ""
    assert state_of(store_path, code) == before


def test_stale_version_is_refused(cli) -> None:
    cli("deactivate", "HARBOUR", "--actor", "alice")
    line = refused(cli("activate", "HARBOUR", "--expect-version", "1", "--actor", "bob"))
    assert "changed by alice" in line and "reload" in line


@pytest.mark.parametrize(
    "args",
    [
        ["deactivate", "ACME"],
        ["activate", "ACME"],
        ["uninstall", "ACME", "--confirm", "ACME"],
        ["reconnect", "ACME"],
        ["map", "ACME", "sales_account", "default", "200"],
        ["snapshots", "ACME"],
        ["audit", "ACME"],
        ["diagnose", "ACME"],
        ["run", "start", "ACME"],
        ["run", "show", "ACME"],
        ["run", "next", "ACME"],
        ["run", "note", "ACME", "hello"],
        ["run", "resolve", "ACME"],
        ["run", "escalate", "ACME"],
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_unknown_org_exits_1_naming_it(cli, args: list[str]) -> None:
    assert "ACME" in refused(cli(*args))


@pytest.mark.parametrize(
    "args",
    [
        ["deactivate"],
        ["map", "KAURI", "sales_account"],
        ["reconnect", "COPPER", "--restore", "1", "--no-restore"],
        ["activate", "KELP", "--expect-version", "two"],
        ["audit", "--limit", "0"],
        ["run", "frobnicate", "KAURI"],
    ],
)
def test_usage_errors_exit_2(cli, store_path: Path, args: list[str]) -> None:
    code, out, err = cli(*args)
    assert code == 2, (out, err)
    assert err.strip()
    assert state_of(store_path, "COPPER") == ("uninstalled", 1)


# --- uninstall, snapshots, reconnect ---------------------------------------------------------


def test_uninstall_without_confirm_prints_the_plan_and_exits_1(cli, store_path: Path) -> None:
    result = cli("uninstall", "KAURI")
    line = refused(result)
    assert "Confirm with --confirm KAURI" in line
    out = result[1]
    assert out.startswith("Uninstalling KAURI (active) would remove:")
    assert "mappings" in out and "settings" in out and "Kauri Outdoor Supply Co" in out
    assert "and keep:" in out and "snapshot" in out
    assert state_of(store_path, "KAURI") == ("active", 1)
    assert query(store_path, "SELECT count(*) FROM snapshots") == [(0,)]

    result = cli("uninstall", "KAURI", "--json")
    assert "Confirm with --confirm KAURI" in refused(result)
    assert state_of(store_path, "KAURI") == ("active", 1)

    assert "Confirm with --confirm KAURI" in refused(
        cli("uninstall", "KAURI", "--confirm", "HARBOUR")
    )


def test_uninstall_confirmed_then_snapshots_json(cli, store_path: Path) -> None:
    done = as_json(cli("uninstall", "KAURI", "--confirm", "KAURI", "--actor", "alice", "--json"))
    assert (done["before"], done["after"], done["actor"]) == ("active", "uninstalled", "alice")
    assert isinstance(done["snapshot_id"], int)
    assert any("revoked" in m for m in done["messages"])
    assert state_of(store_path, "KAURI") == ("uninstalled", 2)

    [snap] = as_json(cli("snapshots", "KAURI", "--json"))
    assert snap["id"] == done["snapshot_id"]
    assert (snap["code"], snap["actor"], snap["state"], snap["restored_at"]) == (
        "KAURI",
        "alice",
        "active",
        None,
    )
    assert snap["tenant_name"] == "Kauri Outdoor Supply Co"
    assert isinstance(snap["settings"], dict) and snap["settings"]
    assert {"kind": "sales_account", "local": "group:Online", "remote": "220"} in snap["mappings"]

    code, out, _ = cli("snapshots", "KAURI")
    assert code == 0 and str(done["snapshot_id"]) in out and "alice" in out
    assert as_json(cli("snapshots", "HARBOUR", "--json")) == []


def test_uninstall_text_says_what_happened(cli) -> None:
    code, out, err = cli("uninstall", "HARBOUR", "--confirm", "harbour", "--actor", "alice")
    assert code == 0 and err == ""
    assert out.splitlines()[0] == "HARBOUR: active -> uninstalled (version 2, by alice)"
    assert "Snapshot" in out and "revoked in Xero" in out


def test_reconnect_json_restores_and_lists_problems(cli, store_path: Path) -> None:
    gone = as_json(cli("uninstall", "KAURI", "--confirm", "KAURI", "--json"))
    back = as_json(cli("reconnect", "KAURI", "--actor", "bob", "--json"))
    assert (back["before"], back["after"], back["actor"]) == ("uninstalled", "active", "bob")
    assert back["restored_snapshot"] == gone["snapshot_id"]
    assert back["tenant_changed"] is False and back["tenant_name"] == "Kauri Outdoor Supply Co"
    assert isinstance(back["problems"], list)
    [problem] = back["problems"]
    assert (problem["kind"], problem["local"], problem["remote"]) == (
        "sales_account",
        "group:Online",
        "220",
    )
    assert {"200", "210"} <= set(problem["suggestions"])
    [snap] = as_json(cli("snapshots", "KAURI", "--json"))
    assert snap["restored_at"] is not None
    assert query(
        store_path,
        "SELECT count(*) FROM mappings m JOIN orgs o ON o.id = m.org_id WHERE o.code = 'KAURI'",
    ) == [(len(snap["mappings"]),)]


def test_reconnect_text_and_no_restore(cli, store_path: Path) -> None:
    code, out, _ = cli("reconnect", "SXBREW", "--actor", "bob")
    assert code == 0
    assert out.splitlines()[0] == "SXBREW: disconnected -> active (version 2, by bob)"
    assert "Xero organisation: Southern Cross Brewing Pty Ltd" in out
    assert "DIFFERENT" not in out

    cli("uninstall", "HARBOUR", "--confirm", "HARBOUR")
    back = as_json(cli("reconnect", "HARBOUR", "--no-restore", "--json"))
    assert back["restored_snapshot"] is None and back["problems"] == []
    assert query(
        store_path,
        "SELECT count(*) FROM mappings m JOIN orgs o ON o.id = m.org_id WHERE o.code = 'HARBOUR'",
    ) == [(0,)]
    assert "no snapshot 77" in refused(cli("reconnect", "COPPER", "--restore", "77"))


def test_reconnect_to_another_tenant_needs_accept_new_tenant(cli, store_path: Path) -> None:
    cli("uninstall", "GREEN", "--confirm", "GREEN")
    line = refused(cli("reconnect", "GREEN", "--tenant-id", DEMO_AU))
    assert "Demo Company (AU)" in line and "Greenfield Garden Centre Pty Ltd" in line
    assert "--accept-new-tenant" in line
    assert state_of(store_path, "GREEN")[0] == "uninstalled"

    code, out, err = cli(
        "reconnect", "GREEN", "--tenant-id", DEMO_AU, "--accept-new-tenant", "--actor", "carol"
    )
    assert code == 0, err
    assert "Demo Company (AU)" in out and "DIFFERENT FROM BEFORE" in out
    [(tenant, previous)] = query(
        store_path,
        "SELECT tenant_id, previous_tenant_name FROM integrations i JOIN orgs o "
        "ON o.id = i.org_id WHERE o.code = 'GREEN'",
    )
    assert (tenant, previous) == (DEMO_AU, "Greenfield Garden Centre Pty Ltd")
    entry = as_json(cli("audit", "GREEN", "--json"))[0]
    assert (entry["actor"], entry["action"]) == ("carol", "reconnect")
    assert "TENANT CHANGED" in entry["detail"]


def test_reconnect_unknown_tenant_lists_choices(cli) -> None:
    cli("uninstall", "GREEN", "--confirm", "GREEN")
    line = refused(cli("reconnect", "GREEN", "--tenant-id", "nope"))
    assert "nope" in line and GREENFIELD in line and "Demo Company (AU)" in line


# --- map -------------------------------------------------------------------------------------


def test_map_refused_with_suggestions_then_ok(cli, store_path: Path) -> None:
    line = refused(cli("map", "KAURI", "sales_account", "group:Online", "999"))
    assert "account 999 does not exist" in line and "Codes that would do: 200, 210." in line
    assert state_of(store_path, "KAURI") == ("active", 1)

    change = as_json(
        cli("map", "KAURI", "sales_account", "group:Online", "210", "--actor", "alice", "--json")
    )
    assert (change["before"], change["after"], change["version"]) == ("220", "210", 2)
    entry = as_json(cli("audit", "KAURI", "--json"))[0]
    assert (entry["actor"], entry["action"]) == ("alice", "map")

    code, out, _ = cli("map", "BRIGHT", "tax_rate", "Export 0%", "ZERORATEDOUTPUT")
    assert code == 0
    assert out.strip() == (
        "BRIGHT: tax_rate Export 0%: TAX001 -> ZERORATEDOUTPUT (checked "
        "against Brightwater Pet Foods Ltd; version 2)"
    )

    assert "reconnect first" in refused(cli("map", "SXBREW", "sales_account", "default", "200"))
    assert "changed by alice" in refused(
        cli("map", "KAURI", "sales_account", "default", "200", "--expect-version", "1")
    )


# --- audit and --actor -----------------------------------------------------------------------


def test_audit_json_fields_and_actor(cli) -> None:
    cli("deactivate", "HARBOUR", "--actor", "alice")
    cli("deactivate", "KAURI", "--actor", "bob")
    entries = as_json(cli("audit", "HARBOUR", "--json"))
    first = entries[0]
    assert {"at", "org", "actor", "action", "before_state", "after_state"} <= set(first)
    assert (
        first["org"],
        first["actor"],
        first["action"],
        first["before_state"],
        first["after_state"],
    ) == ("HARBOUR", "alice", "deactivate", "active", "inactive")
    assert first["at"].endswith("Z")
    assert all(e["org"] == "HARBOUR" for e in entries)

    every = as_json(cli("audit", "--json"))
    assert {"HARBOUR", "KAURI"} <= {e["org"] for e in every}
    assert every[0]["org"] == "KAURI" and every[0]["actor"] == "bob"  # newest first
    assert len(as_json(cli("audit", "--limit", "1", "--json"))) == 1

    code, out, _ = cli("audit", "HARBOUR")
    assert code == 0 and "deactivate active->inactive" in out and "alice" in out


def test_actor_defaults_to_the_login_name(cli) -> None:
    cli("deactivate", "HARBOUR")
    assert as_json(cli("audit", "HARBOUR", "--json"))[0]["actor"] == default_actor()


# --- diagnose --------------------------------------------------------------------------------


def test_diagnose_json_has_a_verdict(cli) -> None:
    found = as_json(cli("diagnose", "KAURI", "--json"))
    assert (found["code"], found["state"]) == ("KAURI", "active")
    verdict = found["verdict"]
    assert {"kind", "title", "cause", "fix", "refresh_helps", "refresh_step", "next_step"} <= set(
        verdict
    )
    assert verdict["kind"] == "account_code_removed" and verdict["refresh_helps"] is False
    assert "syncdesk map KAURI" in verdict["next_step"]
    assert isinstance(found["findings"], list) and isinstance(found["groups"], list)
    assert any(not f["ok"] and "220" in f["detail"] for f in found["findings"])


def test_diagnose_text(cli) -> None:
    code, out, err = cli("diagnose", "SXBREW")
    assert code == 0 and err == ""
    assert out.startswith("SXBREW  Southern Cross Brewing")
    assert "Verdict: Integration disconnected from the Xero side" in out
    assert "refresh sequence: will help (reconnect step)" in out
    assert "Next: " in out


# --- runs ------------------------------------------------------------------------------------


def test_run_claim_note_next_take_over_resolve(cli) -> None:
    started = as_json(
        cli("run", "start", "KAURI", "--actor", "alice", "--json", "--override-verdict", "asked")
    )
    assert (started["status"], started["claimed_by"], started["current"]) == (
        "in_progress",
        "alice",
        0,
    )
    line = refused(cli("run", "start", "KAURI", "--actor", "bob"))
    assert "alice" in line and started["claimed_at"] in line
    assert "claimed by alice" in refused(cli("run", "next", "KAURI", "--actor", "bob"))
    assert "claimed by alice" in refused(cli("run", "note", "KAURI", "me too", "--actor", "bob"))
    assert "claimed by alice" in refused(cli("run", "resolve", "KAURI", "--actor", "bob"))

    code, out, _ = cli("run", "note", "KAURI", "customer on the phone", "--actor", "alice")
    assert code == 0 and "Noted on run" in out
    code, out, _ = cli("run", "next", "KAURI", "--actor", "alice")
    assert code == 0
    assert "[✓] 1. diagnose" in out and ">[ ] 2. deactivate" in out
    assert "Next: deactivate" in out

    shown = as_json(cli("run", "show", "KAURI", "--json"))
    assert shown["current"] == 1
    assert shown["steps"][0]["status"] == "done" and shown["steps"][0]["actor"] == "alice"
    assert shown["steps"][0]["detail"]["verdict"]["refresh_helps"] is False
    assert [n["text"] for n in shown["notes"]] == ["customer on the phone"]

    code, out, _ = cli("run", "next", "KAURI", "--actor", "bob", "--take-over")
    assert code == 0 and "claimed by bob" in out
    shown = as_json(cli("run", "show", "KAURI", "--json"))
    assert shown["claimed_by"] == "bob" and shown["steps"][1]["actor"] == "bob"
    assert "took the run over from alice" in [n["text"] for n in shown["notes"]]

    code, out, _ = cli("run", "resolve", "KAURI", "--actor", "bob")
    assert code == 0 and "resolved by bob" in out
    shown = as_json(cli("run", "show", "KAURI", "--json"))
    assert shown["status"] == "resolved" and shown["current"] is None
    assert "No refresh run in progress on KAURI" in refused(cli("run", "next", "KAURI"))
    actions = [e["action"] for e in as_json(cli("audit", "KAURI", "--json"))]
    assert {"run_start", "run_take_over", "run_resolved"} <= set(actions)


def test_run_start_take_over(cli) -> None:
    cli("run", "start", "HARBOUR", "--actor", "alice")
    code, out, _ = cli("run", "start", "HARBOUR", "--actor", "bob", "--take-over")
    assert code == 0 and "claimed by bob" in out
    shown = as_json(cli("run", "show", "HARBOUR", "--json"))
    assert (shown["started_by"], shown["claimed_by"]) == ("alice", "bob")


def test_run_show_without_a_run(cli) -> None:
    code, out, err = cli("run", "show", "HARBOUR")
    assert code == 1 and "HARBOUR has never had a refresh run" in err
    assert len(err.strip().splitlines()) == 1
    assert as_json(cli("run", "show", "HARBOUR", "--json")) is None


def test_run_escalate_out_writes_both_files(cli, tmp_path: Path) -> None:
    cli("run", "start", "BRIGHT", "--actor", "alice")
    cli("run", "note", "BRIGHT", "TAX001 archived by their accountant", "--actor", "alice")
    out_file = tmp_path / "tickets" / "bright.md"
    code, out, err = cli("run", "escalate", "BRIGHT", "--out", str(out_file), "--actor", "alice")
    assert code == 0, err
    js = out_file.with_suffix(".json")
    assert out_file.exists() and js.exists()
    assert str(out_file) in out and str(js) in out
    assert "TAX001 archived by their accountant" in out_file.read_text(encoding="utf-8")
    data = json.loads(js.read_text(encoding="utf-8"))
    assert data["organisation"]["code"] == "BRIGHT"
    shown = as_json(cli("run", "show", "BRIGHT", "--json"))
    assert shown["status"] == "escalated" and shown["packet"] == str(out_file)


def test_run_next_drives_to_escalation(cli, sandbox_env: Path, tmp_path: Path) -> None:
    # KAURI's verdict is a mapping: after diagnose the run offers map, never an uninstall.
    cli("run", "start", "KAURI", "--actor", "alice")
    code, out, err = cli("run", "next", "KAURI", "--actor", "alice")
    assert code == 0, err
    shown = as_json(cli("run", "show", "KAURI", "--json"))
    assert [s["name"] for s in shown["steps"]] == ["diagnose", "map", "verify"]
    assert "uninstall" not in out
    line = refused(cli("run", "next", "KAURI", "--actor", "alice"))
    assert "220" in line and "200, 210" in line and "syncdesk map KAURI" in line
    shown = as_json(cli("run", "show", "KAURI", "--json"))
    assert shown["status"] == "in_progress" and shown["outcome"] is None
    assert "still fail" in shown["next_action"]  # the run says what to do next
    code, out, _ = cli("run", "show", "KAURI")
    assert "still fail" in out

    out_path = tmp_path / "ticket.md"
    code, out, err = cli("run", "escalate", "KAURI", "--actor", "alice", "--out", str(out_path))
    assert code == 0, err
    shown = as_json(cli("run", "show", "KAURI", "--json"))
    assert shown["status"] == "escalated" and shown["outcome"] == "escalated"
    assert out_path.exists() and (tmp_path / "ticket.json").exists()
    assert f"Packet: {out_path}" in cli("run", "show", "KAURI")[1]
    assert "No refresh run in progress" in refused(cli("run", "escalate", "KAURI"))


def test_run_next_uninstall_needs_confirm(cli, store_path: Path) -> None:
    cli("run", "start", "KAURI", "--actor", "alice", "--override-verdict", "asked")
    for _ in range(3):
        cli("run", "next", "KAURI", "--actor", "alice")
    line = refused(cli("run", "next", "KAURI", "--actor", "alice"))
    assert "Confirm with --confirm KAURI" in line
    assert state_of(store_path, "KAURI")[0] == "active"
    code, out, _ = cli("run", "next", "KAURI", "--confirm", "KAURI", "--actor", "alice")
    assert code == 0 and "[✓] 4. uninstall" in out


def test_escalate_refuses_to_overwrite_or_follow_a_link(cli, tmp_path: Path) -> None:
    cli("run", "start", "BRIGHT", "--actor", "alice")
    taken = tmp_path / "taken.md"
    taken.write_text("someone's notes")
    code, _, err = cli("run", "escalate", "BRIGHT", "--out", str(taken), "--actor", "alice")
    assert code == 1 and "already exists" in err and "--force" in err
    assert taken.read_text() == "someone's notes"
    assert as_json(cli("run", "show", "BRIGHT", "--json"))["status"] == "in_progress"
    target = tmp_path / "elsewhere.txt"
    link = tmp_path / "link.md"
    link.symlink_to(target)
    code, _, err = cli(
        "run", "escalate", "BRIGHT", "--out", str(link), "--force", "--actor", "alice"
    )
    assert code == 1 and "symbolic link" in err and not target.exists()
    code, _, err = cli(
        "run", "escalate", "BRIGHT", "--out", str(taken), "--force", "--actor", "alice"
    )
    assert code == 0, err
    assert "someone's notes" not in taken.read_text()
    for path in (taken, taken.with_suffix(".json")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_packet_names_cannot_leave_the_packets_directory(db, tmp_path: Path) -> None:
    from store.models import Run
    from store.packet import packet_path

    run = Run(**{f: None for f in Run.__dataclass_fields__} | {"code": "../../x/TRAV", "id": 3})
    path = packet_path(run, None, tmp_path / "packets")
    assert path.parent == tmp_path / "packets" and ".." not in path.name


def test_run_next_with_another_customers_code_is_refused(cli, sandbox_env: Path) -> None:
    cli("run", "start", "SXBREW", "--actor", "alice")
    code, _, err = cli("run", "next", "SXBREW", "--confirm", "WATTLE", "--actor", "alice")
    assert code == 1 and "does not name SXBREW" in err and len(err.strip().splitlines()) == 1
    shown = as_json(cli("run", "show", "SXBREW", "--json"))
    assert all(s["status"] in ("todo", "skipped") for s in shown["steps"])
