"""The rules that keep findings true on real code: each defect found, each look-alike left alone.

The look-alikes are the shapes that real projects produced false criticals
and highs with: methods of unknown receivers taken for project functions,
loops that run once, constants taken for input, framework-managed sessions.
"""

from __future__ import annotations

from pathlib import Path

from audits.engine.issues import Severity
from audits.engine.scan import Target, scan

from .code_helpers import functions, of, scan_code, write

SERVER_DB = """
import psycopg

def connect():
    return psycopg.connect("postgresql://app@db/app")
"""


# ------------------------------------------------------------ call resolution


def test_a_method_of_an_unknown_receiver_is_not_the_project_function_of_that_name(
    tmp_path: Path,
) -> None:
    issues = scan_code(
        tmp_path,
        {
            "db.py": SERVER_DB,
            "jobs.py": """
            import asyncio
            import os
            from pathlib import Path

            from db import connect


            def cancel(job_id):
                conn = connect()
                conn.execute("UPDATE jobs SET status = 'cancelled' WHERE id = %s", (job_id,))
                conn.commit()


            def join(parts):
                conn = connect()
                return conn.execute("SELECT name FROM parts WHERE id = %s", (parts,)).fetchall()


            async def stop_all(tasks, files):
                for task in tasks:
                    task.cancel()
                for name in files:
                    print(os.path.join("/tmp", name), Path(name).resolve())
            """,
        },
    )
    assert functions(issues, "query-n-plus-one") == set()
    assert functions(issues, "txn-not-atomic") == set()


def test_a_method_of_self_an_import_or_a_constructed_object_is_followed(
    tmp_path: Path,
) -> None:
    issues = scan_code(
        tmp_path,
        {
            "db.py": SERVER_DB,
            "repo.py": """
            from db import connect


            class Repo:
                def get(self, item_id):
                    conn = connect()
                    return conn.execute("SELECT * FROM items WHERE id = %s", (item_id,)).fetchone()
            """,
            "views.py": """
            import repo as items_repo
            from repo import Repo
            from flask import Blueprint

            bp = Blueprint("v", __name__)


            @bp.route("/a")
            def by_instance(ids):
                store = Repo()
                rows = items_repo.Repo().get(0)
                return [store.get(i) for i in ids]


            @bp.route("/b")
            def by_annotation(ids, store: Repo):
                return [store.get(i) for i in ids]
            """,
        },
    )
    assert functions(issues, "query-n-plus-one") == {"by_instance", "by_annotation"}


def test_a_call_through_a_parameter_is_not_a_database_call(tmp_path: Path) -> None:
    issues = scan_code(
        tmp_path,
        {
            "db.py": SERVER_DB,
            "work.py": """
            from db import connect


            def progress_cb(done):
                conn = connect()
                conn.execute("UPDATE runs SET done = %s", (done,))
                conn.commit()


            def process(items, progress_cb):
                for i, item in enumerate(items):
                    progress_cb(i)
            """,
        },
    )
    assert functions(issues, "query-n-plus-one") == set()
    assert functions(issues, "txn-not-atomic") == set()


# ---------------------------------------------------------------- loops


def test_loops_that_run_once_or_walk_a_short_literal_list_are_not_n_plus_one(
    tmp_path: Path,
) -> None:
    issues = scan_code(
        tmp_path,
        {
            "db.py": SERVER_DB,
            "q.py": """
            from db import connect


            def first_open(ids):
                conn = connect()
                for i in ids:
                    row = conn.execute("SELECT * FROM jobs WHERE id = %s", (i,)).fetchone()
                    return row


            def first_missing(ids):
                conn = connect()
                for i in ids:
                    if not i:
                        continue
                    conn.execute("DELETE FROM jobs WHERE id = %s", (i,))
                    conn.commit()
                    break


            def counts():
                conn = connect()
                return [
                    conn.execute(f"SELECT count(*) FROM {t}").fetchone()
                    for t in ("users", "jobs", "runs")
                ]


            def every(ids):
                conn = connect()
                return [conn.execute("SELECT * FROM jobs WHERE id = %s", (i,)).fetchone() for i in ids]
            """,
        },
    )
    assert functions(issues, "query-n-plus-one") == {"every"}


