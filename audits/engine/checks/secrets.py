"""Secrets: plaintext secret columns, and empty credentials written by code.

Both use the secret-name rules of :mod:`audits.engine.vocabulary`, which the
live probes also use to pick the columns they sample.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from audits.engine.issues import Issue, Severity
from audits.engine.schema import Schema, Table
from audits.engine.sources.code import CodeFacts
from audits.engine.vocabulary import credential_like, is_numeric_type, secret_like

from .base import CODE, SCHEMA, CheckSpec, Topic
from .code_facts import live_sql, short, use_location
from .schema_facts import column_issue, django_managed

TOPIC = Topic.beside(__file__)


def _secret_samples(schema: Schema) -> dict[tuple[str, str], tuple[int, int]]:
    """Return (table, column) -> (values sampled, of them hashes) from a probe."""
    found: dict[tuple[str, str], tuple[int, int]] = {}
    for entry in schema.fact("secret_samples", ()) or ():
        key = (str(entry["table"]).lower(), str(entry["column"]).lower())
        found[key] = (int(entry["sampled"]), int(entry["hashed"]))
    return found


@TOPIC.implements("secret-stored-plaintext", requires=SCHEMA)
def secret_stored_plaintext(spec: CheckSpec, schema: Schema) -> Iterator[Issue]:
    """Report text columns that look like secrets and not like hashes.

    A live probe samples a few values of each such column; when every one
    has the shape of a hash the column is silent, and when some do not the
    finding says how many. Django's ``auth_user.password`` is written only
    through its password hashers, so it is silent on a Django-managed schema
    unless sampled values contradict that; so is the password of a custom
    user model (a table with Django's ``password`` and ``last_login``).
    """
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
            if not sampled and django and _django_user_password(table, col.name):
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
            severity, why = _secret_severity(table.name, col.name)
            yield column_issue(
                spec, table, col, evidence=f"{evidence}; {why}", severity=severity
            )


_ACCOUNT_TABLE = re.compile(
    r"(^|_)(users?|accounts?|members?|auth|logins?|creds?|credentials?|admins?|"
    r"customers?|persons?|people|profiles?|api_?keys?|keys|clients?)($|_)",
    re.I,
)
_OUTBOUND_TOKEN = re.compile(r"(access|refresh|oauth|bearer|bot)_?token", re.I)


def _django_user_password(table: Table, column: str) -> bool:
    """Return True for the password column of a Django user model."""
    if column.lower() != "password":
        return False
    if table.name.lower() == "auth_user":
        return True
    return table.column("last_login") is not None


def _secret_severity(table: str, column: str) -> tuple[Severity, str]:
    """Return the severity of a plaintext secret column, and why.

    High for what people use to sign in to this application (a password or
    key in an account table): it should be hashed. Medium for a token the
    application presents to another service, which cannot be hashed but can
    be encrypted at rest, and for keys outside account tables. Low for a
    password outside any account table (a password for something else).
    """
    account = bool(_ACCOUNT_TABLE.search(table))
    if _OUTBOUND_TOKEN.search(column):
        return Severity.MEDIUM, (
            "a token presented to another service cannot be hashed; encrypt it at rest"
        )
    if "pass" in column.lower() and not account:
        return Severity.LOW, (
            "a password outside the account tables, perhaps one the application "
            "must use in clear; encrypt it if it guards anything"
        )
    if account:
        return Severity.HIGH, "what people sign in with should be stored as a hash"
    return Severity.MEDIUM, "a secret outside the account tables; hash or encrypt it"


@TOPIC.implements("empty-credential-stored", requires=CODE)
def empty_credential_stored(spec: CheckSpec, code: CodeFacts) -> Iterator[Issue]:
    """Report a literal empty string written to a password/secret column."""
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
