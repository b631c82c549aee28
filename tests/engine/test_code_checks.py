"""Positive and negative cases for every code check."""

from __future__ import annotations

from pathlib import Path

from .code_helpers import functions, of, scan_code

DB = """
import sqlite3, aiosqlite

DB_PATH = "app.db"

def connect():
    conn = sqlite3.connect(DB_PATH)
    conn.execute("PRAGMA foreign_keys = ON")
    return conn

async def execute(sql, params=()):
    async with aiosqlite.connect(DB_PATH) as db:
        await db.execute(sql, params)
        await db.commit()

async def fetch_one(sql, params=()):
    async with aiosqlite.connect(DB_PATH) as db:
        cur = await db.execute(sql, params)
        return await cur.fetchone()

async def fetch_all(sql, params=()):
    async with aiosqlite.connect(DB_PATH) as db:
        cur = await db.execute(sql, params)
        return await cur.fetchall()

async def create_item(order_id, sku):
    await execute("INSERT INTO items (order_id, sku) VALUES (?, ?)", (order_id, sku))
"""


# --------------------------------------------------------------- transactions


def test_txn_not_atomic_flags_a_loop_over_a_helper_with_its_own_connection(
    tmp_path: Path,
) -> None:
    issues = scan_code(
        tmp_path,
        {
            "db.py": DB,
            "imports.py": """
            from db import create_item, execute

            async def import_order(order):
                await execute("INSERT INTO orders (id) VALUES (?)", (order["id"],))
                for sku in order["skus"]:
                    await create_item(order["id"], sku)
            """,
        },
    )
    assert functions(issues, "txn-not-atomic") == {"import_order"}
    # One loop, one finding: its per-row connection is part of the same cause.
    assert functions(issues, "query-n-plus-one") == set()
    issue = of(issues, "txn-not-atomic")[0]
    assert issue.file == "imports.py" and issue.line == 7
    assert issue.severity.value == "critical"  # a parent, then its children
    assert "executemany" in issue.remediation
    assert [(s.file, s.line) for s in issue.trace[:2]] == [
        ("imports.py", 6),
        ("imports.py", 7),
    ]
    assert issue.trace[2].file == "db.py"  # where create_item commits
    assert "N+1" in issue.trace[1].message


def test_txn_not_atomic_is_silent_for_one_connection_and_executemany(
    tmp_path: Path,
) -> None:
    issues = scan_code(
        tmp_path,
        {
            "imports.py": """
            import sqlite3

            def import_order(order):
                with sqlite3.connect("app.db") as conn:
                    conn.execute("INSERT INTO orders (id) VALUES (?)", (order["id"],))
                    conn.executemany(
                        "INSERT INTO items (order_id, sku) VALUES (?, ?)",
                        [(order["id"], sku) for sku in order["skus"]],
                    )
            """
        },
    )
    assert of(issues, "txn-not-atomic") == []
    assert of(issues, "query-n-plus-one") == []


def test_txn_not_atomic_flags_a_commit_inside_the_loop(tmp_path: Path) -> None:
    issues = scan_code(
        tmp_path,
        {
            "load.py": """
            def load(conn, rows):
                for row in rows:
                    conn.execute("INSERT INTO events (id, kind) VALUES (?, ?)", row)
                    conn.commit()
            """
        },
    )
    assert functions(issues, "txn-not-atomic") == {"load"}


def test_txn_lost_update_flags_read_and_dependent_write_on_two_connections(
    tmp_path: Path,
) -> None:
    issues = scan_code(
        tmp_path,
        {
            "db.py": DB,
            "stock.py": """
            from db import execute, fetch_one

            async def take(sku, n):
                row = await fetch_one("SELECT qty FROM stock WHERE sku = ?", (sku,))
                left = row[0] - n
                await execute("UPDATE stock SET qty = ? WHERE sku = ?", (left, sku))
            """,
        },
    )
    issue = of(issues, "txn-lost-update")[0]
    assert issue.function == "stock.take" and issue.object == "stock"
    assert "ON CONFLICT" in issue.remediation