# ------------------------------------------------------------ N+1 severity


N_PLUS_ONE_APP = """
from flask import Blueprint
from db import connect

bp = Blueprint("b", __name__)


def tags_of(conn, post_id):
    return conn.execute("SELECT name FROM tags WHERE post_id = %s", (post_id,)).fetchall()


@bp.route("/posts")
def posts():
    conn = connect()
    rows = conn.execute("SELECT id FROM posts").fetchall()
    return [tags_of(conn, r[0]) for r in rows]


def nightly_report():
    conn = connect()
    rows = conn.execute("SELECT id FROM posts").fetchall()
    return [tags_of(conn, r[0]) for r in rows]


def refresh(urls):
    import requests

    conn = connect()
    for url in urls:
        body = requests.get(url).text
        conn.execute("SELECT id FROM pages WHERE url = %s", (url,)).fetchone()
"""


def test_n_plus_one_is_high_only_for_query_results_on_a_request_path(
    tmp_path: Path,
) -> None:
    issues = scan_code(tmp_path, {"db.py": SERVER_DB, "app.py": N_PLUS_ONE_APP})
    found = {i.function.rsplit(".", 1)[-1]: i for i in of(issues, "query-n-plus-one")}
    assert set(found) == {"posts", "nightly_report"}
    assert found["posts"].severity is Severity.HIGH
    assert found["nightly_report"].severity is Severity.MEDIUM
    assert "request path" in found["posts"].trace[-1].message
    # The loop dominated by HTTP calls says nothing.
    assert "refresh" not in found


def test_n_plus_one_on_sqlite_in_process_is_low(tmp_path: Path) -> None:
    sqlite_db = (
        'import sqlite3\n\ndef connect():\n    return sqlite3.connect("app.db")\n'
    )
    issues = scan_code(tmp_path, {"db.py": sqlite_db, "app.py": N_PLUS_ONE_APP})
    found = of(issues, "query-n-plus-one")
    assert found and {i.severity for i in found} == {Severity.LOW}


# ----------------------------------------------------------- transactions


def test_a_lost_update_needs_the_written_value_to_come_from_the_read(
    tmp_path: Path,
) -> None:
    issues = scan_code(
        tmp_path,
        {
            "db.py": SERVER_DB,
            "tags.py": """
            from db import connect


            def claim(tag, me):
                row = connect().execute("SELECT id, owner_id FROM tags WHERE name = %s", (tag,)).fetchone()
                conn = connect()
                conn.execute("UPDATE tags SET owner_id = %s WHERE id = %s", (me, row[0]))
                conn.commit()


            def use(tag):
                row = connect().execute("SELECT id, uses FROM tags WHERE name = %s", (tag,)).fetchone()
                uses = row[1] + 1
                conn = connect()
                conn.execute("UPDATE tags SET uses = %s WHERE id = %s", (uses, row[0]))
                conn.commit()
            """,
        },
    )
    assert functions(issues, "txn-lost-update") == {"use"}


def test_not_atomic_needs_a_batch_expected_all_or_nothing(tmp_path: Path) -> None:
    issues = scan_code(
        tmp_path,
        {
            "db.py": """
            import psycopg

            def set_status(item_id, status):
                conn = psycopg.connect("postgresql://app@db/app")
                conn.execute("UPDATE items SET status = %s WHERE id = %s", (status, item_id))
                conn.commit()

            def add_row(batch_id, row):
                conn = psycopg.connect("postgresql://app@db/app")
                conn.execute("INSERT INTO rows (batch_id, data) VALUES (%s, %s)", (batch_id, row))
                conn.commit()
            """,
            "admin.py": """
            from db import add_row, set_status


            def archive_selected(ids):
                for item_id in ids:
                    set_status(item_id, "archived")


            def import_rows(batch_id, rows):
                for row in rows:
                    add_row(batch_id, row)
            """,
        },
    )
    assert functions(issues, "txn-not-atomic") == {"import_rows"}
    (issue,) = of(issues, "txn-not-atomic")
    assert issue.severity is Severity.HIGH


