"""Write a migration folder and scan it, for the migration tests."""

from __future__ import annotations

from pathlib import Path

from audits.engine.issues import Issue
from audits.engine.scan import Target, scan

ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"
BASE_PG = """\
BEGIN;
CREATE TABLE users (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email varchar(100) NOT NULL, name text, age integer);
CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id bigint, total numeric(10, 2));
CREATE INDEX orders_user ON orders (user_id);
COMMIT;
"""
BASE_MYSQL = """\
CREATE TABLE IF NOT EXISTS users (id BIGINT AUTO_INCREMENT PRIMARY KEY,
    email VARCHAR(50) NOT NULL, name TEXT, age INT) ENGINE=InnoDB;
CREATE TABLE IF NOT EXISTS orders (id BIGINT AUTO_INCREMENT PRIMARY KEY,
    user_id BIGINT, total DECIMAL(10, 2), KEY orders_user (user_id)) ENGINE=InnoDB;
"""
BASES = {"postgres": BASE_PG, "mysql": BASE_MYSQL}


def write(root: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (relative name -> text) under ``root``; return ``root``."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def scan_migrations(folder: Path, dialect: str | None = None) -> list[Issue]:
    """Return the issues a ``migrations`` target of ``folder`` finds."""
    result = scan([Target("migrations", str(folder), dialect=dialect)])
    assert result.ok, [t.error for t in result.targets]
    return list(result.issues)


def judge(
    tmp_path: Path, change: str, dialect: str = "postgres", *, base: str | None = None
) -> list[Issue]:
    """Return the issues of a second migration applied on the base schema."""
    folder = write(
        tmp_path / "db" / "migrations",
        {
            "V1__base.sql": BASES[dialect] if base is None else base,
            "V2__change.sql": change,
        },
    )
    return scan_migrations(folder, dialect)


def found(issues: list[Issue], check: str) -> list[tuple[str, int | None]]:
    """Return (file, line) of each issue of ``check``."""
    return [(i.file, i.line) for i in issues if i.check == check]