def test_txn_lost_update_follows_reads_and_writes_into_helpers(tmp_path: Path) -> None:
    issues = scan_code(
        tmp_path,
        {
            "db.py": DB,
            "stock.py": """
            from db import execute, fetch_one

            async def get_stock(sku):
                return await fetch_one("SELECT qty FROM stock WHERE sku = ?", (sku,))

            async def set_stock(sku, qty):
                await execute("UPDATE stock SET qty = ? WHERE sku = ?", (qty, sku))

            async def take(sku, n):
                row = await get_stock(sku)
                await set_stock(sku, row[0] - n)
            """,
        },
    )
    assert functions(issues, "txn-lost-update") == {"take"}


def test_txn_lost_update_is_silent_on_one_connection_upsert_and_begin_immediate(
    tmp_path: Path,
) -> None:
    issues = scan_code(
        tmp_path,
        {
            "db.py": DB,
            "stock.py": """
            import sqlite3
            from db import execute, fetch_one

            def same_connection(sku, n):
                with sqlite3.connect("app.db") as conn:
                    row = conn.execute("SELECT qty FROM stock WHERE sku = ?", (sku,)).fetchone()
                    conn.execute("UPDATE stock SET qty = ? WHERE sku = ?", (row[0] - n, sku))

            async def upsert(sku, n):
                await execute(
                    "INSERT INTO stock (sku, qty) VALUES (?, ?) "
                    "ON CONFLICT (sku) DO UPDATE SET qty = qty - excluded.qty",
                    (sku, n),
                )

            def locked(conn, other, sku, n):
                conn.execute("BEGIN IMMEDIATE")
                row = conn.execute("SELECT qty FROM stock WHERE sku = ?", (sku,)).fetchone()
                other.execute("UPDATE stock SET qty = ? WHERE sku = ?", (row[0] - n, sku))

            async def unrelated(sku):
                row = await fetch_one("SELECT qty FROM stock WHERE sku = ?", (sku,))
                await execute("UPDATE stock SET seen = 1 WHERE sku = ?", (sku,))
                return row
            """,
        },
    )
    assert of(issues, "txn-lost-update") == []


def test_commit_without_rollback_flags_a_repository_committing_its_session(
    tmp_path: Path,
) -> None:
    issues = scan_code(
        tmp_path,
        {
            "repo.py": """
            class EvaluationRepository:
                def __init__(self, db):
                    self.db = db

                def create(self, evaluation):
                    self.db.add(evaluation)
                    self.db.commit()
                    return evaluation

                def update(self, evaluation):
                    try:
                        self.db.merge(evaluation)
                        self.db.commit()
                    except Exception:
                        self.db.rollback()
                        raise
            """
        },
    )
    assert functions(issues, "commit-without-rollback") == {"create"}


def test_commit_without_rollback_is_silent_inside_connection_context_managers(
    tmp_path: Path,
) -> None:
    issues = scan_code(
        tmp_path,
        {
            "db.py": """
            import sqlite3, aiosqlite

            def save(row):
                with sqlite3.connect("a.db") as conn:
                    conn.execute("INSERT INTO t (a) VALUES (?)", row)
                    conn.commit()

            async def save_async(row):
                async with aiosqlite.connect("a.db") as db:
                    await db.execute("INSERT INTO t (a) VALUES (?)", row)
                    await db.commit()
            """
        },
    )
    assert of(issues, "commit-without-rollback") == []


def test_commit_ownership_unclear_flags_a_session_provider_and_committing_repos(
    tmp_path: Path,
) -> None:
    files = {
        "config.py": """
        from contextlib import contextmanager

        @contextmanager
        def get_db_session():
            session = SessionLocal()
            try:
                yield session
                session.commit()
            except Exception:
                session.rollback()
                raise
        """,
        "repo.py": """
        class Repo:
            def __init__(self, session):
                self.session = session

            def add(self, obj):
                try:
                    self.session.add(obj)
                    self.session.commit()
                except Exception:
                    self.session.rollback()
                    raise
        """,
    }
    issues = scan_code(tmp_path, files)
    assert functions(issues, "commit-ownership-unclear") == {"get_db_session"}
    (tmp_path / "repo.py").unlink()
    assert of(scan_code(tmp_path), "commit-ownership-unclear") == []


# ---------------------------------------------------------------- SQLite setup