def test_commit_without_rollback_leaves_framework_sessions_alone(
    tmp_path: Path,
) -> None:
    issues = scan_code(
        tmp_path,
        {
            "flask_app.py": """
            from flask_sqlalchemy import SQLAlchemy

            db = SQLAlchemy()


            def rename(user, name):
                user.name = name
                db.session.commit()
            """,
            "deps.py": """
            from sqlmodel import Session

            def get_db():
                with Session(engine) as session:
                    yield session
            """,
            "crud.py": """
            def create(session, item):
                session.add(item)
                session.commit()
            """,
            "game.py": """
            class Board:
                def finish(self):
                    self.view.commit()
            """,
        },
    )
    assert functions(issues, "commit-without-rollback") == set()


def test_commit_without_rollback_is_high_on_a_shared_server_connection_low_on_sqlite(
    tmp_path: Path,
) -> None:
    issues = scan_code(
        tmp_path,
        {
            "store.py": """
            import psycopg
            import sqlite3


            class Store:
                def __init__(self):
                    self.conn = psycopg.connect("postgresql://app@db/app")

                def save(self, value):
                    self.conn.execute("INSERT INTO kv (v) VALUES (%s)", (value,))
                    self.conn.commit()


            class Cache:
                def __init__(self):
                    self.conn = sqlite3.connect("cache.db")

                def save(self, value):
                    self.conn.execute("INSERT INTO kv (v) VALUES (?)", (value,))
                    self.conn.commit()
            """
        },
    )
    found = {i.function: i.severity for i in of(issues, "commit-without-rollback")}
    assert found == {
        "store.Store.save": Severity.HIGH,
        "store.Cache.save": Severity.LOW,
    }


# -------------------------------------------------------------- injection


def test_values_that_cannot_carry_sql_are_not_injection(tmp_path: Path) -> None:
    issues = scan_code(
        tmp_path,
        {
            "db.py": SERVER_DB,
            "q.py": """
            from typing import Literal

            from db import connect


            def search(user_id=None, draft=None):
                filters = []
                if user_id:
                    filters.append("user_id = :user_id")
                if draft is not None:
                    filters.append("is_draft = :draft")
                where = "WHERE " + " AND ".join(filters) if filters else ""
                return connect().execute(f"SELECT * FROM posts {where}").fetchall()


            def by_ids(ids):
                marks = ("?," * len(ids)).rstrip(",")
                return connect().execute(f"SELECT * FROM posts WHERE id IN ({marks})", ids).fetchall()


            def age(number: int, units: Literal["days", "weeks"]):
                connect().execute(f"UPDATE boards SET max_age = '{number} {units}'::interval")


            def kill_idle():
                conn = connect()
                for proc in conn.execute("SHOW PROCESSLIST").fetchall():
                    proc_id = proc.Id
                    conn.execute(f"KILL {proc_id}")


            def _select(constraint, *args):
                return connect().execute(f"SELECT id FROM entities WHERE {constraint}", args).fetchone()


            def by_phone(phone):
                return _select("phone = %s", phone)


            def by_name(name):
                return _select(f"name = %s", name)
            """,
        },
    )
    assert of(issues, "sql-injection") == []


def test_values_from_outside_are_injection_with_a_severity_that_says_how_sure(
    tmp_path: Path,
) -> None:
    issues = scan_code(
        tmp_path,
        {
            "db.py": SERVER_DB,
            "views.py": """
            from flask import Blueprint, request

            from db import connect

            bp = Blueprint("v", __name__)


            @bp.route("/search")
            def search():
                term = request.args.get("q")
                return connect().execute(f"SELECT * FROM posts WHERE title = '{term}'").fetchall()


            def _find(clause):
                return connect().execute(f"SELECT * FROM posts WHERE {clause} = 1").fetchall()


            @bp.route("/by")
            def by(column):
                return _find(column)


            def orphan(name):
                return connect().execute(f"SELECT * FROM posts WHERE title = '{name}'").fetchall()
            """,
        },
    )
    found = {i.function.rsplit(".", 1)[-1]: i for i in of(issues, "sql-injection")}
    assert found["search"].severity is Severity.CRITICAL
    assert found["_find"].severity is Severity.HIGH
    assert found["orphan"].severity is Severity.MEDIUM
    assert any("request" in step.message for step in found["search"].trace)


