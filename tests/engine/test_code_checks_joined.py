"""Checks that join code with the schema (``ddl+code``), both ways."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from audits.engine.issues import Evidence, make_fingerprint
from audits.engine.schema import Check, ForeignKey, Index, IndexColumn, Schema, Trigger

from .code_helpers import functions, of, scan_code, schema, table


def _jobs(*checks: Check) -> Schema:
    return schema(
        table("users", "email", "password_hash"),
        table(
            "jobs",
            "user_id",
            "status",
            "kind",
            fks=(ForeignKey(("user_id",), "users", ("id",), on_delete="CASCADE"),),
            checks=checks,
        ),
    )


JOBS_CODE = {
    "jobs.py": """
    def submit(conn, uid):
        conn.execute("INSERT INTO jobs (id, user_id, status, kind) VALUES (?, ?, ?, ?)", (1, uid, "queued", "export"))

    def interrupt(conn):
        conn.execute("UPDATE jobs SET status = 'interrupted' WHERE status = 'running'")
    """
}


def test_check_incomplete_enum_flags_values_the_check_forbids(tmp_path: Path) -> None:
    status = Check(
        "status IN ('queued', 'running', 'done')",
        column="status",
        values=("queued", "running", "done"),
    )
    issues = scan_code(tmp_path, JOBS_CODE, _jobs(status))
    flagged = of(issues, "check-incomplete-enum")
    assert [(i.object, i.function) for i in flagged] == [
        ("jobs.status", "jobs.interrupt")
    ]
    assert "'interrupted'" in flagged[0].evidence


def test_check_incomplete_enum_is_silent_when_every_value_is_allowed(
    tmp_path: Path,
) -> None:
    status = Check(
        "...", column="status", values=("queued", "running", "done", "interrupted")
    )
    assert (
        of(scan_code(tmp_path, JOBS_CODE, _jobs(status)), "check-incomplete-enum") == []
    )


def test_check_missing_enum_from_code_uses_the_schema_checks_key(
    tmp_path: Path,
) -> None:
    status = Check(
        "...", column="status", values=("queued", "running", "done", "interrupted")
    )
    issues = of(scan_code(tmp_path, JOBS_CODE, _jobs(status)), "check-missing-enum")
    assert [i.object for i in issues] == ["jobs.kind"]
    assert issues[0].fingerprint == make_fingerprint(
        "check-missing-enum", "jobs", "kind"
    )


def test_check_missing_enum_needs_the_schema(tmp_path: Path) -> None:
    assert of(scan_code(tmp_path, JOBS_CODE), "check-missing-enum") == []


def test_updated_at_not_maintained_when_updates_skip_it(tmp_path: Path) -> None:
    s = schema(
        table("suites", "name", "updated_at"), table("notes", "body", "updated_at")
    )
    issues = scan_code(
        tmp_path,
        {
            "q.py": """
            def rename(conn, sid, name):
                conn.execute("UPDATE suites SET name = ? WHERE id = ?", (name, sid))

            def edit(conn, nid, body):
                conn.execute("UPDATE notes SET body = ?, updated_at = CURRENT_TIMESTAMP WHERE id = ?", (body, nid))
            """
        },
        s,
    )
    flagged = of(issues, "updated-at-not-maintained")
    assert [i.object for i in flagged] == ["suites.updated_at"]
    assert flagged[0].fingerprint == make_fingerprint(
        "updated-at-not-maintained", "suites", "updated_at"
    )


def test_updated_at_maintained_by_a_trigger_or_an_orm_onupdate(tmp_path: Path) -> None:
    suites = table("suites", "name", "updated_at")
    suites = replace(
        suites,
        triggers=(
            Trigger(
                "touch",
                "suites",
                "AFTER",
                "UPDATE",
                "UPDATE suites SET updated_at = now()",
            ),
        ),
    )
    s = schema(suites, table("posts", "title", "updated_at"))
    issues = scan_code(
        tmp_path,
        {
            "q.py": """
            from sqlalchemy import Column, DateTime, Integer, String, func
            from sqlalchemy.orm import DeclarativeBase

            class Base(DeclarativeBase):
                pass

            class Post(Base):
                __tablename__ = "posts"
                id = Column(Integer, primary_key=True)
                title = Column(String)
                updated_at = Column(DateTime, onupdate=func.now())

            def rename(conn, sid, name):
                conn.execute("UPDATE suites SET name = ? WHERE id = ?", (name, sid))
            """
        },
        s,
    )
    assert of(issues, "updated-at-not-maintained") == []


def test_index_missing_soft_delete_when_filtered_and_not_indexed(
    tmp_path: Path,
) -> None:
    s = schema(
        table("posts", "user_id", "deleted_at"), table("notes", "user_id", "deleted_at")
    )
    notes = s.tables[1]
    notes = replace(
        notes,
        indexes=(
            Index(
                "ix_live",
                "notes",
                (IndexColumn("user_id"),),
                predicate="deleted_at IS NULL",
            ),
        ),
    )
    s = schema(s.tables[0], notes)
    issues = scan_code(
        tmp_path,
        {
            "q.py": """
            def posts(conn, uid):
                return conn.execute("SELECT * FROM posts WHERE user_id = ? AND deleted_at IS NULL LIMIT 10", (uid,)).fetchall()

            def notes(conn, uid):
                return conn.execute("SELECT * FROM notes WHERE user_id = ? AND deleted_at IS NULL LIMIT 10", (uid,)).fetchall()
            """
        },
        s,
    )
    flagged = of(issues, "index-missing-soft-delete")
    assert [i.object for i in flagged] == ["posts.deleted_at"]
    assert "CREATE INDEX" in flagged[0].fix_sql


def test_index_missing_soft_delete_from_orm_models_alone(tmp_path: Path) -> None:
    issues = scan_code(
        tmp_path,
        {
            "models.py": """
            from sqlalchemy import Column, DateTime, Integer
            from sqlalchemy.orm import DeclarativeBase

            class Base(DeclarativeBase):
                pass

            class Exercise(Base):
                __tablename__ = "exercises"
                id = Column(Integer, primary_key=True)
                deleted_at = Column(DateTime, nullable=True)

            class Lesson(Base):
                __tablename__ = "lessons"
                id = Column(Integer, primary_key=True)
                deleted_at = Column(DateTime, nullable=True, index=True)

            def live(session):
                session.query(Exercise).filter(Exercise.deleted_at.is_(None)).all()
                session.query(Lesson).filter(Lesson.deleted_at.is_(None)).all()
            """
        },
    )
    assert [i.object for i in of(issues, "index-missing-soft-delete")] == [
        "exercises.deleted_at"
    ]


def test_table_unbounded_growth_flags_tables_only_pruned_by_dead_code(
    tmp_path: Path,
) -> None:
    s = schema(
        table("refresh_tokens", "user_id", "expires_at"),
        table("audit_log", "action", "ts"),
        table("settings", "key", "value"),
    )
    issues = scan_code(
        tmp_path,
        {
            "q.py": """
            def login(conn, uid):
                conn.execute("INSERT INTO refresh_tokens (user_id, expires_at) VALUES (?, ?)", (uid, 1))
                conn.execute("INSERT INTO audit_log (action) VALUES ('login')")
                conn.execute("INSERT INTO settings (key, value) VALUES ('a', 'b')")

            def cleanup_expired_tokens(conn):
                conn.execute("DELETE FROM refresh_tokens WHERE expires_at < ?", (0,))

            def prune_audit(conn):
                conn.execute("DELETE FROM audit_log WHERE ts < ?", (0,))
            """,
            "main.py": """
            from q import login, prune_audit

            def start(conn):
                prune_audit(conn)
            """,
        },
        s,
    )
    assert [i.object for i in of(issues, "table-unbounded-growth")] == [
        "refresh_tokens"
    ]


def test_tenant_scope_missing_flags_by_id_statements_without_the_tenant(
    tmp_path: Path,
) -> None:
    s = schema(table("reports", "user_id", "status"), table("users", "email"))
    issues = scan_code(
        tmp_path,
        {
            "q.py": """
            def finish(conn, rid):
                conn.execute("UPDATE reports SET status = 'done' WHERE id = ?", (rid,))

            def scoped(conn, rid, uid):
                conn.execute("UPDATE reports SET status = 'done' WHERE id = ? AND user_id = ?", (rid, uid))

            def mine(conn, uid):
                return conn.execute("SELECT * FROM reports WHERE user_id = ? LIMIT 5", (uid,)).fetchall()

            def user(conn, uid):
                return conn.execute("SELECT * FROM users WHERE id = ?", (uid,)).fetchone()
            """
        },
        s,
    )
    assert functions(issues, "tenant-scope-missing") == {"finish"}


def test_joined_checks_do_not_run_without_a_schema(tmp_path: Path) -> None:
    issues = scan_code(
        tmp_path,
        {
            "q.py": 'def f(c, i):\n    c.execute("UPDATE reports SET s = 1 WHERE id = ?", (i,))\n'
        },
    )
    assert of(issues, "tenant-scope-missing") == []
    assert Evidence.SCHEMA.value == "schema"


ORM_JOBS = {
    "models.py": """
    from sqlalchemy import Column, DateTime, Integer, String
    from sqlalchemy.orm import DeclarativeBase

    class Base(DeclarativeBase):
        pass

    class Job(Base):
        __tablename__ = "jobs"
        id = Column(Integer, primary_key=True)
        state = Column("status", String(20))
        removed_at = Column("deleted_at", DateTime, nullable=True)

    def interrupt(session):
        session.add(Job(state="interrupted"))

    def live_jobs(session):
        return session.query(Job).filter(Job.removed_at.is_(None)).limit(10).all()
    """
}


def test_orm_writes_and_filters_reach_the_column_their_attribute_maps_to(
    tmp_path: Path,
) -> None:
    status = Check(
        "status IN ('queued', 'running', 'done')",
        column="status",
        values=("queued", "running", "done"),
    )
    jobs = schema(table("jobs", "status", "deleted_at", checks=(status,)))
    issues = scan_code(tmp_path, ORM_JOBS, jobs)
    enum = of(issues, "check-incomplete-enum")
    assert [(i.object, i.function) for i in enum] == [
        ("jobs.status", "models.interrupt")
    ]
    assert "'interrupted'" in enum[0].evidence
    soft = of(issues, "index-missing-soft-delete")
    assert [(i.object, i.function) for i in soft] == [
        ("jobs.deleted_at", "models.live_jobs")
    ]


def test_orm_writes_and_filters_on_an_undeclared_model_are_left_alone(
    tmp_path: Path,
) -> None:
    status = Check("...", column="status", values=("queued", "running", "done"))
    jobs = schema(table("jobs", "status", "deleted_at", checks=(status,)))
    code = ORM_JOBS["models.py"].replace("class Job(Base):", "class Task(Base):")
    code = code.replace('__tablename__ = "jobs"', '__tablename__ = "tasks"')
    issues = scan_code(tmp_path, {"models.py": code}, jobs)
    assert of(issues, "check-incomplete-enum") == []
    assert of(issues, "index-missing-soft-delete") == []
