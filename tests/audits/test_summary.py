"""One summary builder for every kind of audit."""

from audits import services
from audits.imports import import_report
from audits.summary import AuditSummary, Snapshot

REPORT = b"""# Audit

| ID | Severity | Title | Location | Status |
|---|---|---|---|---|
| H-1 | High | Missing index on notes.user_id | schema.sql:2 | Open |
"""


def test_engine_audits_and_imports_store_the_same_summary_shape(project, owner):
    engine = services.execute_audit(services.start_audit(project, enqueue=False).pk)
    imported = import_report(project, data=REPORT, filename="r.md", user=owner)
    keys = set(AuditSummary.__annotations__)
    assert set(engine.summary) == keys - {"imported"}
    assert set(imported.summary) == keys
    for summary in (engine.summary, imported.summary):
        assert set(Snapshot.__annotations__) <= set(summary)
        target = summary["targets"][0]
        assert set(target) == {
            "target",
            "label",
            "kind",
            "ok",
            "error",
            "notes",
            "checks_run",
            "issues",
            "seconds",
        }
    assert imported.summary["imported"]["items"] == 1
    assert imported.summary["new"] == 1