def test_identifiers_from_a_class_constant_are_not_dynamic(tmp_path: Path) -> None:
    issues = scan_code(
        tmp_path,
        {
            "db.py": SERVER_DB,
            "models.py": """
            from db import connect


            class Portal:
                columns = "tgid, mxid, title"

                @classmethod
                def get(cls, tgid):
                    return connect().execute(f"SELECT {cls.columns} FROM portal WHERE tgid = %s", (tgid,)).fetchone()
            """,
        },
    )
    assert of(issues, "sql-dynamic-identifier") == []


# ------------------------------------------------------------------ cleanup


def test_a_never_called_cleanup_counts_only_when_it_deletes_rows(
    tmp_path: Path,
) -> None:
    issues = scan_code(
        tmp_path,
        {
            "db.py": SERVER_DB,
            "tasks.py": """
            from db import connect


            def cleanup_expired_tokens():
                conn = connect()
                conn.execute("DELETE FROM refresh_tokens WHERE expires_at < now()")
                conn.commit()


            def cleanup_roles(member_ids):
                conn = connect()
                conn.execute("UPDATE guilds SET role_id = NULL")
                conn.commit()


            class Delegate:
                def purgeAction_(self, sender):
                    conn = connect()
                    conn.execute("DELETE FROM history")
            """,
        },
    )
    found = of(issues, "cleanup-never-called")
    assert [i.function for i in found] == ["tasks.cleanup_expired_tokens"]
    assert found[0].severity is Severity.CRITICAL  # expired credentials stay usable


# ------------------------------------------------------------------ schema


def test_updated_at_declared_on_a_mixin_or_abstract_base_is_maintained(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        {
            "models.py": """
            from sqlalchemy import Column, DateTime, Integer, func
            from sqlalchemy.orm import DeclarativeBase


            class Base(DeclarativeBase):
                pass


            class Stamped:
                updated_at = Column(DateTime, onupdate=func.now())


            class Thing(Stamped, Base):
                __tablename__ = "things"
                id = Column(Integer, primary_key=True)


            class Loose(Base):
                __tablename__ = "loose"
                id = Column(Integer, primary_key=True)
                updated_at = Column(DateTime)
            """,
            "schema.sql": (
                "CREATE TABLE things (id INTEGER PRIMARY KEY, updated_at TIMESTAMP);\n"
                "CREATE TABLE loose (id INTEGER PRIMARY KEY, updated_at TIMESTAMP);\n"
            ),
        },
    )
    result = scan([Target("folder", str(tmp_path))])
    found = {i.object for i in result.issues if i.check == "updated-at-not-maintained"}
    assert found == {"loose.updated_at"}


REBUILD = """\
import sqlite3


def init_db():
    conn = sqlite3.connect("app.db")
    for table in ("runs", "suites"):
        conn.execute(f"CREATE TABLE {table}_new (id TEXT PRIMARY KEY)")
        conn.execute(f"INSERT INTO {table}_new SELECT id FROM {table}")
        conn.execute(f"DROP TABLE {table}")
        conn.execute(f"ALTER TABLE {table}_new RENAME TO {table}")


def migrate():
    conn = sqlite3.connect("app.db")
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version < 3:
        for table in ("runs", "suites"):
            conn.execute(f"CREATE TABLE {table}_new (id TEXT PRIMARY KEY)")
            conn.execute(f"INSERT INTO {table}_new SELECT id FROM {table}")
            conn.execute(f"DROP TABLE {table}")
            conn.execute(f"ALTER TABLE {table}_new RENAME TO {table}")
"""


def test_a_table_rebuilt_in_a_loop_at_start_up_is_reported_unless_versioned(
    tmp_path: Path,
) -> None:
    issues = scan_code(tmp_path, {"db.py": REBUILD})
    found = of(issues, "migrations-unversioned")
    assert [i.function for i in found] == ["db.init_db"]
    assert found[0].severity is Severity.HIGH
    assert [s.message.split(":")[0] for s in found[0].trace[:4]] == [
        "create",
        "copy",
        "drop",
        "rename",
    ]


