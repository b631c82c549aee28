"""Helpers for the code-check tests: write a small project, scan it, pick issues."""

from __future__ import annotations

import textwrap
from pathlib import Path

from audits.engine.issues import Evidence, Issue
from audits.engine.registry import Facts, run_checks
from audits.engine.schema import (
    Check,
    Column,
    ForeignKey,
    Index,
    IndexColumn,
    Schema,
    Table,
)
from audits.engine.sources.code import load_code


def write(root: Path, files: dict[str, str]) -> None:
    """Write ``files`` (relative path -> dedented source) under ``root``."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


def scan_code(
    root: Path, files: dict[str, str] | None = None, schema: Schema | None = None
) -> list[Issue]:
    """Scan the code under ``root`` (after writing ``files``) and return all issues."""
    if files:
        write(root, files)
    code = load_code(root)
    evidence = {Evidence.CODE}
    if schema is not None:
        evidence |= {Evidence.SCHEMA, Evidence.DDL}
    issues, _ran, errors = run_checks(
        Facts(schema=schema, code=code, evidence=frozenset(evidence), root=str(root))
    )
    assert not errors, errors
    return issues


def of(issues: list[Issue], check: str) -> list[Issue]:
    """Return the issues of one check."""
    return [i for i in issues if i.check == check]


def functions(issues: list[Issue], check: str) -> set[str]:
    """Return the short function names one check reported."""
    return {i.function.rsplit(".", 1)[-1] for i in of(issues, check)}


def table(
    name: str,
    *columns: str,
    fks: tuple[ForeignKey, ...] = (),
    indexes: tuple[tuple[str, ...], ...] = (),
    checks: tuple[Check, ...] = (),
) -> Table:
    """Return a schema table with TEXT columns and an ``id`` primary key."""
    cols = tuple(Column(c, "TEXT", primary_key=c == "id") for c in ("id", *columns))
    return Table(
        name=name,
        columns=cols,
        primary_key=("id",),
        foreign_keys=fks,
        indexes=tuple(
            Index(f"idx_{name}_{i}", name, tuple(IndexColumn(c) for c in ix))
            for i, ix in enumerate(indexes)
        ),
        checks=checks,
    )


def schema(*tables: Table) -> Schema:
    """Return a SQLite schema of ``tables``."""
    return Schema(tables=tables, dialect="sqlite", source="test")
