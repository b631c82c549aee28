"""The plain CREATE TABLE reader gives what sqlglot's path gives, or nothing.

Every CREATE TABLE in the DDL fixtures, report 002's SQL blocks, the sample
application's schema, the benchmark's generated tables and the shapes
listed here is read in each dialect both ways: by the DDL loader (and by
the SQLite probe's stored-SQL reader) with the plain reader, and with
sqlglot only. The plain reader may decline a statement; when it reads one,
the resulting tables, notes and probe facts must be identical.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from audits.engine.sources.ddl import load_text
from audits.engine.sources.ddl_plain import plain_table
from audits.engine.sources.ddl_split import markdown_sql_blocks, split_statements
from audits.engine.sources.sqlite_sql import _NEEDS_SQL, _parse_table_sql
from tests.shared import REPORTS_DIR

ROOT = Path(__file__).resolve().parents[2]
DIALECTS = ("sqlite", "postgres", "mysql")
_CREATE_TABLE = re.compile(r"^\s*CREATE\s+(?:TEMP\w*\s+)?TABLE\b", re.I)

# Shapes the reader is meant to read, and near misses it must decline or
# read exactly as sqlglot does.
SAMPLES = [
    "CREATE TABLE a (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS a (id INTEGER PRIMARY KEY AUTOINCREMENT)",
    "create table a (id int primary key auto_increment, n varchar(20) null);",
    "CREATE TABLE a (x NUMERIC(10, 2) DEFAULT -1.50 CHECK (x >= -5 AND x != 3))",
    "CREATE TABLE a (s TEXT DEFAULT 'new' CHECK (s in ('new','old')), t TEXT)",
    "CREATE TABLE a (s TEXT CHECK (s = 'x'), n INT CHECK (0 < n))",
    "CREATE TABLE a (lo INT, hi INT, CHECK (lo <= hi), CONSTRAINT c CHECK (hi < 9))",
    "CREATE TABLE a (t TIMESTAMP DEFAULT CURRENT_TIMESTAMP, d DATE DEFAULT NULL)",
    "CREATE TABLE a (f BOOLEAN DEFAULT TRUE, g BOOLEAN DEFAULT FALSE NOT NULL)",
    "CREATE TABLE a (t TIMESTAMP WITH TIME ZONE, u DOUBLE PRECISION, v BYTEA)",
    "CREATE TABLE a (t CHARACTER VARYING(40), u INT UNSIGNED, j JSONB, k JSON)",
    "CREATE TABLE a (id SERIAL PRIMARY KEY, b BIGSERIAL, u UUID UNIQUE)",
    'CREATE TABLE a (e TEXT COLLATE NOCASE UNIQUE, f TEXT COLLATE "C")',
    "CREATE TABLE a (p INT REFERENCES b, q INT REFERENCES b (id) ON UPDATE CASCADE)",
    "CREATE TABLE a (p INT CONSTRAINT fk_p REFERENCES b(id) ON DELETE NO ACTION)",
    "CREATE TABLE a (p INT, q INT, FOREIGN KEY (p, q) REFERENCES b (x, y) "
    "ON DELETE SET DEFAULT ON UPDATE RESTRICT)",
    "CREATE TABLE a (p INT, CONSTRAINT fk FOREIGN KEY (p) REFERENCES b (id) "
    "ON DELETE SET NULL, FOREIGN KEY (p) REFERENCES c (id))",
    "CREATE TABLE a (p INT REFERENCES b(id), FOREIGN KEY (p) REFERENCES b(id))",
    "CREATE TABLE a (x INT, y INT, PRIMARY KEY (x, y), UNIQUE (y), UNIQUE (x, y))",
    "CREATE TABLE a (x INT, CONSTRAINT pk PRIMARY KEY (x), CONSTRAINT u UNIQUE (x))",
    "CREATE TABLE a (x INT CONSTRAINT nn NOT NULL CONSTRAINT u UNIQUE)",
    "CREATE TABLE a (x INT PRIMARY KEY NULL, y INT NOT NULL NULL)",
    "CREATE TABLE a (x INT UNIQUE DEFAULT 1 CHECK (x > 0) NOT NULL, y INT UNIQUE)",
    "CREATE TABLE a (x PRIMARY KEY, y, z NOT NULL, w REFERENCES b)",
    'CREATE TABLE "Odd Table" ("Odd Col" INT CHECK ("Odd Col" > 0), b INT)',
    "CREATE TABLE `m` (`a` INT NOT NULL, `b` TEXT, CHECK (`a` IN (1, 2)))",
    "CREATE TABLE [b] ([a] INT)",
    "CREATE TABLE a (\n  x INT, -- json\n  y TEXT,\n  -- the key\n  PRIMARY KEY (x)\n)",
    "CREATE TABLE a (\n  x INT -- trailing\n)",
    "CREATE TABLE a (x INT /* inline */ NOT NULL)",
    "CREATE TABLE a (x INT CHECK (x > 0 /* why */))",
    "CREATE TABLE a (x INT CHECK ((x > 0)))",
    "CREATE TABLE a (x INT CHECK (x > 0 OR x < -9))",
    "CREATE TABLE a (x INT CHECK (length(x) > 0))",
    "CREATE TABLE a (x TEXT DEFAULT (datetime('now')))",
    "CREATE TABLE a (x TEXT DEFAULT 'it''s')",
    "CREATE TABLE a (x TEXT DEFAULT 'back\\slash')",
    'CREATE TABLE a (x TEXT DEFAULT "dq")',
    "CREATE TABLE a (x INT DEFAULT 1e3, y INT DEFAULT 0x10)",
    "CREATE TABLE a (x INT) ENGINE=InnoDB",
    "CREATE TABLE a (x INT) WITHOUT ROWID",
    "CREATE TABLE a (x INT PRIMARY KEY, y TEXT) STRICT",
    "CREATE TABLE s.a (x INT)",
    "CREATE TABLE a (key INT, value TEXT)",
    "CREATE TABLE a (x INT, KEY ix (x))",
    "CREATE TABLE a (x ENUM('a', 'b'))",
    "CREATE TABLE a (x INT UNIQUE ON CONFLICT REPLACE)",
    "CREATE TABLE a (x INT REFERENCES b(id) DEFERRABLE INITIALLY DEFERRED)",
    "CREATE TABLE a (x INT REFERENCES b(id) ON DELETE CASCADE ON DELETE SET NULL)",
    "CREATE TABLE a (x INT PRIMARY KEY DESC)",
    "CREATE TABLE a (x INT[], y TEXT)",
    "CREATE TABLE a (x INT GENERATED ALWAYS AS IDENTITY)",
    "CREATE TABLE a AS SELECT 1",
    "CREATE TEMP TABLE a (x INT)",
    "CREATE TABLE a (x INT CHECK (x IN ('a', -1, 2.5)), y INT CHECK (y == 1))",
    "CREATE TABLE a (x INT CHECK (x = y), y INT CHECK (1 = 1))",
    "CREATE TABLE a (x INT CHECK (X > 0 AND x < 10), y INT CHECK (x < y))",
    "CREATE TABLE a (x INTEGER NOT NULL,\n  name TEXT)",
    "CREATE TABLE a (timestamp TEXT, date DATE, time TIME, text TEXT, name TEXT)",
    "CREATE TABLE a (year INT, version INT NOT NULL, number INT CHECK (number > 0))",
    "CREATE TABLE a (x INT CHECK (x BETWEEN 0 AND 10 AND x <> 5))",
    "CREATE TABLE a (x INT CHECK (x BETWEEN -1 AND 'z'), y INT CHECK (1 BETWEEN x AND y))",
    "CREATE TABLE a (t TEXT DEFAULT (datetime('now')), u TEXT DEFAULT (1 + 2))",
    "CREATE TABLE a (t TEXT DEFAULT (lower(hex(randomblob(16)))) PRIMARY KEY)",
    "CREATE TABLE a (t TEXT DEFAULT (CURRENT_TIMESTAMP), u INT DEFAULT (-1))",
    "CREATE TABLE a (t TEXT DEFAULT (now() /* c */))",
    "CREATE TABLE a (t TEXT DEFAULT (x'00'), u TEXT DEFAULT ('a' || 'b'))",
    "CREATE TABLE a (x Integer, y varchar (10), z Text)",
    "CREATE TABLE a (x INT);\nCREATE TABLE b (y INT)",
]


def _bench_statements() -> list[str]:
    spec = importlib.util.spec_from_file_location(
        "bench_scan", ROOT / "bench" / "bench_scan.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_scan", module)
    spec.loader.exec_module(module)
    found: list[str] = []
    for n in (0, 3, 5, 7, 9, 11, 203):
        found += [s for s in module.table_ddl(n) if _CREATE_TABLE.match(s)]
    return found


def _sql_sources() -> dict[str, str]:
    sources: dict[str, str] = {}
    for path in sorted((Path(__file__).parent / "fixtures").rglob("*.sql")):
        sources[path.name] = path.read_text(encoding="utf-8")
    demo = ROOT / "demo" / "flawed_app" / "schema.sql"
    if demo.exists():
        sources["flawed_app"] = demo.read_text(encoding="utf-8")
    report = REPORTS_DIR / "002_eddc3bdb626bfc87.txt"
    if report.exists():
        blocks = markdown_sql_blocks(report.read_text(encoding="utf-8"))
        sources["report_002"] = "\n;\n".join(b.text for b in blocks)
    return sources


def _create_tables() -> list[str]:
    statements = [*SAMPLES, *_bench_statements()]
    for text in _sql_sources().values():
        statements += [
            s.text for s in split_statements(text) if _CREATE_TABLE.match(s.text)
        ]
    return statements


STATEMENTS = _create_tables()


def _probe_facts(sql: str, plain: bool) -> dict[str, Any]:
    parsed = _parse_table_sql(sql, plain=plain)
    facts = dict(vars(parsed))
    facts["fks"] = [vars(fk) for fk in parsed.fks]
    return facts


NOTHING_BEYOND_PRAGMAS: dict[str, Any] = {
    "collations": {},
    "inline_pk": set(),
    "autoincrement": set(),
    "fks": [],
    "checks": [],
}


def test_the_differential_corpus_holds_every_source() -> None:
    # Report 002 is optional (a clone may lack it); the rest must be there.
    sources = _sql_sources()
    assert "benchmark_studio.sql" in sources and "flawed_app" in sources
    assert len(STATEMENTS) > len(SAMPLES) + 30


@pytest.mark.parametrize("dialect", DIALECTS)
def test_plain_create_table_reads_each_statement_as_sqlglot_or_declines(
    dialect: str,
) -> None:
    read = 0
    for statement in STATEMENTS:
        fast = load_text(statement, dialect=dialect)
        slow = load_text(statement, dialect=dialect, plain=False)
        assert fast == slow, (dialect, statement)
        if plain_table(statement.rstrip().rstrip(";"), dialect) is not None:
            read += 1
    # Most statements are common shapes: the reader must not decline them all.
    assert read >= len(STATEMENTS) // 3, (dialect, read)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_plain_create_table_keeps_whole_files_as_sqlglot_reads_them(
    dialect: str,
) -> None:
    for name, text in _sql_sources().items():
        fast = load_text(text, dialect=dialect, file=name)
        slow = load_text(text, dialect=dialect, file=name, plain=False)
        assert fast == slow, (dialect, name)


def test_sqlite_probe_reads_stored_sql_as_sqlglot_does() -> None:
    for statement in STATEMENTS:
        fast, slow = _probe_facts(statement, True), _probe_facts(statement, False)
        if _NEEDS_SQL.search(statement):
            assert fast == slow, statement
        else:
            # Skipped: sqlglot finds nothing there either, when it can read it.
            assert fast == {**NOTHING_BEYOND_PRAGMAS, "ok": True}, statement
            assert {**slow, "ok": True} == fast, statement


@pytest.mark.parametrize(
    "statement",
    [
        "CREATE TABLE t (a INT CHECK ((a > 0)))",
        "CREATE TABLE t (a TEXT DEFAULT (now() /* kept */))",
        "CREATE TABLE t (a INT CHECK (a > 0 /* kept by sqlglot */))",
        "CREATE TABLE t (a INT) ENGINE=InnoDB",
        "CREATE TABLE s.t (a INT)",
        "CREATE TABLE t (key INT)",
        "CREATE TABLE t (a TEXT DEFAULT 'it''s')",
    ],
)
def test_plain_create_table_declines_what_it_is_not_sure_of(statement: str) -> None:
    for dialect in DIALECTS:
        assert plain_table(statement, dialect) is None


def test_plain_create_table_reads_the_benchmark_tables() -> None:
    statements = [s for s in _bench_statements() if _CREATE_TABLE.match(s)]
    assert statements
    for statement in statements:
        assert plain_table(statement, "sqlite") is not None, statement


def test_plain_create_table_reads_quotes_only_in_the_dialects_style() -> None:
    assert plain_table('CREATE TABLE "t" ("a" INT)', "postgres") is not None
    assert plain_table('CREATE TABLE "t" ("a" INT)', "mysql") is None
    assert plain_table("CREATE TABLE `t` (`a` INT)", "mysql") is not None
    assert plain_table("CREATE TABLE `t` (`a` INT)", "sqlite") is None