def test_sqlite_busy_timeout_missing_only_for_an_explicit_zero(tmp_path: Path) -> None:
    issues = scan_code(
        tmp_path,
        {
            "db.py": """
            import sqlite3, aiosqlite

            def default():
                return sqlite3.connect("a.db")

            def zero():
                return sqlite3.connect("a.db", timeout=0)

            def zero_but_pragma():
                conn = sqlite3.connect("a.db", timeout=0)
                conn.execute("PRAGMA busy_timeout = 5000")
                return conn

            async def pragma_zero():
                async with aiosqlite.connect("a.db") as db:
                    await db.execute("PRAGMA busy_timeout=0")
                    await db.execute("SELECT 1 FROM t")
            """
        },
    )
    assert functions(issues, "sqlite-busy-timeout-missing") == {"zero", "pragma_zero"}


def test_sqlite_foreign_keys_off_flags_writing_paths_without_the_pragma(
    tmp_path: Path,
) -> None:
    issues = scan_code(
        tmp_path,
        {
            "db.py": """
            import sqlite3

            def good(uid):
                conn = sqlite3.connect("a.db")
                conn.execute("PRAGMA foreign_keys = ON")
                conn.execute("DELETE FROM users WHERE id = ?", (uid,))
                conn.commit()

            def bad(uid):
                conn = sqlite3.connect("a.db")
                conn.execute("DELETE FROM users WHERE id = ?", (uid,))
                conn.commit()

            def reader():
                conn = sqlite3.connect("a.db")
                return conn.execute("SELECT id FROM users LIMIT 5").fetchall()
            """
        },
    )
    assert functions(issues, "sqlite-foreign-keys-off") == {"bad"}


def test_sqlite_foreign_keys_off_is_silent_when_nothing_uses_foreign_keys(
    tmp_path: Path,
) -> None:
    issues = scan_code(
        tmp_path,
        {
            "db.py": """
            import sqlite3

            def bad(uid):
                conn = sqlite3.connect("a.db")
                conn.execute("DELETE FROM users WHERE id = ?", (uid,))
                conn.commit()
            """
        },
    )
    assert of(issues, "sqlite-foreign-keys-off") == []


def test_sqlite_wal_and_synchronous_settings(tmp_path: Path) -> None:
    issues = scan_code(
        tmp_path,
        {
            "db.py": """
            import sqlite3

            def init():
                conn = sqlite3.connect("a.db")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                return conn

            def legacy():
                conn = sqlite3.connect("a.db")
                conn.execute("PRAGMA journal_mode = DELETE")
                return conn
            """
        },
    )
    assert functions(issues, "sqlite-wal-disabled") == {"legacy"}
    assert functions(issues, "sqlite-synchronous-normal") == {"init"}


def test_sqlite_wal_disabled_when_no_path_ever_enables_it(tmp_path: Path) -> None:
    issues = scan_code(
        tmp_path,
        {
            "db.py": """
            import sqlite3

            def a():
                return sqlite3.connect("a.db")

            def b():
                return sqlite3.connect("a.db")
            """
        },
    )
    assert [i.object for i in of(issues, "sqlite-wal-disabled")] == ["project"]
    assert of(issues, "sqlite-synchronous-normal") == []


# ---------------------------------------------------------------- performance


def test_query_n_plus_one_flags_a_select_per_item_but_not_one_query(
    tmp_path: Path,
) -> None:
    issues = scan_code(
        tmp_path,
        {
            "q.py": """
            def per_item(conn, ids):
                return [conn.execute("SELECT * FROM users WHERE id = ?", (i,)).fetchone() for i in ids]

            def batched(conn, ids):
                marks = ", ".join("?" * len(ids))
                return conn.execute(f"SELECT * FROM users WHERE id IN ({marks})", ids).fetchall()

            def paged(conn):
                while True:
                    rows = conn.execute("SELECT * FROM users LIMIT 100").fetchall()
                    if not rows:
                        break
            """
        },
    )
    assert functions(issues, "query-n-plus-one") == {"per_item"}
    assert of(issues, "sql-injection") == []


