"""Migrations: versioned schema changes, and files whose line endings disagree."""

from __future__ import annotations

from collections.abc import Iterator

from audits.engine.issues import Issue

from .base import CODE, HRS, INFO, LIVE, LOW, MIN, OPS, CheckSpec, Facts, Topic
from .code_facts import code_of, in_function, live_functions
from .probe_facts import database_of, engine_of, live_schema, user_tables

# id, dimension, severity, effort, evidence, title, rationale, remediation
# fmt: off
TOPIC = Topic(
    ("migrations-unversioned", OPS, LOW, HRS, "code live",
     "Schema changes are not versioned",
     "Ad-hoc ALTERs at start-up with no version table make schema state unknowable and changes unrepeatable.",
     "Adopt a migration tool (Alembic, Django migrations) with a version table."),
    ("line-endings-mixed", OPS, INFO, MIN, "code",
     "Mixed line endings",
     "Files of one kind with both CRLF and LF endings make diffs noisy and some tools misread them.",
     "Normalise line endings (.gitattributes `* text=auto`)."),
)
# fmt: on


@TOPIC.implements("migrations-unversioned", requires=CODE)
def migrations_unversioned_in_code(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report ALTER TABLE statements retried at start-up behind a silent except."""
    if (code := code_of(facts)) is None or "migrations" in code.keywords:
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


@TOPIC.implements("migrations-unversioned", requires=LIVE)
def migrations_unversioned_live(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report a database with tables and no migration version table.

    On SQLite a non-zero ``user_version`` counts as versioning too. Key:
    ``["project"]``, as the code check's: unversioned schema changes are one
    problem of the project, however many places show it.
    """
    if (schema := live_schema(facts)) is None or not user_tables(schema):
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
def line_endings_mixed(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report files mixing CRLF and LF, and file kinds split between the two."""
    if (code := code_of(facts)) is None:
        return
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
