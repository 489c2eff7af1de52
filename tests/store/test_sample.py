"""Sample data: the shipped YAML loads and covers every state; each kind of bad YAML is named."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from store.errors import SampleDataError
from store.generate import build_store
from store.kb import Classifier
from store.sample import load_knowledge, load_orgs
from store.sample_xero import load_xero
from store.sample_yaml import sample_dir
from store.schema import STATES


def test_shipped_sample_loads() -> None:
    knowledge = load_knowledge()
    tenants = load_xero()
    orgs = load_orgs(tenants)
    assert len(knowledge) >= 25
    assert 10 <= len(orgs) <= 20
    assert {o.state for o in orgs} == set(STATES)
    for entry in knowledge:
        assert entry.cause and entry.fix and entry.refresh_step


def test_tenants_have_realistic_charts() -> None:
    for tenant in load_xero().values():
        types = {a["type"] for a in tenant.accounts}
        assert {"REVENUE", "DIRECTCOSTS", "CURRENT", "BANK"} <= types
        assert all(a["status"] in ("ACTIVE", "ARCHIVED") for a in tenant.accounts)
        assert tenant.tax_rates and all(t["status"] for t in tenant.tax_rates)


def test_broken_tenants_differ_from_their_chart() -> None:
    tenants = load_xero()
    assert "220" not in {a["code"] for a in tenants["kauri"].accounts}
    archived = {t["tax_type"]: t["status"] for t in tenants["brightwater"].tax_rates}
    assert archived["TAX001"] == "ARCHIVED"
    assert tenants["thistle"].behaviour["rate_limit"]["retry_after"] == 37


def test_every_knowledge_example_classifies_as_itself() -> None:
    knowledge = load_knowledge()
    classify = Classifier(knowledge)
    for entry in knowledge:
        assert classify(entry.example) == entry.kind, entry.kind


def test_every_sample_incident_is_a_known_error() -> None:
    """The demo log uses Xero's wording, so the knowledge base recognises every incident."""
    classify = Classifier(load_knowledge())
    for org in load_orgs(load_xero()):
        for incident in (i for i in org.incidents if i.level == "error"):
            message = re.sub(r"\{\w+\}", "X-00000001", incident.message)
            assert classify(message), f"{org.code}: {incident.message}"


