"""The vocabulary every list, chart and export of Plumbline is built from."""

from audits.engine import levels
from audits.engine.levels import Dimension, Effort, Severity, Status


def test_severities_run_worst_first_and_rank_down_to_info():
    assert [s.value for s in Severity] == ["critical", "high", "medium", "low", "info"]
    assert [s.rank for s in Severity] == [4, 3, 2, 1, 0]
    assert Severity.parse(" High ") is Severity.HIGH


def test_every_member_has_a_label_and_severities_a_prefix_and_colour():
    assert [s.label for s in Severity][:2] == ["Critical", "High"]
    assert [s.short for s in Severity] == ["CRIT", "HIGH", "MED", "LOW", "INFO"]
    assert all(s.colour.startswith("#") for s in Severity)
    assert Dimension.SCHEMA.short_label == "Schema design"
    assert Dimension.SCHEMA.label == "Schema Design & Normalization"
    assert all(d.colour.startswith("#") for d in Dimension)
    assert [e.label for e in Effort] == ["Minutes", "Hours", "Days"]
    assert Status.IN_PROGRESS.label == "In progress"
    assert Status.FALSE_POSITIVE.label == "False positive"


def test_status_groups_each_have_one_meaning():
    assert {Status.OPEN, Status.IN_PROGRESS} == levels.UNRESOLVED
    assert {Status.DOCUMENTED, Status.FALSE_POSITIVE} == levels.ACCEPTED
    assert set(Status) - levels.UNRESOLVED == levels.CLOSED
    # The Django side stores plain strings; they are members of the groups.
    assert "open" in levels.UNRESOLVED and "fixed" in levels.CLOSED