def test_secret_columns_are_graded_by_what_they_guard(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "schema.sql": (
                "CREATE TABLE users (id INTEGER PRIMARY KEY, password TEXT);\n"
                "CREATE TABLE sync (id INTEGER PRIMARY KEY, access_token TEXT);\n"
                "CREATE TABLE history (id INTEGER PRIMARY KEY, password TEXT);\n"
            )
        },
    )
    result = scan([Target("folder", str(tmp_path))])
    found = {
        i.object: i.severity
        for i in result.issues
        if i.check == "secret-stored-plaintext"
    }
    assert found == {
        "users.password": Severity.HIGH,
        "sync.access_token": Severity.MEDIUM,
        "history.password": Severity.LOW,
    }


# ------------------------------------------------- where a formatted value comes from


def test_a_parameter_left_to_its_default_is_not_filled_by_the_caller(
    tmp_path: Path,
) -> None:
    """``rows()`` calls ``rows_where()`` with no arguments: nothing reaches it."""
    issues = scan_code(
        tmp_path,
        {
            "db.py": SERVER_DB,
            "table.py": """
            from flask import request

            from db import connect


            class Table:
                def rows(self):
                    return self.rows_where()

                def search(self):
                    return self.rows_where(request.args["q"])

                def rows_where(self, text=None):
                    return connect().execute(f"SELECT * FROM t WHERE name = '{text}'").fetchall()


            class Quiet:
                def rows(self):
                    return self.rows_where()

                def rows_where(self, text=None):
                    return connect().execute(f"SELECT * FROM t WHERE name = '{text}'").fetchall()
            """,
        },
    )
    found = {i.function: i for i in of(issues, "sql-injection")}
    assert found["table.Table.rows_where"].severity is Severity.HIGH
    assert "table.Quiet.rows_where" not in found


def test_a_parameter_passed_on_is_followed_to_where_it_comes_from(
    tmp_path: Path,
) -> None:
    issues = scan_code(
        tmp_path,
        {
            "db.py": SERVER_DB,
            "app.py": """
            import click
            from flask import Blueprint

            from db import connect

            bp = Blueprint("v", __name__)


            def _run(text):
                return connect().execute(f"SELECT * FROM t WHERE name = '{text}'").fetchall()


            def _middle(text):
                return _run(text)


            @bp.route("/find/<name>")
            def find(name):
                return _middle(name)


            def _own(text):
                return connect().execute(f"SELECT * FROM t WHERE name = '{text}'").fetchall()


            def _from_rows():
                first = connect().execute("SELECT name FROM t LIMIT 1").fetchone()
                return _own(first[0])


            def _cli_run(text):
                return connect().execute(f"SELECT * FROM t WHERE name = '{text}'").fetchall()


            @click.command()
            @click.option("--name")
            def show(name):
                _cli_run(name)


            def _unknown_run(text):
                return connect().execute(f"SELECT * FROM t WHERE name = '{text}'").fetchall()


            def _unknown_middle(text):
                return _unknown_run(text)
            """,
        },
    )
    found = {i.function.rsplit(".", 1)[-1]: i for i in of(issues, "sql-injection")}
    # Request input passed on through two helpers: likely, so high, not critical.
    assert found["_run"].severity is Severity.HIGH
    assert any("passed on by `_middle`" in s.message for s in found["_run"].trace)
    # A value the caller read from its own rows is the code's own.
    assert "_own" not in found
    # A command-line option is typed by whoever runs the tool.
    assert found["_cli_run"].severity is Severity.LOW
    # Passed on from a function nobody calls: unknown.
    assert found["_unknown_run"].severity is Severity.MEDIUM


