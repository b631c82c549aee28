"""SQL built from values: injection and formatted identifiers."""

from __future__ import annotations

from collections.abc import Iterator

from audits.engine.issues import Issue

from .base import CODE, CRIT, MED, MIN, SEC, CheckSpec, Facts, Topic
from .code_facts import code_of, live_sql, short, sql_key, use_location

# id, dimension, severity, effort, evidence, title, rationale, remediation
# fmt: off
TOPIC = Topic(
    ("sql-injection", SEC, CRIT, MIN, "code",
     "SQL built from string formatting",
     "SQL assembled with f-strings, `%`, `+` or `.format` from non-constant values lets input change the statement.",
     "Pass values as bound parameters (`?`, `%s`, `:name`)."),
    ("sql-dynamic-identifier", SEC, MED, MIN, "code",
     "Identifier interpolated into SQL without an allowlist",
     "Column or table names cannot be bound parameters; interpolating them unchecked lets input choose the identifier.",
     "Check the identifier against an explicit allowlist (or quote it with the driver's identifier quoting)."),
)
# fmt: on


@TOPIC.implements("sql-injection", requires=CODE)
def sql_injection(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report SQL built by formatting non-constant values into the text."""
    if (code := code_of(facts)) is None:
        return
    for use in live_sql(code):
        unsafe = [i for i in use.interpolations if not i.safe]
        if not unsafe:
            continue
        values = [
            i
            for i in unsafe
            if not i.identifiers
            and (i.index in use.sql.dynamic_in_value or not use.sql.parsed)
        ]
        if not values:
            continue
        names = ", ".join(f"`{i.expr}`" for i in values)
        yield spec.issue(
            key=sql_key(use),
            object=use.function,
            evidence=f"{use.snippet}  # {names} formatted into the SQL ({use.built})",
            remediation=(
                f"Pass {names} as parameters (`?` / `%s` placeholders and a params "
                f"tuple) in `{short(use.function)}` instead of formatting them into the SQL."
            ),
            **use_location(use),
        )


@TOPIC.implements("sql-dynamic-identifier", requires=CODE)
def sql_dynamic_identifier(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report table/column names formatted into SQL without an allowlist."""
    if (code := code_of(facts)) is None:
        return
    for use in live_sql(code):
        idents = [
            i
            for i in use.interpolations
            if not i.safe
            and (i.identifiers or i.index in use.sql.dynamic_in_identifier)
        ]
        if not idents:
            continue
        names = ", ".join(f"`{i.expr}`" for i in idents)
        yield spec.issue(
            key=sql_key(use),
            object=use.function,
            evidence=f"{use.snippet}  # identifier(s) {names} come from variables",
            remediation=(
                f"Check {names} against a fixed allowlist of column/table names in "
                f"`{short(use.function)}` before building the SQL (or quote them with "
                "the driver's identifier quoting)."
            ),
            **use_location(use),
        )