# --- bad YAML: each names the file and the key ------------------------------------------------


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(sample_dir(), target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


def _edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _build(data_dir: Path, tmp_path: Path) -> None:
    build_store(tmp_path / "out.db", data_dir=data_dir)


def test_yaml_syntax_error_names_file_and_line(data_dir: Path, tmp_path: Path) -> None:
    (data_dir / "orgs.yaml").write_text("version: 1\norgs:\n  - code: A\n    name: [unclosed\n")
    with pytest.raises(SampleDataError, match=r"orgs\.yaml: line \d+, column \d+: invalid YAML"):
        _build(data_dir, tmp_path)


@pytest.mark.parametrize(
    ("file", "change", "expected"),
    [
        (
            "orgs.yaml",
            lambda d: d["orgs"][2].update(state="broken"),
            r"orgs\.yaml:\d+: orgs\[2\]\.state: must be one of active, inactive",
        ),
        (
            "orgs.yaml",
            lambda d: d["orgs"][0].pop("name"),
            r"orgs\.yaml:\d+: orgs\[0\]\.name: missing",
        ),
        (
            "orgs.yaml",
            lambda d: d["orgs"][1].update(colour="red"),
            r"orgs\.yaml:\d+: orgs\[1\]\.colour: unknown key",
        ),
        (
            "orgs.yaml",
            lambda d: d["orgs"][1]["xero"].update(tenant="atlantis"),
            r"orgs\.yaml:\d+: orgs\[1\]\.xero\.tenant: no tenant 'atlantis' in xero\.yaml",
        ),
        (
            "orgs.yaml",
            lambda d: d["orgs"][1].update(code=d["orgs"][0]["code"]),
            r"orgs\.yaml:\d+: orgs\[1\]\.code: duplicate code",
        ),
        (
            "orgs.yaml",
            lambda d: d["orgs"][0].update(code="lower case"),
            r"orgs\.yaml:\d+: orgs\[0\]\.code: must be",
        ),
        (
            "orgs.yaml",
            lambda d: d["orgs"][1].update(queue={"failed": "many"}),
            r"orgs\.yaml:\d+: orgs\[1\]\.queue\.failed: expected a whole number, got text",
        ),
        (
            "orgs.yaml",
            lambda d: d["orgs"][1]["log"]["incidents"][0].update(count=3),
            r"orgs\.yaml:\d+: orgs\[1\]\.log\.incidents\[0\]: give exactly one of per_day or count",
        ),
        (
            "orgs.yaml",
            lambda d: d["orgs"][1]["log"]["incidents"][0].update(message="{BOGUS} x"),
            r"unknown placeholder \{BOGUS\}",
        ),
        (
            "orgs.yaml",
            lambda d: d.update(version=2),
            r"orgs\.yaml:\d+: version: this syncdesk reads",
        ),
        ("orgs.yaml", lambda d: d.update(orgs={"a": 1}), r"orgs\.yaml:\d+: orgs: expected a list"),
        (
            "xero.yaml",
            lambda d: d["tenants"][0].update(id="not-a-uuid"),
            r"xero\.yaml:\d+: tenants\[0\]\.id: must be a lower-case UUID",
        ),
        (
            "xero.yaml",
            lambda d: d["charts"]["NZ"]["accounts"][0].update(status="GONE"),
            r"xero\.yaml:\d+: charts\.NZ\.accounts\[0\]\.status: must be one of ACTIVE, ARCHIVED",
        ),
        (
            "xero.yaml",
            lambda d: d["charts"]["NZ"]["tax_rates"][0].update(rate="high"),
            r"xero\.yaml:\d+: charts\.NZ\.tax_rates\[0\]\.rate: expected a number",
        ),
        (
            "knowledge_base.yaml",
            lambda d: d["errors"][0].update(pattern="(unclosed"),
            r"knowledge_base\.yaml:\d+: errors\[0\]\.pattern: not a valid regular expression",
        ),
        (
            "knowledge_base.yaml",
            lambda d: d["errors"][0].update(example="nothing like it"),
            r"knowledge_base\.yaml:\d+: errors\[0\]\.example: does not match its own pattern",
        ),
        (
            "knowledge_base.yaml",
            lambda d: d["errors"][1].update(kind=d["errors"][0]["kind"]),
            r"knowledge_base\.yaml:\d+: errors\[1\]\.kind: duplicate kind",
        ),
        (
            "knowledge_base.yaml",
            lambda d: d["errors"][0].update(refresh_step="pray"),
            r"knowledge_base\.yaml:\d+: errors\[0\]\.refresh_step: must be one of",
        ),
        (
            "knowledge_base.yaml",
            lambda d: d["errors"][0].update(retryable="yes please"),
            r"knowledge_base\.yaml:\d+: errors\[0\]\.retryable: expected true/false",
        ),
    ],
)
def test_bad_yaml_is_named(
    data_dir: Path, tmp_path: Path, file: str, change, expected: str
) -> None:
    _edit(data_dir / file, change)
    with pytest.raises(SampleDataError, match=expected):
        _build(data_dir, tmp_path)


def test_file_that_is_not_a_mapping(data_dir: Path, tmp_path: Path) -> None:
    (data_dir / "xero.yaml").write_text("- just\n- a list\n")
    with pytest.raises(SampleDataError, match=r"xero\.yaml:\d+: top level: expected a mapping"):
        _build(data_dir, tmp_path)


def test_missing_file(data_dir: Path, tmp_path: Path) -> None:
    (data_dir / "knowledge_base.yaml").unlink()
    with pytest.raises(SampleDataError, match="knowledge_base.yaml: cannot read"):
        _build(data_dir, tmp_path)


def test_bad_yaml_leaves_existing_store_alone(data_dir: Path, store_path: Path) -> None:
    before = store_path.read_bytes()
    (data_dir / "orgs.yaml").write_text("version: 1\norgs: [\n")
    with pytest.raises(SampleDataError):
        build_store(store_path, force=True, data_dir=data_dir)
    assert store_path.read_bytes() == before
