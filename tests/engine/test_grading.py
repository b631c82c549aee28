"""Grading: bands, counts, the overall cap, the score, and monotonicity."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from audits.engine.grading import (
    BAND_STEPS,
    BEST,
    LETTERS,
    grade,
    grade_counts,
    points_for,
)
from audits.engine.issues import Dimension, Severity
from audits.engine.registry import get_check


@dataclass(frozen=True)
class Row:
    """A finding as the Django side holds it: plain strings."""

    dimension: str
    severity: str
    fingerprint: str
    check: str = "some-check"
    status: str = "open"


def rows(*specs: tuple[str, str], status: str = "open") -> list[Row]:
    return [
        Row(dim, sev, f"fp-{i}-{dim}-{sev}", status=status)
        for i, (dim, sev) in enumerate(specs)
    ]


def test_no_findings_give_a_plus_everywhere_and_ten() -> None:
    grades = grade([])
    assert set(grades.letters().values()) == {"A+"}
    assert grades.score == 10.0
    assert grades.letters()["overall"] == "A+"


def test_info_findings_never_lower_a_grade() -> None:
    grades = grade(rows(*[("schema", "info")] * 50))
    assert grades["schema"].letter == "A+"
    assert grades.score == 10.0
    assert "50 info" in grades["schema"].summary


def test_worst_severity_sets_the_band() -> None:
    cases = {"low": "A", "medium": "B", "high": "C", "critical": "D"}
    for severity, band in cases.items():
        letter = grade(rows(("integrity", severity)))["integrity"].letter
        assert letter[0] == band, (severity, letter)


def test_count_within_the_worst_severity_places_the_grade_in_its_band() -> None:
    letters = [
        grade(rows(*[("performance", "medium")] * n))["performance"].letter
        for n in (1, 2, 4)
    ]
    assert letters == ["B+", "B", "B-"]
    assert grade(rows(*[("security", "high")] * 6))["security"].letter == "D+"
    assert grade(rows(*[("security", "critical")] * 4))["security"].letter == "F"


def test_milder_findings_do_not_move_a_grade_set_by_a_worse_one() -> None:
    one_high = grade(rows(("schema", "high")))["schema"]
    with_lows = grade(rows(("schema", "high"), *[("schema", "low")] * 9))["schema"]
    assert one_high.letter == with_lows.letter == "C+"
    assert "also 9 low" in with_lows.summary


def test_grade_lists_the_fingerprints_and_checks_that_set_it() -> None:
    items = [
        get_check("fk-conflicting-declarations").issue(key=["schedules", "user_id"]),
        get_check("fk-no-on-delete").issue(key=["audit_log", "user_id"]),
    ]
    schema = grade(items)["schema"]
    assert schema.worst is Severity.CRITICAL
    assert schema.fingerprints == (items[0].fingerprint,)
    assert schema.summary.startswith("1 critical: fk-conflicting-declarations ×1")
    assert "also 1 medium" in schema.summary


def test_summary_counts_each_check_at_the_worst_severity() -> None:
    items = [
        Row("integrity", "high", "a", check="txn-lost-update"),
        Row("integrity", "high", "b", check="fk-missing-index"),
        Row("integrity", "high", "c", check="fk-missing-index"),
    ]
    summary = grade(items)["integrity"].summary
    assert summary == "3 high: fk-missing-index ×2, txn-lost-update ×1"


def test_closed_statuses_do_not_count() -> None:
    for status in ("fixed", "documented", "false_positive"):
        assert grade(rows(("security", "critical"), status=status)).score == 10.0
    assert grade(rows(("security", "critical"), status="in_progress")).score < 10


def test_enum_and_string_fields_grade_the_same() -> None:
    issue = get_check("fk-no-on-delete").issue(key=["t", "c"])
    row = Row("schema", "medium", issue.fingerprint, check="fk-no-on-delete")
    assert grade([issue]).as_dict() == grade([row]).as_dict()


def test_overall_is_at_most_one_band_above_the_worst_dimension() -> None:
    grades = grade(rows(("integrity", "critical")))
    worst = grades["integrity"].points
    assert grades.overall.points <= worst + BAND_STEPS
    assert grades.overall.letter == "C"
    assert "capped" in grades.overall.summary
    assert grades["integrity"].fingerprints[0] in grades.overall.fingerprints


def test_overall_is_a_weighted_mean_when_no_dimension_is_far_behind() -> None:
    grades = grade(rows(("schema", "low"), ("performance", "low")))
    assert grades.overall.letter == "A"
    assert 9.0 < grades.score < 10.0


def test_unknown_dimension_is_a_clear_error() -> None:
    try:
        grade([Row("speed", "low", "x")])
    except ValueError as exc:
        assert "unknown dimension 'speed'" in str(exc)
    else:
        raise AssertionError("expected ValueError")


def test_points_for_round_trips_every_letter() -> None:
    assert [points_for(letter) for letter in LETTERS] == list(range(BEST + 1))


# -- monotonicity, by property ------------------------------------------------

DIMENSIONS = [d.value for d in Dimension]
SEVERITIES = [s.value for s in Severity]
RANK = {s.value: s.rank for s in Severity}

row_strategy = st.builds(
    Row,
    dimension=st.sampled_from(DIMENSIONS),
    severity=st.sampled_from(SEVERITIES),
    fingerprint=st.uuids().map(str),
)


def assert_no_better(before: list[Row], after: list[Row]) -> None:
    old, new = grade(before), grade(after)
    for key, letter in old.letters().items():
        assert points_for(new.letters()[key]) <= points_for(letter), key
    assert new.score <= old.score


@settings(max_examples=300, deadline=None)
@given(st.lists(row_strategy, max_size=30), row_strategy)
def test_adding_an_open_finding_never_improves_any_grade_or_the_score(
    existing: list[Row], added: Row
) -> None:
    assert_no_better(existing, [*existing, added])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(row_strategy, min_size=1, max_size=30),
    st.data(),
)
def test_raising_a_severity_never_improves_any_grade_or_the_score(
    existing: list[Row], data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(existing) - 1))
    target = existing[index]
    harsher = data.draw(
        st.sampled_from([s for s in SEVERITIES if RANK[s] >= RANK[target.severity]])
    )
    raised = list(existing)
    raised[index] = Row(target.dimension, harsher, target.fingerprint)
    assert_no_better(existing, raised)


@settings(max_examples=300, deadline=None)
@given(st.lists(row_strategy, max_size=30))
def test_score_orders_like_the_overall_grade_and_respects_the_cap(
    items: list[Row],
) -> None:
    grades = grade(items)
    worst = min(g.points for g in grades)
    assert grades.overall.points <= worst + BAND_STEPS
    assert 0.0 <= grades.score <= 10.0
    clean = grade([])
    if grades.overall.points < clean.overall.points:
        assert grades.score < clean.score


@settings(max_examples=200, deadline=None)
@given(st.lists(row_strategy, max_size=20), st.lists(row_strategy, max_size=20))
def test_a_better_overall_letter_never_has_a_lower_score(
    first: list[Row], second: list[Row]
) -> None:
    a, b = grade(first), grade(second)
    if a.overall.points > b.overall.points:
        assert a.score >= b.score


@settings(max_examples=200, deadline=None)
@given(st.lists(row_strategy, max_size=40))
def test_grading_counts_gives_what_grading_the_findings_gives(found: list[Row]) -> None:
    counts: dict[str, dict[str, int]] = {}
    checks: dict[str, dict[str, dict[str, int]]] = {}
    for row in found:
        per_dim = counts.setdefault(row.dimension, {})
        per_dim[row.severity] = per_dim.get(row.severity, 0) + 1
        per_check = checks.setdefault(row.dimension, {}).setdefault(row.severity, {})
        per_check[row.check] = per_check.get(row.check, 0) + 1
    from_rows, from_counts = grade(found), grade_counts(counts, checks)
    assert from_counts.letters() == from_rows.letters()
    assert from_counts.score == from_rows.score
    assert [g.summary for g in from_counts] == [g.summary for g in from_rows]
