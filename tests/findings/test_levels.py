"""The apps' choices, charts, exports and pages derive from the engine's levels."""

from audits.engine import levels
from findings import exports
from findings.models import SEVERITY_ORDER, Dimension, Effort, Finding, Severity
from projects import charts


def test_model_choices_follow_the_engine_vocabulary():
    assert [s.value for s in levels.Severity] == SEVERITY_ORDER
    assert Severity.choices == [(s.value, s.label) for s in levels.Severity]
    assert Effort.choices == [(e.value, e.label) for e in levels.Effort]
    assert Dimension.choices == [(d.value, d.short_label) for d in levels.Dimension]
    assert Finding.Status.choices == [(s.value, s.label) for s in levels.Status]
    assert set(Finding.UNRESOLVED) == levels.UNRESOLVED


def test_charts_and_exports_use_the_same_order_labels_and_colours():
    assert list(charts.SEVERITIES) == SEVERITY_ORDER
    assert exports.REPORT_PREFIXES["critical"] == levels.Severity.CRITICAL.short
    assert exports.SEVERITY_LABELS["info"] == "Info"


def test_pages_get_the_severity_colours_from_the_engine(client, owner):
    client.force_login(owner)
    html = client.get("/").content.decode()
    assert f"--critical: {levels.Severity.CRITICAL.colour}" in html
