"""Secrets: plaintext secret columns, and empty credentials written by code.

Both use the secret-name rules of :mod:`audits.engine.vocabulary`, which the
live probes also use to pick the columns they sample.
"""

from __future__ import annotations

from collections.abc import Iterator

from audits.engine.issues import Issue
from audits.engine.schema import Schema
from audits.engine.vocabulary import credential_like, is_numeric_type, secret_like

from .base import CODE, HIGH, HRS, MED, MIN, SCHEMA, SEC, CheckSpec, Facts, Topic
from .code_facts import code_of, live_sql, short, use_location
from .schema_facts import column_issue, django_managed, schema_of

# id, dimension, severity, effort, evidence, title, rationale, remediation
# fmt: off
TOPIC = Topic(
    ("secret-stored-plaintext", SEC, HIGH, HRS, "ddl live",
     "Secret stored in plain text",
     "A password, token or key column that is not a hash or ciphertext exposes every credential to anyone who reads the database or a backup.",
     "Store a hash (passwords, tokens) or ciphertext (keys needed later), and name the column for it."),
    ("empty-credential-stored", SEC, MED, MIN, "code",
     "Empty string written to a credential column",
     "An empty password or secret is a valid value to compare against, which can let a blank credential through.",
     "Store NULL for 'no credential' and reject empty strings."),
)
# fmt: on


def _secret_samples(schema: Schema) -> dict[tuple[str, str], tuple[int, int]]:
    """Return (table, column) -> (values sampled, of them hashes) from a probe."""
    found: dict[tuple[str, str], tuple[int, int]] = {}
    for entry in schema.fact("secret_samples", ()) or ():
        key = (str(entry["table"]).lower(), str(entry["column"]).lower())
        found[key] = (int(entry["sampled"]), int(entry["hashed"]))
    return found


@TOPIC.implements("secret-stored-plaintext", requires=SCHEMA)
def secret_stored_plaintext(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report text columns that look like secrets and not like hashes.

    A live probe samples a few values of each such column; when every one
    has the shape of a hash the column is silent, and when some do not the
    finding says how many. Django's ``auth_user.password`` is written only
    through its password hashers, so it is silent on a Django-managed schema
    unless sampled values contradict that.
    """
    if (schema := schema_of(facts)) is None:
        return
    samples = _secret_samples(schema)
    django = django_managed(schema)
    for table in schema.tables:
        for col in table.columns:
            if not secret_like(col.name) or is_numeric_type(col):
                continue
            if "BOOL" in col.type.upper():
                continue
            sampled, hashed = samples.get(
                (table.name.lower(), col.name.lower()), (0, 0)
            )
            if sampled and hashed == sampled:
                continue
            if (
                not sampled
                and django
                and (table.name.lower(), col.name.lower()) == ("auth_user", "password")
            ):
                continue
            evidence = (
                f"{table.name}.{col.name} {col.type or '(untyped)'}: the name "
                f"says secret, not hash or ciphertext"
            )
            if sampled:
                evidence += (
                    f"; {sampled - hashed} of {sampled} sampled values do not look "
                    f"like hashes"
                )
            yield column_issue(
                spec,
                table,
                col,
                evidence=evidence,
            )


@TOPIC.implements("empty-credential-stored", requires=CODE)
def empty_credential_stored(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report a literal empty string written to a password/secret column."""
    if (code := code_of(facts)) is None:
        return
    for use in live_sql(code):
        if not use.sql.is_write:
            continue
        for column, value in use.literal_writes().items():
            if value == "" and credential_like(column):
                table = use.sql.tables[0] if use.sql.tables else ""
                yield spec.issue(
                    key=[use.file, use.function, table, column],
                    object=f"{table}.{column}",
                    evidence=f"{use.snippet}  # '' written to {column}",
                    remediation=(
                        f"Store NULL (and allow it) for accounts without a {column} in "
                        f"`{short(use.function)}`, so an empty string can never match a "
                        "login check."
                    ),
                    **use_location(use),
                )
    models = {m.name: m for m in code.models}
    for write in code.orm_writes:
        model = models.get(write.model)
        if model is None or write.value != "" or not credential_like(write.column):
            continue
        yield spec.issue(
            key=[write.file, write.function, model.table, write.column],
            file=write.file,
            line=write.line,
            function=write.function,
            object=f"{model.table}.{write.column}",
            evidence=f"{write.model}({write.column}='')",
            remediation=f"Store None for accounts without a {write.column}.",
        )
