"""ORM declarations: boolean comparisons, deprecated API, one-sided relationships, untyped columns."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from audits.engine.issues import Issue
from audits.engine.sources.code import CodeFacts, OrmModel, OrmRelationship

from .base import CODE, CheckSpec, Topic
from .code_facts import in_model

TOPIC = Topic.beside(__file__)


@TOPIC.implements("orm-boolean-comparison", requires=CODE)
def orm_boolean_comparison(spec: CheckSpec, code: CodeFacts) -> Iterator[Issue]:
    """Report ``== None/True/False`` inside ORM filter expressions."""
    for flt in code.filters:
        if flt.op not in ("==", "!=") or flt.value not in ("None", "True", "False"):
            continue
        if flt.file.startswith("tests/") or "/tests/" in flt.file:
            continue
        method = "is_" if flt.op == "==" else "is_not"
        yield spec.issue(
            key=[
                flt.file,
                flt.function,
                f"{flt.model}.{flt.column} {flt.op} {flt.value}",
            ],
            file=flt.file,
            line=flt.line,
            function=flt.function,
            object=f"{flt.model}.{flt.column}",
            evidence=flt.text,
            remediation=f"Write `{flt.model}.{flt.column}.{method}({flt.value})`.",
        )


@TOPIC.implements("orm-deprecated-api", requires=CODE)
def orm_deprecated_api(spec: CheckSpec, code: CodeFacts) -> Iterator[Issue]:
    """Report ``declarative_base()`` and ``datetime.utcnow`` column defaults."""
    for use in code.uses:
        if use.what == "declarative_base":
            yield spec.issue(
                key=[use.file, "declarative_base"],
                file=use.file,
                line=use.line,
                function=use.function,
                object="declarative_base",
                evidence=use.text,
                remediation="Subclass `sqlalchemy.orm.DeclarativeBase` instead of calling `declarative_base()`.",
            )
    for model in code.models:
        for col in model.columns:
            if col.inherited_from:
                continue  # reported where it is declared
            for what in (col.default, col.onupdate):
                if what and "utcnow" in what:
                    yield spec.issue(
                        key=[model.file, model.name, col.attr, "utcnow"],
                        file=model.file,
                        line=col.line,
                        object=f"{model.table}.{col.name}",
                        evidence=f"{model.name}.{col.attr} uses {what}",
                        remediation=(
                            "Use a timezone-aware default: `default=lambda: "
                            "datetime.now(timezone.utc)` or `server_default=func.now()`."
                        ),
                    )
                    break


@TOPIC.implements("orm-relationship-one-sided", requires=CODE)
def orm_relationship_one_sided(spec: CheckSpec, code: CodeFacts) -> Iterator[Issue]:
    """Report ``back_populates`` that the other model does not answer."""
    for model, rel, target in _unanswered(code.models):
        yield spec.issue(
            **in_model(model, rel.attr, rel.line, f"{model.name}.{rel.attr}"),
            evidence=(
                f"{model.name}.{rel.attr} back_populates='{rel.back_populates}' but "
                f"{target.name} has no matching relationship"
            ),
            remediation=(
                f'Add `{rel.back_populates} = relationship("{model.name}", '
                f'back_populates="{rel.attr}")` to {target.name}.'
            ),
        )


def _unanswered(
    models: Sequence[OrmModel],
) -> Iterator[tuple[OrmModel, OrmRelationship, OrmModel]]:
    """Yield each relationship whose ``back_populates`` its target does not answer.

    With it come its model and the target model. A target the code does not
    declare is not judged. Two models may share a short name (a mapped
    class and an unrelated one in another module): the relationship is
    answered when any of them answers it.
    """
    by_name: dict[str, list[OrmModel]] = {}
    for m in models:
        by_name.setdefault(m.name, []).append(m)
    for model in models:
        for rel in model.relationships:
            if not rel.back_populates:
                continue
            targets = by_name.get(rel.target.split(".")[-1])
            if not targets:
                continue
            if not any(_answers(t, rel) for t in targets):
                yield model, rel, targets[0]


def _answers(target: OrmModel, rel: OrmRelationship) -> bool:
    """Whether ``target`` declares the relationship ``rel`` back-populates."""
    other = next(
        (r for r in target.relationships if r.attr == rel.back_populates), None
    )
    return other is not None and other.back_populates in (rel.attr, None)


@TOPIC.implements("orm-column-type-unset", requires=CODE)
def orm_column_type_unset(spec: CheckSpec, code: CodeFacts) -> Iterator[Issue]:
    """Report ORM columns declared without a type."""
    for model in code.models:
        for col in model.columns:
            if not col.type_unset:
                continue
            yield spec.issue(
                **in_model(model, col.attr, col.line, f"{model.table}.{col.name}"),
                evidence=f"{model.name}.{col.attr} = Column(... no type ...)",
                remediation="Declare the column type in the model (e.g. `JSON`, `String(255)`) so the ORM and migrations agree.",
            )
