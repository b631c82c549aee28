"""The SARIF renderer writes logs GitHub code scanning accepts."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from audits.engine.issues import Severity
from audits.engine.registry import SPECS
from audits.engine.render import sarif
from audits.engine.scan import ScanResult, Target, TargetResult

from .render_fixtures import sample_issues, sample_result

LEVELS = {"none", "note", "warning", "error"}
URI_REFERENCE = re.compile(r"^[A-Za-z0-9._~!$&'()*+,;=:@/%-]+$")


def _text(message: Any, where: str) -> None:
    assert isinstance(message, dict), where
    assert isinstance(message.get("text"), str) and message["text"], where


def _uri(location: dict[str, Any], where: str) -> None:
    uri = location.get("uri")
    assert isinstance(uri, str) and uri, where
    assert URI_REFERENCE.match(uri), f"{where}: not a URI reference: {uri!r}"
    if "uriBaseId" in location:
        first = uri.split("/", 1)[0]
        assert not uri.startswith("/") and ":" not in first, f"{where}: {uri}"
    else:
        assert uri.startswith("file:///"), f"{where}: {uri}"


def validate_sarif(log: dict[str, Any]) -> None:
    """Check the SARIF 2.1.0 schema's required fields and GitHub's rules."""
    assert log["version"] == "2.1.0"
    assert isinstance(log["runs"], list) and log["runs"]
    for run in log["runs"]:
        driver = run["tool"]["driver"]
        assert isinstance(driver["name"], str) and driver["name"]
        rules = driver.get("rules", [])
        ids = [r["id"] for r in rules]
        assert len(ids) == len(set(ids)), "rule ids must be unique"
        for r in rules:
            where = f"rule {r['id']}"
            for key in ("shortDescription", "fullDescription", "help"):
                _text(r[key], f"{where} {key}")
            assert r["help"]["markdown"], where
            assert r["defaultConfiguration"]["level"] in LEVELS, where
            props = r["properties"]
            assert all(isinstance(t, str) for t in props["tags"]), where
            if "security-severity" in props:
                assert 0.0 < float(props["security-severity"]) <= 10.0, where
        for base in run.get("originalUriBaseIds", {}).values():
            assert isinstance(base, dict)
        for invocation in run.get("invocations", []):
            assert isinstance(invocation["executionSuccessful"], bool)
            for note in invocation.get("toolExecutionNotifications", []):
                _text(note["message"], "notification")
        for n, result in enumerate(run["results"]):
            where = f"result {n}"
            _text(result["message"], where)
            assert result["level"] in LEVELS, where
            assert result["ruleId"] in ids, where
            assert ids[result["ruleIndex"]] == result["ruleId"], where
            assert result["locations"], f"{where}: GitHub needs a location"
            for location in result["locations"]:
                physical = location["physicalLocation"]
                _uri(physical["artifactLocation"], where)
                assert physical["region"]["startLine"] >= 1, where
                for logical in location.get("logicalLocations", []):
                    assert logical["fullyQualifiedName"], where
            fingerprints = result["partialFingerprints"]
            assert all(isinstance(v, str) for v in fingerprints.values()), where


def render(result: ScanResult, base: Path) -> dict[str, Any]:
    log: dict[str, Any] = json.loads(sarif.render(result, base=base))
    return log


def test_sarif_log_passes_the_structural_validator(tmp_path: Path) -> None:
    validate_sarif(render(sample_result(), tmp_path))


def test_sarif_rules_cover_the_whole_catalogue_with_help() -> None:
    log = sarif.as_data(ScanResult((), ()))
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert {r["id"] for r in rules} == set(SPECS)
    spec = SPECS["fk-conflicting-declarations"]
    rule = next(r for r in rules if r["id"] == spec.id)
    assert spec.remediation in rule["help"]["text"]
    assert spec.remediation in rule["help"]["markdown"]
    assert rule["defaultConfiguration"]["level"] == "error"
    assert rule["properties"]["security-severity"] == "9.5"
    info = next(r for r in rules if SPECS[r["id"]].severity is Severity.INFO)
    assert "security-severity" not in info["properties"]


def test_sarif_results_carry_our_fingerprints(tmp_path: Path) -> None:
    log = render(sample_result(), tmp_path)
    got = {
        r["partialFingerprints"][sarif.FINGERPRINT_KEY]
        for r in log["runs"][0]["results"]
    }
    assert got == {i.fingerprint for i in sample_issues()}


def test_code_issue_has_a_relative_physical_location(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "db.py").write_text("x = 1\n")
    log = render(sample_result(), tmp_path)
    result = next(
        r for r in log["runs"][0]["results"] if r["ruleId"] == "txn-lost-update"
    )
    physical = result["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"] == {
        "uri": "app/db.py",
        "uriBaseId": "%SRCROOT%",
    }
    assert physical["region"]["startLine"] == 40
    assert result["level"] == "error"


def test_schema_issue_has_logical_location_and_ddl_file(tmp_path: Path) -> None:
    (tmp_path / "schema.sql").write_text("CREATE TABLE t (id int);\n")
    log = render(sample_result(), tmp_path)
    result = next(
        r
        for r in log["runs"][0]["results"]
        if r["ruleId"] == "fk-conflicting-declarations"
    )
    location = result["locations"][0]
    assert location["logicalLocations"] == [
        {"fullyQualifiedName": "schedules.user_id", "name": "user_id", "kind": "member"}
    ]
    assert location["physicalLocation"]["artifactLocation"]["uri"] == "schema.sql"
    assert location["physicalLocation"]["region"]["startLine"] == 12


def test_live_schema_issue_without_file_points_at_the_target(tmp_path: Path) -> None:
    pg = Target("postgresql", "postgresql://app:pw@db.example:5432/app")
    issue = sample_issues()[0].with_changes(sources=(pg.label,))
    result = ScanResult((TargetResult(pg, ok=True, issues=(issue,)),), (issue,))
    log = render(result, tmp_path)
    validate_sarif(log)
    artifact = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"][
        "artifactLocation"
    ]
    assert artifact == {
        "uri": "postgresql/db.example%3A5432/app",
        "uriBaseId": "TARGET",
    }
    assert "pw" not in json.dumps(log)


def test_sqlite_target_under_the_base_is_a_relative_uri(tmp_path: Path) -> None:
    db = tmp_path / "var" / "app.db"
    db.parent.mkdir()
    db.write_bytes(b"SQLite format 3\x00")
    target = Target("sqlite", str(db))
    issue = sample_issues()[0].with_changes(sources=(target.label,))
    result = ScanResult((TargetResult(target, ok=True, issues=(issue,)),), (issue,))
    artifact = render(result, tmp_path)["runs"][0]["results"][0]["locations"][0][
        "physicalLocation"
    ]["artifactLocation"]
    assert artifact == {"uri": "var/app.db", "uriBaseId": "%SRCROOT%"}


def test_failed_targets_become_error_notifications(tmp_path: Path) -> None:
    invocation = render(sample_result(), tmp_path)["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    messages = [n["message"]["text"] for n in invocation["toolExecutionNotifications"]]
    assert any("could not connect" in m for m in messages)