def test_query_unbounded_flags_list_queries_on_growing_tables(tmp_path: Path) -> None:
    issues = scan_code(
        tmp_path,
        {
            "q.py": """
            def all_runs(conn, uid):
                return conn.execute("SELECT * FROM benchmark_runs WHERE user_id = ?", (uid,)).fetchall()

            def page(conn, uid, n):
                return conn.execute("SELECT * FROM benchmark_runs WHERE user_id = ? LIMIT ?", (uid, n)).fetchall()

            def one(conn, rid):
                return conn.execute("SELECT * FROM benchmark_runs WHERE id = ?", (rid,)).fetchone()

            def count(conn):
                return conn.execute("SELECT COUNT(*) FROM benchmark_runs").fetchone()

            def settings(conn):
                return conn.execute("SELECT * FROM settings").fetchall()
            """
        },
    )
    assert functions(issues, "query-unbounded") == {"all_runs"}


def test_query_aggregation_in_app_flags_totals_computed_in_python(
    tmp_path: Path,
) -> None:
    issues = scan_code(
        tmp_path,
        {
            "q.py": """
            def totals(conn):
                rows = conn.execute("SELECT model, tps FROM results").fetchall()
                total = {}
                for row in rows:
                    total[row[0]] = total.get(row[0], 0) + row[1]
                return total

            def in_sql(conn):
                return conn.execute("SELECT model, SUM(tps) FROM results GROUP BY model").fetchall()

            def listing(conn):
                rows = conn.execute("SELECT model, tps FROM results").fetchall()
                return [dict(r) for r in rows]
            """
        },
    )
    assert functions(issues, "query-aggregation-in-app") == {"totals"}


def test_connection_per_operation_flags_wrappers_opening_a_connection_per_call(
    tmp_path: Path,
) -> None:
    issues = scan_code(
        tmp_path,
        {
            "db.py": DB,
            "pool.py": """
            class Store:
                def __init__(self, conn):
                    self.conn = conn

                def run(self, sql, params=()):
                    return self.conn.execute(sql, params)
            """,
        },
    )
    assert functions(issues, "connection-per-operation") == {
        "execute",
        "fetch_one",
        "fetch_all",
    }


def test_orm_boolean_comparison(tmp_path: Path) -> None:
    issues = scan_code(
        tmp_path,
        {
            "repo.py": """
            def active(session):
                return session.query(Exercise).filter(Exercise.is_active == True, Exercise.deleted_at == None).all()

            def good(session):
                return session.query(Exercise).filter(Exercise.is_active.is_(True)).all()
            """
        },
    )
    flagged = of(issues, "orm-boolean-comparison")
    assert {i.object for i in flagged} == {"Exercise.is_active", "Exercise.deleted_at"}
    assert {i.function for i in flagged} == {"repo.active"}


# ----------------------------------------------------------------- operations


def test_cleanup_never_called_flags_only_the_uncalled_cleanup(tmp_path: Path) -> None:
    issues = scan_code(
        tmp_path,
        {
            "db.py": DB
            + """
async def cleanup_expired_tokens():
    await execute("DELETE FROM refresh_tokens WHERE expires_at < datetime('now')")

async def cleanup_audit_log():
    await execute("DELETE FROM audit_log WHERE ts < datetime('now', '-90 days')")

async def purge_sessions():
    await execute("DELETE FROM sessions WHERE expires_at < datetime('now')")

def cleanup_tmp_files():
    pass
""",
            "app.py": """
            from contextlib import asynccontextmanager
            from db import cleanup_audit_log

            @asynccontextmanager
            async def lifespan(app):
                await cleanup_audit_log()
                yield
            """,
            "beat.py": """
            CELERY_BEAT_SCHEDULE = {"sessions": {"task": "db.purge_sessions", "schedule": 3600}}
            """,
            "tests/test_db.py": """
            from db import cleanup_expired_tokens

            async def test_cleanup():
                await cleanup_expired_tokens()
            """,
        },
    )
    flagged = of(issues, "cleanup-never-called")
    assert [i.function for i in flagged] == ["db.cleanup_expired_tokens"]
    assert "cleanup_audit_log" in flagged[0].remediation


def test_cleanup_called_through_a_scheduler_or_route_is_not_reported(
    tmp_path: Path,
) -> None:
    issues = scan_code(
        tmp_path,
        {
            "db.py": DB
            + """
def prune_runs():
    connect().execute("DELETE FROM runs WHERE ts < ?", (0,))

@router.post("/admin/expire")
def expire_tokens():
    connect().execute("DELETE FROM tokens WHERE ts < ?", (0,))
""",
            "jobs.py": """
            from apscheduler.schedulers.background import BackgroundScheduler
            import db

            scheduler = BackgroundScheduler()
            scheduler.add_job(db.prune_runs, "interval", hours=1)
            """,
        },
    )
    assert of(issues, "cleanup-never-called") == []


