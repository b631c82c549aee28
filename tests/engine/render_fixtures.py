"""A hand-built scan result that exercises every renderer path."""

from __future__ import annotations

from audits.engine.issues import Issue
from audits.engine.registry import get_check
from audits.engine.scan import ScanResult, Target, TargetResult

DDL = Target("ddl", "schema.sql")
LIVE = Target("sqlite", "var/app.db")
PG = Target("postgresql", "postgresql://app:s3cret@db.example:5432/app")


def sample_issues() -> list[Issue]:
    """Return one issue per severity, schema and code, with awkward text."""
    return [
        get_check("fk-no-on-delete").issue(
            key=["audit_log", "user_id"],
            object="audit_log.user_id",
            evidence="FOREIGN KEY (user_id) REFERENCES users(id) | no action",
            fix_sql="-- rebuild audit_log with ON DELETE SET NULL",
            source=LIVE.label,
        ),
        get_check("fk-conflicting-declarations").issue(
            key=["schedules", "user_id"],
            object="schedules.user_id",
            file="schema.sql",
            line=12,
            evidence="column-level CASCADE vs table-level NO ACTION",
            fix_sql="ALTER TABLE schedules DROP CONSTRAINT schedules_user_fk;",
            source=DDL.label,
        ),
        get_check("txn-lost-update").issue(
            key=["app/db.py", "upsert_leaderboard", "select ... update"],
            file="app/db.py",
            line=40,
            function="upsert_leaderboard",
            evidence="reads on one connection, writes on another",
            source="folder:.",
        ),
        get_check("naming-inconsistent-timestamp").issue(
            key=["schedules", "created"],
            object="schedules.created",
            source=DDL.label,
        ),
        get_check("json-blob-columns").issue(
            key=["runs"], object="runs", evidence="4 `*_json` columns", source=DDL.label
        ),
    ]


def sample_result() -> ScanResult:
    """Return a scan of three targets, one of which failed."""
    issues = sample_issues()
    by_source: dict[str, tuple[Issue, ...]] = {}
    for issue in issues:
        by_source[issue.sources[0]] = (*by_source.get(issue.sources[0], ()), issue)
    targets = (
        TargetResult(
            DDL,
            ok=True,
            issues=by_source[DDL.label],
            checks_run=frozenset({"fk-conflicting-declarations", "json-blob-columns"}),
        ),
        TargetResult(
            LIVE,
            ok=True,
            issues=by_source[LIVE.label],
            checks_run=frozenset({"fk-no-on-delete"}),
            notes=("sqlite_stat1 is empty",),
        ),
        TargetResult(PG, ok=False, error="could not connect to db.example:5432"),
    )
    return ScanResult(targets=targets, issues=tuple(issues))
