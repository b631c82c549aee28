"""The JSON renderer follows DESIGN.md's command-line contract."""

from __future__ import annotations

import json

from audits.engine.grading import grade
from audits.engine.issues import Dimension, Severity
from audits.engine.render import json_out
from audits.engine.render import render as render_any
from audits.engine.scan import ScanResult

from .render_fixtures import sample_issues, sample_result

FINDING_FIELDS = set(sample_issues()[0].as_dict())


def test_json_has_findings_grades_score_targets_and_checks_run() -> None:
    data = json.loads(json_out.render(sample_result()))
    assert {"findings", "grades", "score", "targets", "checks_run"} <= set(data)
    assert len(data["findings"]) == 5
    assert all(set(f) == FINDING_FIELDS for f in data["findings"])
    assert set(data["grades"]) == {d.value for d in Dimension} | {"overall"}
    assert 0 <= data["score"] <= 10
    assert data["checks_run"] == sorted(data["checks_run"])


def test_json_grades_match_the_grading_module() -> None:
    result = sample_result()
    data = json.loads(json_out.render(result))
    grades = grade(result.issues)
    assert data["grades"] == grades.letters()
    assert data["score"] == grades.score
    details = data["grade_details"]["schema"]
    assert details["fingerprints"] == list(grades["schema"].fingerprints)


def test_json_findings_are_worst_first_whatever_the_scan_order() -> None:
    result = sample_result()
    shuffled = ScanResult(result.targets, tuple(reversed(result.issues)))
    first = json.loads(json_out.render(result))["findings"]
    assert first == json.loads(json_out.render(shuffled))["findings"]
    ranks = [Severity(f["severity"]).rank for f in first]
    assert ranks == sorted(ranks, reverse=True)


def test_json_targets_report_errors_and_notes_without_passwords() -> None:
    text = json_out.render(sample_result())
    assert "s3cret" not in text
    targets = {t["kind"]: t for t in json.loads(text)["targets"]}
    assert targets["postgresql"]["ok"] is False
    assert "could not connect" in targets["postgresql"]["error"]
    assert targets["sqlite"]["notes"] == ["sqlite_stat1 is empty"]
    assert targets["ddl"]["error"] is None


def test_json_of_an_empty_scan_is_all_a_plus() -> None:
    data = json.loads(render_any("json", ScanResult((), ())))
    assert data["findings"] == []
    assert set(data["grades"].values()) == {"A+"}
    assert data["score"] == 10.0