def test_project_level_gaps_are_reported_once_and_cleared_by_any_mechanism(
    tmp_path: Path,
) -> None:
    files = {"db.py": DB}
    issues = scan_code(tmp_path, files)
    for check in (
        "backup-missing",
        "maintenance-missing",
        "slow-query-visibility-missing",
    ):
        assert [i.object for i in of(issues, check)] == ["project"]
    fingerprints = {i.check: i.fingerprint for i in issues}
    (tmp_path / "ops.py").write_text(
        "import sqlite3\n\n"
        "def nightly(conn):\n"
        "    conn.execute('PRAGMA optimize')\n"
        "    conn.backup(sqlite3.connect('copy.db'))\n"
        "    conn.set_trace_callback(print)\n"
    )
    again = scan_code(tmp_path)
    for check in (
        "backup-missing",
        "maintenance-missing",
        "slow-query-visibility-missing",
    ):
        assert of(again, check) == []
    assert fingerprints["backup-missing"]


def test_project_level_gaps_need_database_code(tmp_path: Path) -> None:
    issues = scan_code(tmp_path, {"util.py": "def add(a, b):\n    return a + b\n"})
    assert of(issues, "backup-missing") == []
    assert of(issues, "maintenance-missing") == []


def test_migrations_unversioned_flags_try_except_alter_at_startup(
    tmp_path: Path,
) -> None:
    files = {
        "db.py": """
        import sqlite3

        def init_db(conn):
            for sql in ("ALTER TABLE jobs ADD COLUMN a TEXT", "ALTER TABLE jobs ADD COLUMN b TEXT"):
                try:
                    conn.execute(sql)
                except sqlite3.OperationalError:
                    pass
        """
    }
    assert functions(scan_code(tmp_path, files), "migrations-unversioned") == {
        "init_db"
    }
    (tmp_path / "env.py").write_text("from alembic import context\n")
    assert of(scan_code(tmp_path), "migrations-unversioned") == []


def test_connection_leak_prone_flags_raw_connection_factories_only(
    tmp_path: Path,
) -> None:
    issues = scan_code(
        tmp_path,
        {
            "db.py": """
            import sqlite3
            from contextlib import contextmanager

            def get_db():
                return sqlite3.connect("a.db")

            @contextmanager
            def connection():
                conn = sqlite3.connect("a.db")
                try:
                    yield conn
                finally:
                    conn.close()
            """
        },
    )
    assert functions(issues, "connection-leak-prone") == {"get_db"}


def test_pool_health_check_missing_for_server_engines(tmp_path: Path) -> None:
    issues = scan_code(
        tmp_path,
        {
            "db.py": """
            from sqlalchemy import create_engine

            def bare():
                return create_engine("postgresql+psycopg://app@db/app")

            def pinged():
                return create_engine("postgresql+psycopg://app@db/app", pool_pre_ping=True)

            def local():
                return create_engine("sqlite:///app.db")
            """
        },
    )
    assert functions(issues, "pool-health-check-missing") == {"bare"}


