"""SQL built from values: injection and formatted identifiers."""

from __future__ import annotations

from collections.abc import Iterator

from audits.engine.issues import Issue, Severity
from audits.engine.sources.code import CodeFacts

from .base import CODE, CheckSpec, Topic
from .code_context import steps, value_origin
from .code_facts import live_sql, short, sql_key, use_location

TOPIC = Topic.beside(__file__)


@TOPIC.implements("sql-injection", requires=CODE)
def sql_injection(spec: CheckSpec, code: CodeFacts) -> Iterator[Issue]:
    """Report SQL built by formatting values that can come from outside.

    Severity: critical when request data or a parameter of a function a
    framework calls reaches the SQL text; high when a caller fills the
    parameter with a value that is not a constant, or passes on input it
    was given; medium when no caller is known; low for a command-line
    option, which whoever runs the tool types and who already holds the
    database. Constants, allow-listed or quoted values, numbers, placeholder
    lists and values the code computes itself are not injection, nor a
    parameter every caller fills with a constant or leaves to its default.
    """
    for use in live_sql(code):
        fn = code.by_qualname.get(use.function)
        values = [
            i
            for i in use.interpolations
            if not i.safe
            and not i.identifiers
            and (i.index in use.sql.dynamic_in_value or not use.sql.parsed)
        ]
        if not values or fn is None:
            continue
        reaching = [
            (i, how, why)
            for i in values
            for how, why in [value_origin(code, fn, i)]
            if how
        ]
        if not reaching:
            continue
        worst = min(_SURE.index(how) for _i, how, _w in reaching)
        names = ", ".join(f"`{i.expr}`" for i, _how, _why in reaching)
        issue = spec.issue(
            key=sql_key(use),
            severity=_SEVERITY[worst],
            object=use.function,
            evidence=f"{use.snippet}  # {names} formatted into the SQL ({use.built})",
            remediation=(
                f"Pass {names} as parameters (`?` / `%s` placeholders and a params "
                f"tuple) in `{short(use.function)}` instead of formatting them into the SQL."
            ),
            **use_location(use),
        )
        yield issue.with_changes(
            trace=steps(
                *((fn.file, fn.line, why) for _i, _how, why in reaching),
                (
                    use.file,
                    use.line,
                    f"formatted into the SQL text ({use.built}) and run",
                ),
            )
        )


_SURE = ("sure", "callers", "unknown", "operator")
_SEVERITY = (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW)


@TOPIC.implements("sql-dynamic-identifier", requires=CODE)
def sql_dynamic_identifier(spec: CheckSpec, code: CodeFacts) -> Iterator[Issue]:
    """Report table/column names formatted into SQL from values that can come from outside.

    Names the code builds from its own constants (a class's column list, a
    list of constant fragments, keywords callers pass) are not reported;
    names from a parameter no caller is known to fill, or from a
    command-line option, are low.
    """
    for use in live_sql(code):
        fn = code.by_qualname.get(use.function)
        idents = [
            i
            for i in use.interpolations
            if not i.safe
            and (i.identifiers or i.index in use.sql.dynamic_in_identifier)
        ]
        if not idents or fn is None:
            continue
        reaching = [
            (i, how, why)
            for i in idents
            for how, why in [value_origin(code, fn, i, names=True)]
            if how
        ]
        if not reaching:
            continue
        names = ", ".join(f"`{i.expr}`" for i, _how, _why in reaching)
        unsure = all(how in ("unknown", "operator") for _i, how, _why in reaching)
        issue = spec.issue(
            key=sql_key(use),
            severity=Severity.LOW if unsure else None,
            object=use.function,
            evidence=f"{use.snippet}  # identifier(s) {names} come from variables"
            + ("; no caller was found to show where they come from" if unsure else ""),
            remediation=(
                f"Check {names} against a fixed allowlist of column/table names in "
                f"`{short(use.function)}` before building the SQL (or quote them with "
                "the driver's identifier quoting)."
            ),
            **use_location(use),
        )
        yield issue.with_changes(
            trace=steps(
                *((fn.file, fn.line, why) for _i, _how, why in reaching),
                (use.file, use.line, "formatted into the SQL as a name"),
            )
        )