def test_a_parameter_named_for_sql_with_no_caller_is_the_callers_to_fill(
    tmp_path: Path,
) -> None:
    """A library's ``rows_where(where=...)`` takes SQL by contract."""
    issues = scan_code(
        tmp_path,
        {
            "db.py": SERVER_DB,
            "lib.py": """
            from db import connect


            def rows_where(where=None, order_by=None, limit: int | None = None):
                sql = "SELECT * FROM t"
                if where:
                    sql += f" WHERE {where}"
                if order_by:
                    sql += f" ORDER BY {order_by}"
                if limit is not None:
                    sql += f" LIMIT {limit}"
                return connect().execute(sql).fetchall()


            def find_by_name(name):
                return connect().execute(f"SELECT * FROM t WHERE name = '{name}'").fetchall()
            """,
        },
    )
    found = functions(issues, "sql-injection") | functions(
        issues, "sql-dynamic-identifier"
    )
    assert found == {"find_by_name"}


def test_names_quoted_one_by_one_and_joined_carry_no_sql(tmp_path: Path) -> None:
    issues = scan_code(
        tmp_path,
        {
            "db.py": SERVER_DB,
            "lib.py": """
            from db import connect


            def quote_identifier(name):
                return '"' + name.replace('"', '""') + '"'


            def select_quoted(columns):
                cols = ", ".join(quote_identifier(c) for c in columns)
                return connect().execute(f"SELECT {cols} FROM t").fetchall()


            def where_quoted(values):
                wheres = [f"{quote_identifier(c)} IS %s" for c in values]
                sql = "SELECT * FROM t WHERE " + " AND ".join(wheres)
                return connect().execute(sql, list(values.values())).fetchall()


            def select_raw(columns):
                cols = ", ".join(c for c in columns)
                return connect().execute(f"SELECT {cols} FROM t").fetchall()
            """,
        },
    )
    found = functions(issues, "sql-injection") | functions(
        issues, "sql-dynamic-identifier"
    )
    assert found == {"select_raw"}


def test_callers_are_followed_into_helpers_however_their_def_is_written(
    tmp_path: Path,
) -> None:
    # The scan reads the names every ``def`` gives before walking, and keeps
    # what a caller passes only for calls named like one of them: a helper
    # written with a line continuation, as ``async def``, or with a name
    # Python normalises must still be found as the callee.
    heads = {
        "_split_run": "def \\\n    _split_run(text):",
        "_async_run": "async def _async_run(text):",
        "find_rows": "def \ufb01nd_rows(text):",
        "_own_run": "def _own_run(text):",
    }
    body = (
        '    return connect().execute(f"SELECT * FROM t WHERE a = {text!r}").fetchall()'
    )
    helpers = "\n\n".join(f"{head}\n{body}\n" for head in heads.values())
    route = (
        '@bp.route("/a/<name>")\nasync def find(name):\n'
        "    _split_run(name)\n    await _async_run(name)\n"
        '    find_rows(name)\n    _own_run("fixed")\n'
    )
    header = 'from flask import Blueprint\nfrom db import connect\nbp = Blueprint("v", __name__)\n'
    (tmp_path / "db.py").write_text(SERVER_DB)
    (tmp_path / "app.py").write_text(f"{header}\n{helpers}\n{route}")
    issues = scan_code(tmp_path, {})
    found = {i.function.rsplit(".", 1)[-1]: i for i in of(issues, "sql-injection")}
    for helper in ("_split_run", "_async_run", "find_rows"):
        assert found[helper].severity is Severity.HIGH, helper
        assert any("passed on by `find`" in s.message for s in found[helper].trace)
    # Every caller passes a constant: not injection.
    assert "_own_run" not in found


def test_defined_names_are_read_from_the_text_before_the_walk(tmp_path: Path) -> None:
    from audits.engine.sources.code.loader import _defined_names, _read_python

    write(
        tmp_path,
        {
            "a.py": "def plain(): pass\nasync  def\\\n  later(): pass\nclass C:\n    def m(self): pass\n",
            "b.py": "def ﬁle(): pass\n",
        },
    )
    (tmp_path / "c.py").write_bytes(b"\x00\x01 binary")
    found = [(p, p.name) for p in sorted(tmp_path.iterdir())]
    read = _read_python(found)
    assert _defined_names(read.values()) >= {"plain", "later", "m", "file"}
    # What cannot be decoded keeps its reason for the scan's notes.
    binary = read[tmp_path / "c.py"]
    assert not isinstance(binary, OSError) and binary[1] is None
    assert binary[2] == "c.py: skipped, binary content"