def test_line_endings_mixed_within_a_file_and_across_a_kind(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_bytes(b"x = 1\r\ny = 2\n")
    (tmp_path / "b.py").write_bytes(b"x = 1\r\n")
    (tmp_path / "c.py").write_bytes(b"x = 1\n")
    issues = of(scan_code(tmp_path), "line-endings-mixed")
    assert {i.object for i in issues} == {"a.py", "*.py"}


def test_line_endings_consistent_files_are_silent(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_bytes(b"x = 1\n")
    (tmp_path / "b.py").write_bytes(b"y = 1\n")
    assert of(scan_code(tmp_path), "line-endings-mixed") == []


# ------------------------------------------------------------------- security


def test_sql_injection_flags_values_formatted_into_sql(tmp_path: Path) -> None:
    issues = scan_code(
        tmp_path,
        {
            "q.py": """
            def by_name(conn, name):
                return conn.execute(f"SELECT * FROM users WHERE name = '{name}'").fetchall()

            def by_id(conn, uid):
                return conn.execute("SELECT * FROM users WHERE id = %s" % uid).fetchall()

            def via_format(conn, email):
                sql = "DELETE FROM users WHERE email = '{}'".format(email)
                conn.execute(sql)

            def concat(conn, uid):
                conn.execute("UPDATE users SET seen = 1 WHERE id = " + uid)

            def raw(User, term):
                return User.objects.raw(f"SELECT * FROM auth_user WHERE username LIKE '%{term}%'")
            """
        },
    )
    assert functions(issues, "sql-injection") == {
        "by_name",
        "by_id",
        "via_format",
        "concat",
        "raw",
    }


def test_sql_injection_is_silent_for_parameters_constants_and_placeholder_lists(
    tmp_path: Path,
) -> None:
    issues = scan_code(
        tmp_path,
        {
            "q.py": """
            LIMIT = 50

            def params(conn, name):
                return conn.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchall()

            def constant(conn):
                return conn.execute(f"SELECT * FROM users LIMIT {LIMIT}").fetchall()

            def in_list(conn, ids):
                marks = ",".join(["?"] * len(ids))
                return conn.execute(f"SELECT * FROM users WHERE id IN ({marks})", ids).fetchall()

            def as_int(conn, n):
                return conn.execute(f"SELECT * FROM users LIMIT {int(n)}").fetchall()
            """
        },
    )
    assert of(issues, "sql-injection") == []
    assert of(issues, "sql-dynamic-identifier") == []


def test_sql_dynamic_identifier_flags_names_without_an_allowlist(
    tmp_path: Path,
) -> None:
    issues = scan_code(
        tmp_path,
        {
            "q.py": """
            SORTABLE = {"new": "created_at DESC", "old": "created_at"}
            FIELDS = ("name", "email")

            def sort_any(conn, column):
                return conn.execute(f"SELECT * FROM users ORDER BY {column} LIMIT 10").fetchall()

            def update_any(conn, uid, **fields):
                sets = ", ".join(f"{k} = ?" for k in fields)
                conn.execute(f"UPDATE users SET {sets} WHERE id = ?", (*fields.values(), uid))

            def sort_known(conn, order):
                return conn.execute(f"SELECT * FROM users ORDER BY {SORTABLE[order]} LIMIT 10").fetchall()

            def update_known(conn, uid, **fields):
                names = [k for k in fields if k in FIELDS]
                sets = ", ".join(f"{k} = ?" for k in names)
                conn.execute(f"UPDATE users SET {sets} WHERE id = ?", (*fields.values(), uid))

            def checked(conn, column):
                if column not in FIELDS:
                    raise ValueError(column)
                return conn.execute(f"SELECT {column} FROM users LIMIT 10").fetchall()
            """
        },
    )
    assert functions(issues, "sql-dynamic-identifier") == {"sort_any", "update_any"}
    assert of(issues, "sql-injection") == []


def test_empty_credential_stored_in_sql_and_orm_writes(tmp_path: Path) -> None:
    issues = scan_code(
        tmp_path,
        {
            "users.py": """
            from sqlalchemy import Column, Integer, String
            from sqlalchemy.orm import DeclarativeBase

            class Base(DeclarativeBase):
                pass

            class User(Base):
                __tablename__ = "users"
                id = Column(Integer, primary_key=True)
                password_hash = Column(String, nullable=True)

            def sql_user(conn, email):
                conn.execute("INSERT INTO users (email, password_hash) VALUES (?, ?)", (email, ""))

            def orm_user(session, email):
                session.add(User(email=email, password_hash=""))

            def good_user(conn, email, hashed):
                conn.execute("INSERT INTO users (email, password_hash) VALUES (?, ?)", (email, hashed))

            def null_user(conn, email):
                conn.execute("INSERT INTO users (email, password_hash) VALUES (?, NULL)", (email,))
            """
        },
    )
    assert functions(issues, "empty-credential-stored") == {"sql_user", "orm_user"}


# ------------------------------------------------------------------------ ORM


ORM = """
from datetime import datetime
from sqlalchemy import Column, DateTime, ForeignKey, Integer, JSON
from sqlalchemy.orm import declarative_base, relationship

Base = declarative_base()

class User(Base):
    __tablename__ = "users"
    id = Column(Integer, primary_key=True)
    posts = relationship("Post", back_populates="author")
    alerts = relationship("Alert", back_populates="user")

class Post(Base):
    __tablename__ = "posts"
    id = Column(Integer, primary_key=True)
    author_id = Column(Integer, ForeignKey("users.id"))
    created_at = Column(DateTime, default=datetime.utcnow)
    author = relationship("User", back_populates="posts")

class Alert(Base):
    __tablename__ = "alerts"
    id = Column(Integer, primary_key=True)
    user_id = Column(Integer, ForeignKey("users.id"))
    context = Column("context", type_=None)
    payload = Column(JSON)
"""


def test_orm_deprecated_api_flags_declarative_base_and_utcnow(tmp_path: Path) -> None:
    issues = of(scan_code(tmp_path, {"models.py": ORM}), "orm-deprecated-api")
    assert {i.object for i in issues} == {"declarative_base", "posts.created_at"}


def test_orm_relationship_one_sided_flags_the_unanswered_back_populates(
    tmp_path: Path,
) -> None:
    issues = of(scan_code(tmp_path, {"models.py": ORM}), "orm-relationship-one-sided")
    assert [i.object for i in issues] == ["User.alerts"]


SHARED_NAME_MODELS = """
from sqlalchemy import ForeignKey
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

class Base(DeclarativeBase):
    pass

class Mailing(Base):
    __tablename__ = "mailings"
    id: Mapped[int] = mapped_column(primary_key=True)
    events: Mapped[list["Event"]] = relationship(back_populates="mailing")

class Event(Base):
    __tablename__ = "mailing_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    mailing_id: Mapped[int] = mapped_column(ForeignKey("mailings.id"))
    {answer}
"""

OTHER_EVENT = """
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

class Base(DeclarativeBase):
    pass

class Event(Base):
    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(primary_key=True)
"""


def test_orm_relationship_one_sided_is_answered_by_a_model_of_the_same_name(
    tmp_path: Path,
) -> None:
    answered = SHARED_NAME_MODELS.format(
        answer='mailing: Mapped["Mailing"] = relationship(back_populates="events")'
    )
    files = {"mail/models.py": answered, "tracking/models.py": OTHER_EVENT}
    issues = of(scan_code(tmp_path, files), "orm-relationship-one-sided")
    assert issues == []


def test_orm_relationship_one_sided_still_flags_when_no_namesake_answers(
    tmp_path: Path,
) -> None:
    unanswered = SHARED_NAME_MODELS.format(answer="note: Mapped[str]")
    files = {"mail/models.py": unanswered, "tracking/models.py": OTHER_EVENT}
    issues = of(scan_code(tmp_path, files), "orm-relationship-one-sided")
    assert [i.object for i in issues] == ["Mailing.events"]


def test_orm_column_type_unset_flags_type_none_only(tmp_path: Path) -> None:
    issues = of(scan_code(tmp_path, {"models.py": ORM}), "orm-column-type-unset")
    assert [i.object for i in issues] == ["alerts.context"]


def test_modern_orm_declarations_are_silent(tmp_path: Path) -> None:
    issues = scan_code(
        tmp_path,
        {
            "models.py": """
            from datetime import datetime, timezone
            from sqlalchemy import ForeignKey, func
            from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

            class Base(DeclarativeBase):
                pass

            class User(Base):
                __tablename__ = "users"
                id: Mapped[int] = mapped_column(primary_key=True)
                posts: Mapped[list["Post"]] = relationship(back_populates="author")

            class Post(Base):
                __tablename__ = "posts"
                id: Mapped[int] = mapped_column(primary_key=True)
                author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
                created_at: Mapped[datetime] = mapped_column(server_default=func.now())
                author: Mapped["User"] = relationship(back_populates="posts")
            """
        },
    )
    for check in (
        "orm-deprecated-api",
        "orm-relationship-one-sided",
        "orm-column-type-unset",
    ):
        assert of(issues, check) == []


def test_findings_in_test_files_are_not_reported(tmp_path: Path) -> None:
    issues = scan_code(
        tmp_path,
        {
            "tests/test_q.py": """
            def test_it(conn, name):
                conn.execute(f"SELECT * FROM users WHERE name = '{name}'")
                for i in range(3):
                    conn.execute("SELECT * FROM users WHERE id = ?", (i,))
            """
        },
    )
    assert of(issues, "sql-injection") == []
    assert of(issues, "query-n-plus-one") == []
