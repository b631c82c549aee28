"""Every catalogued check states its severity rule, and the docs carry it."""

from pathlib import Path

import pytest

from audits.engine.checks.base import HIGH, MIN, SCH, Topic
from audits.engine.registry import all_checks
from audits.engine.render.sarif import rule


def test_every_check_states_what_makes_it_critical_high_medium_or_low() -> None:
    specs = list(all_checks())
    assert len(specs) > 50
    missing = [s.id for s in specs if not s.severity_rule.strip()]
    assert missing == []


def test_a_rule_of_critical_names_loss_corruption_or_a_breach() -> None:
    # Critical is kept for realistic data loss, corruption or a breach; a rule
    # that allows critical says which of them it means.
    words = ("lost", "loses", "loss", "corrupt", "breach", "fail")
    for spec in all_checks():
        if "critical" in spec.severity_rule.lower():
            assert any(w in spec.severity_rule.lower() for w in words), spec.id


def test_a_catalogue_row_without_a_severity_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="no severity rule"):
        Topic(("made-up-check", SCH, HIGH, MIN, "ddl", "Title", "Why.", "Fix.", " "))


def test_the_sarif_rule_help_carries_the_severity_rule() -> None:
    spec = next(s for s in all_checks() if s.id == "query-n-plus-one")
    described = rule(spec)
    assert spec.severity_rule in described["help"]["text"]
    assert f"**Severity:** {spec.severity_rule}" in described["help"]["markdown"]


def test_a_catalogue_table_missing_a_field_is_refused(tmp_path: Path) -> None:
    module = tmp_path / "made_up.py"
    (tmp_path / "made_up.toml").write_text(
        '["made-up-check"]\ndimension = "schema"\nseverity = "high"\n'
        'effort = "minutes"\nevidence = "ddl"\ntitle = "T"\nrationale = "W."\n'
        'remediation = "F."\n',
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="severity_rule"):
        Topic.beside(str(module))
