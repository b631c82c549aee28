"""The code source: walking folders, extracting SQL, connections, models and calls."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from audits.engine.sources.code import load_code
from audits.engine.sources.code_sql import analyse_sql

from .code_helpers import write


def _sql(root: Path, function: str) -> list[str]:
    code = load_code(root)
    return [u.sql.normalised for u in code.sql if u.function.endswith(function)]


def test_engine_code_source_imports_without_django() -> None:
    script = (
        "import sys, audits.engine.sources.code, audits.engine.checks.transactions; "
        "print('django' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_load_code_skips_virtualenvs_builds_and_fixture_folders(tmp_path: Path) -> None:
    src = "def f(c):\n    c.execute('SELECT 1 FROM t')\n"
    write(
        tmp_path,
        {
            "app/q.py": src,
            ".venv/lib/x.py": src,
            "node_modules/y.py": src,
            "build/z.py": src,
            "tests/fixtures/w.py": src,
            "vendor/v.py": src,
        },
    )
    code = load_code(tmp_path, exclude=("vendor",))
    assert [f.path for f in code.files] == ["app/q.py"]


def test_load_code_notes_syntax_errors_and_goes_on(tmp_path: Path) -> None:
    write(tmp_path, {"app/broken.py": "x = 1\n\ndef f(:\n", "app/ok.py": "x = 1\n"})
    code = load_code(tmp_path)
    assert [f.path for f in code.files] == ["app/ok.py"]
    assert len(code.notes) == 1
    assert code.notes[0].startswith("app/broken.py: skipped, syntax error at line 3")


def test_load_code_notes_binary_and_undecodable_files(tmp_path: Path) -> None:
    (tmp_path / "blob.py").write_bytes(b"\x00\x01\x02binary")
    (tmp_path / "latin.py").write_bytes(b"# coding: utf-8\nname = '\xff\xfe'\n")
    code = load_code(tmp_path)
    notes = " | ".join(code.notes)
    assert "blob.py: skipped, binary content" in notes
    assert "latin.py: skipped" in notes
    assert code.files == ()


def test_load_code_honours_a_pep263_encoding_declaration(tmp_path: Path) -> None:
    (tmp_path / "old.py").write_bytes(
        b"# -*- coding: latin-1 -*-\ndef f(c):\n    c.execute('SELECT caf\xe9 FROM t')\n"
    )
    code = load_code(tmp_path)
    assert code.notes == ()
    assert code.sql[0].sql.tables == ("t",)


def test_sql_is_extracted_from_fstrings_percent_format_and_concatenation(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        {
            "q.py": """
            TABLE = "jobs"

            def fstring(c, name):
                c.execute(f"SELECT * FROM users WHERE name = '{name}'")

            def percent(c, uid):
                c.execute("DELETE FROM users WHERE id = %s" % uid)

            def fmt(c, col):
                c.execute("SELECT {} FROM users".format(col))

            def concat(c, uid):
                c.execute("SELECT * FROM users " + "WHERE id = " + uid)

            def constant_table(c):
                c.execute(f"SELECT id FROM {TABLE} WHERE id = ?", (1,))

            def assigned(c):
                sql = "SELECT id FROM users"
                sql += " WHERE id = ?"
                c.execute(sql, (1,))
            """
        },
    )
    code = load_code(tmp_path)
    by_fn = {u.function.rsplit(".", 1)[-1]: u for u in code.sql}
    assert by_fn["fstring"].built == "fstring"
    assert by_fn["fstring"].interpolations[0].expr == "name"
    assert by_fn["percent"].built == "percent"
    assert by_fn["fmt"].sql.dynamic_in_identifier == (0,)
    assert by_fn["concat"].sql.dynamic_in_value == (0,)
    assert by_fn["constant_table"].sql.tables == ("jobs",)
    assert by_fn["constant_table"].interpolations == ()
    assert by_fn["assigned"].sql.normalised == "select id from users where id = ?"


def test_placeholders_of_every_style_parse_and_map_to_literal_parameters() -> None:
    info = analyse_sql("UPDATE jobs SET status = %s, note = :note WHERE id = ?")
    assert info.written == (("status", "?0"), ("note", ":note"))
    assert info.where_columns == ("id",)
    assert analyse_sql("PRAGMA busy_timeout=5000").pragma == ("busy_timeout", "5000")
    assert analyse_sql("INSERT INTO t (a) VALUES (?) ON CONFLICT (a) DO NOTHING").upsert


def test_parameter_tuples_supply_the_literal_values_written(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "q.py": """
            def submit(c, uid):
                c.execute("INSERT INTO jobs (id, user_id, status) VALUES (?, ?, ?)", (1, uid, "queued"))
            """
        },
    )
    use = load_code(tmp_path).sql[0]
    assert use.literal_writes() == {"status": "queued"}


def test_connections_record_timeouts_and_the_pragmas_run_on_them(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        {
            "db.py": """
            import sqlite3, aiosqlite

            def configure(conn):
                conn.execute("PRAGMA foreign_keys = ON")

            def open_db():
                conn = sqlite3.connect("app.db", timeout=0)
                conn.execute("PRAGMA journal_mode=WAL")
                configure(conn)
                return conn

            async def reader():
                async with aiosqlite.connect("app.db") as db:
                    await db.execute("SELECT 1 FROM t")
            """
        },
    )
    code = load_code(tmp_path)
    sites = {s.function.rsplit(".", 1)[-1]: s for s in code.connects}
    assert sites["open_db"].timeout == 0.0
    assert dict(sites["open_db"].pragmas) == {
        "journal_mode": "wal",
        "foreign_keys": "on",
    }
    assert sites["reader"].timeout_given is False
    assert sites["reader"].context == "async with"
    assert code.by_qualname["db.open_db"].returns_connection


def test_calls_through_a_project_wrapper_carry_their_sql_and_connection(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        {
            "db.py": """
            import sqlite3

            def fetch_all(sql, params=()):
                with sqlite3.connect("a.db") as conn:
                    return conn.execute(sql, params).fetchall()

            def users(team):
                return fetch_all("SELECT * FROM users WHERE team_id = ?", (team,))
            """
        },
    )
    code = load_code(tmp_path)
    use = next(u for u in code.sql if u.function == "db.users")
    assert use.via == "db.fetch_all"
    assert use.conn.startswith("own:")
    assert use.sql.tables == ("users",)


def test_functions_get_qualified_names_and_a_reference_index(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/jobs.py": """
            class Repo:
                def purge(self):
                    pass

            def helper():
                pass

            def unused():
                helper()
            """,
            "pkg/beat.py": """
            SCHEDULE = {"nightly": {"task": "pkg.jobs.helper"}}
            """,
        },
    )
    code = load_code(tmp_path)
    assert "pkg.jobs.Repo.purge" in code.by_qualname
    assert "pkg.jobs.unused" in code.refs.get("helper", ())
    assert "<module>" in code.refs.get("helper", ())
    assert "unused" not in code.refs


def test_sqlalchemy_models_columns_relationships_and_filters(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "models.py": """
            from datetime import datetime
            from sqlalchemy import Boolean, Column, DateTime, ForeignKey, Integer
            from sqlalchemy.orm import declarative_base, relationship

            Base = declarative_base()

            class Exercise(Base):
                __tablename__ = "exercises"
                id = Column(Integer, primary_key=True)
                owner_id = Column(Integer, ForeignKey("users.id"))
                deleted_at = Column(DateTime, nullable=True)
                updated_at = Column(DateTime, default=datetime.utcnow, onupdate=datetime.utcnow)
                context = Column("context", type_=None)
                owner = relationship("User", back_populates="exercises")

            def active(session):
                return session.query(Exercise).filter(Exercise.deleted_at == None).all()
            """
        },
    )
    code = load_code(tmp_path)
    model = code.models[0]
    assert model.table == "exercises"
    assert model.column("owner_id").foreign_key == "users.id"
    assert model.column("context").type_unset
    assert model.column("updated_at").onupdate == "datetime.utcnow"
    assert model.relationships[0].back_populates == "exercises"
    assert [
        (f.model, f.column, f.op, f.value) for f in code.filters if f.op == "=="
    ] == [("Exercise", "deleted_at", "==", "None")]
    assert [u.what for u in code.uses] == ["declarative_base"]


def test_line_endings_are_counted_per_file(tmp_path: Path) -> None:
    (tmp_path / "mixed.py").write_bytes(b"a = 1\r\nb = 2\nc = 3\n")
    info = load_code(tmp_path).files[0]
    assert (info.crlf, info.lf) == (1, 2)
