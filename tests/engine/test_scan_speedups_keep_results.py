"""The fast paths of the schema scan change no finding.

The fingerprints of ``bench/bench_scan.py``'s 1,000-table schema were
recorded before the scan was made fast; the DDL and live SQLite scans must
still produce exactly those. The plain CREATE INDEX reader must agree with
sqlglot on every statement it accepts.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from audits.engine.scan import Target, scan
from audits.engine.sources.ddl import load_text
from audits.engine.sources.ddl_plain import plain_index

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = Path(__file__).parent / "fixtures" / "bench_1000_fingerprints.json"


def bench_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bench_scan", ROOT / "bench" / "bench_scan.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_scan", module)
    spec.loader.exec_module(module)
    return module


def test_the_1000_table_schema_gives_the_fingerprints_recorded_before_the_speedups(
    tmp_path: Path,
) -> None:
    bench = bench_module()
    # Database-level live findings are keyed on the file name, as recorded.
    ddl, db = tmp_path / "schema_1000.sql", tmp_path / "schema_1000.sqlite3"
    bench.generate_ddl(ddl)
    bench.generate_sqlite(ddl, db)
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))
    for label, target in (
        ("ddl", Target("ddl", str(ddl), dialect="sqlite")),
        ("sqlite", Target("sqlite", str(db))),
    ):
        result = scan([target])
        assert result.ok
        assert sorted(i.fingerprint for i in result.issues) == expected[label], label


INDEXES = [
    "CREATE INDEX ix_a ON t (a)",
    "CREATE UNIQUE INDEX ix_ab ON t (a, b DESC);",
    "create index if not exists ix_b on t (b asc, a)",
    'CREATE INDEX "Odd Name" ON "t" ("a", b)',
    "CREATE INDEX `ix_m` ON `t` (`a`)",
]


@pytest.mark.parametrize("dialect", ["sqlite", "postgres", "mysql"])
@pytest.mark.parametrize("statement", INDEXES)
def test_plain_create_index_reads_as_sqlglot_reads_it(
    statement: str, dialect: str
) -> None:
    table = "CREATE TABLE t (a INTEGER, b INTEGER);\n"
    fast, fast_notes = load_text(table + statement, dialect=dialect)
    plain = plain_index(statement, dialect)
    if plain is None:
        return  # left to sqlglot: nothing to compare
    # Hide the statement from the fast reader: a comment after the keyword
    # does not match its pattern, so sqlglot reads the same index.
    slow_text = statement.replace("INDEX", "INDEX /* slow */", 1).replace(
        "index", "index /* slow */", 1
    )
    assert plain_index(slow_text, dialect) is None
    slow, slow_notes = load_text(table + slow_text, dialect=dialect)
    assert fast_notes == slow_notes
    assert fast.tables == slow.tables
