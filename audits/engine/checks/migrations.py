"""Migrations: versioned schema changes, and files whose line endings disagree."""

from __future__ import annotations

import re
from collections.abc import Iterator

from audits.engine.issues import Issue, Severity
from audits.engine.schema import Schema
from audits.engine.sources.code import CodeFacts, FunctionInfo, SqlUse
from audits.engine.sources.code_sql import DYN

from .base import CODE, LIVE, CheckSpec, Topic
from .code_context import loop_at, steps
from .code_facts import in_function, live_functions
from .probe_facts import database_of, engine_of, user_tables

TOPIC = Topic.beside(__file__)


@TOPIC.implements("migrations-unversioned", requires=CODE)
def migrations_unversioned_in_code(spec: CheckSpec, code: CodeFacts) -> Iterator[Issue]:
    """Report schema changes re-run at start-up with no record of what ran.

    ALTERs retried behind a silent except are low. Tables rebuilt in a loop
    (create a copy, fill it, drop the original, rename) are high: each start
    copies every row again, and a crash between the drop and the rename
    loses the table unless one transaction holds all four steps.
    """
    for fn in live_functions(code):
        rebuild = _table_rebuild(code, fn)
        if rebuild is not None:
            yield _rebuild_issue(spec, fn, rebuild)
    if "migrations" in code.keywords:
        return
    for fn in live_functions(code):
        if not fn.alters_in_try:
            continue
        yield spec.issue(
            key=[fn.file, fn.qualname],
            **in_function(fn, fn.alters_in_try[0]),
            evidence=(
                f"{len(fn.alters_in_try)} ALTER TABLE statement(s) in `{fn.name}` run "
                "inside try/except and are re-run on every start"
            ),
            remediation=(
                "Record the schema version (`PRAGMA user_version`, or a migrations table "
                "via Alembic) and apply each ALTER once, in order."
            ),
        )


_VERSION_NAME = re.compile(r"(version|migrat|schema|revision)", re.I)
_REBUILD_STEPS = (
    ("create", re.compile(r"^\s*CREATE\s+TABLE\b", re.I)),
    ("copy", re.compile(r"^\s*INSERT\s+INTO\b.*\bSELECT\b", re.I | re.S)),
    ("drop", re.compile(r"^\s*DROP\s+TABLE\b", re.I)),
    ("rename", re.compile(r"^\s*ALTER\s+TABLE\b.*\bRENAME\s+TO\b", re.I | re.S)),
)


def _table_rebuild(code: CodeFacts, fn: FunctionInfo) -> dict[str, SqlUse] | None:
    """Return the steps of a table rebuild run in a loop over table names, if any."""
    by_loop: dict[int, dict[str, SqlUse]] = {}
    for use in code.sql_by_function.get(fn.qualname, ()):
        if not use.loop_depth or use.loop_line is None or DYN not in use.template:
            continue
        for step, pattern in _REBUILD_STEPS:
            if pattern.search(use.template):
                by_loop.setdefault(use.loop_line, {}).setdefault(step, use)
    guarded = [
        line
        for line, names in fn.if_tests
        if any(_VERSION_NAME.search(n) for n in names)
    ]
    for loop_line, found in by_loop.items():
        if any(line < loop_line for line in guarded):
            continue  # run once, behind a check of the schema version
        if {"drop", "rename"} <= set(found) and {"create", "copy"} & set(found):
            return found
    return None


def _rebuild_issue(
    spec: CheckSpec, fn: FunctionInfo, found: dict[str, SqlUse]
) -> Issue:
    drop = found["drop"]
    loop = loop_at(fn, drop.loop_line)
    over = f"`{loop.iter_text[:60]}`" if loop is not None else "table names"
    issue = spec.issue(
        key=[fn.file, fn.qualname, "rebuild"],
        severity=Severity.HIGH,
        **in_function(fn, drop.line),
        evidence=(
            f"`{fn.name}` rebuilds each table of {over} (create a copy, fill it, drop, "
            "rename) on every run, with the table names formatted into the SQL"
        ),
        remediation=(
            "Record the schema version (`PRAGMA user_version` or a migrations table) "
            "and rebuild each table once, inside one transaction with "
            "`PRAGMA foreign_keys = OFF` around it, as SQLite's ALTER TABLE guide says."
        ),
    )
    order = ("create", "copy", "drop", "rename")
    return issue.with_changes(
        trace=steps(
            *(
                (found[s].file, found[s].line, f"{s}: `{found[s].snippet[:80]}`")
                for s in order
                if s in found
            ),
            (
                fn.file,
                drop.line,
                "a crash between the drop and the rename loses the table",
            ),
        )
    )


@TOPIC.implements("migrations-unversioned", requires=LIVE)
def migrations_unversioned_live(spec: CheckSpec, schema: Schema) -> Iterator[Issue]:
    """Report a database with tables and no migration version table.

    On SQLite a non-zero ``user_version`` counts as versioning too. Key:
    ``["project"]``, as the code check's: unversioned schema changes are one
    problem of the project, however many places show it.
    """
    if not user_tables(schema):
        return
    if schema.fact("version_tables"):
        return
    if engine_of(schema) == "sqlite" and schema.fact("user_version"):
        return
    extra = " and PRAGMA user_version is 0" if engine_of(schema) == "sqlite" else ""
    yield spec.issue(
        key=["project"],
        object=database_of(schema),
        evidence=(
            f"{len(user_tables(schema))} table(s) but no migration version table "
            f"(alembic_version, django_migrations, schema_migrations, ...){extra}."
        ),
    )


@TOPIC.implements("line-endings-mixed", requires=CODE)
def line_endings_mixed(spec: CheckSpec, code: CodeFacts) -> Iterator[Issue]:
    """Report files mixing CRLF and LF, and file kinds split between the two."""
    files = list(code.files) + list(code.other_files)
    for f in files:
        if f.crlf and f.lf:
            yield spec.issue(
                key=[f.path],
                file=f.path,
                object=f.path,
                evidence=f"{f.crlf} CRLF and {f.lf} LF line endings in one file",
                remediation="Normalise the file to LF and add a `.gitattributes` rule (`* text=auto eol=lf`).",
            )
    kinds: dict[str, tuple[list[str], list[str]]] = {}
    for f in files:
        ext = f.path.rsplit(".", 1)[-1] if "." in f.path else f.path
        crlf, lf = kinds.setdefault(ext, ([], []))
        if f.crlf and not f.lf:
            crlf.append(f.path)
        elif f.lf and not f.crlf:
            lf.append(f.path)
    for ext, (crlf, lf) in sorted(kinds.items()):
        if crlf and lf:
            yield spec.issue(
                key=[f"*.{ext}"],
                object=f"*.{ext}",
                file=crlf[0],
                evidence=f"{len(crlf)} .{ext} file(s) use CRLF (e.g. {crlf[0]}), {len(lf)} use LF",
                remediation="Pick LF for every file of a kind and enforce it with `.gitattributes`.",
            )
