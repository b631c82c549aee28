"""Words and predicates that sources and checks share, defined once.

Everything here is plain data about names and types: which column names
look like an enum, a secret, a tenant key or a soft-delete flag, which
tables look like owners or append-only logs, how a declared type compares
across engines, and which folders a source never reads. Sources and checks
import this module; it imports nothing above :mod:`audits.engine.schema`.
A word list used by one check only stays beside that check.
"""

from __future__ import annotations

import re
from functools import lru_cache

from audits.engine.schema import Column

# --------------------------------------------------------------- folders

# Folders that hold tools, caches, dependencies or test data, never the
# project's own code or schema: the code and DDL sources skip them alike.
SKIPPED_DIRS = frozenset(
    {
        ".venv",
        "venv",
        "env",
        ".env",
        "node_modules",
        "build",
        "dist",
        "__pycache__",
        ".git",
        ".hg",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        "site-packages",
        "fixtures",
        "test_fixtures",
        "testdata",
        "test-fixtures",
    }
)


def skipped_dir(name: str) -> bool:
    """Return True for a folder name no source reads (tools, caches, builds)."""
    return name in SKIPPED_DIRS or name.endswith(".egg-info")


# ----------------------------------------------------------------- names

_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
_WORD_BREAK = re.compile(r"[_\W]+")


def words(name: str) -> list[str]:
    """Return the lower-case words of a snake_case or camelCase name."""
    return list(_words(name))


def last_word(name: str) -> str:
    """Return the last word of a name (``status`` of ``orderStatus``), or ""."""
    parts = _words(name)
    return parts[-1] if parts else ""


@lru_cache(maxsize=16384)
def _words(name: str) -> tuple[str, ...]:
    # Several checks ask for the words of every column; a schema repeats
    # the same few names across its tables.
    spaced = _CAMEL.sub(r"\1_\2", name)
    return tuple(w for w in _WORD_BREAK.split(spaced.lower()) if w)


# ----------------------------------------------------------------- types


def type_family(type_text: str, dialect: str) -> str:
    """Return the comparable family of a column type ('' when unknown).

    SQLite follows its affinity rules (contains INT -> integer; CHAR, CLOB
    or TEXT -> text; BLOB or no type -> blob; REAL, FLOA, DOUB -> real; else
    numeric). Other engines compare integer widths too, as an INT column
    cannot hold every BIGINT key.
    """
    t = type_text.upper().strip()
    if dialect == "sqlite":
        if "INT" in t:
            return "integer"
        if any(k in t for k in ("CHAR", "CLOB", "TEXT")):
            return "text"
        if not t or "BLOB" in t:
            return ""
        if any(k in t for k in ("REAL", "FLOA", "DOUB")):
            return "real"
        return "numeric"
    base = re.sub(r"\(.*?\)", "", t).replace("UNSIGNED", "").strip()
    widths = {
        "SMALLINT": 2,
        "INT2": 2,
        "SMALLSERIAL": 2,
        "TINYINT": 1,
        "MEDIUMINT": 3,
        "INT": 4,
        "INTEGER": 4,
        "INT4": 4,
        "SERIAL": 4,
        "BIGINT": 8,
        "INT8": 8,
        "BIGSERIAL": 8,
    }
    if base in widths:
        return f"integer{widths[base]}"
    if base.startswith("U") and base[1:] in widths:
        return f"integer{widths[base[1:]]}"
    if any(k in base for k in ("CHAR", "TEXT", "STRING", "CLOB", "CITEXT", "VARYING")):
        return "text"
    if base in ("UUID", "UNIQUEIDENTIFIER"):
        return "uuid"
    if base in ("NUMERIC", "DECIMAL", "NUMBER", "MONEY"):
        return "numeric"
    if base in ("REAL", "FLOAT", "DOUBLE", "DOUBLE PRECISION", "FLOAT4", "FLOAT8"):
        return "real"
    if base in ("BOOLEAN", "BOOL"):
        return "boolean"
    if "TIMESTAMP" in base or base == "DATETIME":
        return "timestamp"
    if base in ("BINARY", "VARBINARY", "BYTEA", "BLOB"):
        return "binary"
    return base.lower()


def is_integer_type(column: Column) -> bool:
    """Return True for integer-like declared types on any engine."""
    t = column.type.upper()
    return "INT" in t or t in ("SERIAL", "BIGSERIAL", "SMALLSERIAL")


def is_numeric_type(column: Column) -> bool:
    """Return True for integer, real and decimal declared types."""
    t = column.type.upper()
    return is_integer_type(column) or any(
        k in t for k in ("REAL", "FLOA", "DOUB", "NUMERIC", "DECIMAL", "NUMBER")
    )


def is_text_type(column: Column) -> bool:
    """Return True for character types, and for SQLite's untyped columns."""
    t = column.type.upper()
    return not t or any(k in t for k in ("CHAR", "TEXT", "CLOB", "STRING"))


# ---------------------------------------------------------- column roles

ENUM_WORDS = frozenset(
    {
        "status",
        "state",
        "type",
        "kind",
        "mode",
        "category",
        "role",
        "level",
        "priority",
        "stage",
        "phase",
        "visibility",
        "scoring",
        "tier",
        "source",
        "severity",
        "plan",
        "method",
        "strategy",
    }
)


def enum_like(name: str) -> bool:
    """Return True when a column name suggests a small closed set of values."""
    return last_word(name) in ENUM_WORDS and "id" not in words(name)


SOFT_DELETE_COLUMNS = frozenset(
    {"deleted_at", "is_deleted", "deleted", "archived_at", "removed_at", "is_archived"}
)

UPDATED_AT_COLUMNS = (
    "updated_at",
    "modified_at",
    "last_updated",
    "updated",
    "modified",
    "last_modified",
)
# Columns that scope a row to a tenant, in the order a statement's WHERE
# clause is expected to name them.
TENANT_COLUMNS = (
    "user_id",
    "team_id",
    "workspace_id",
    "tenant_id",
    "org_id",
    "organization_id",
    "account_id",
    "owner_id",
    "organisation_id",
    "customer_id",
    "company_id",
)

# ---------------------------------------------------------------- tables

OWNER_TABLES = frozenset(
    {
        "user",
        "users",
        "account",
        "accounts",
        "tenant",
        "tenants",
        "workspace",
        "workspaces",
        "organization",
        "organizations",
        "organisation",
        "organisations",
        "org",
        "orgs",
        "team",
        "teams",
        "customer",
        "customers",
        "member",
        "members",
        "company",
        "companies",
        "auth_user",
    }
)

GROWTH_TOKENS = frozenset(
    {
        "log",
        "logs",
        "audit",
        "token",
        "tokens",
        "run",
        "runs",
        "job",
        "jobs",
        "event",
        "events",
        "session",
        "sessions",
        "history",
        "histories",
        "attempt",
        "attempts",
        "notification",
        "notifications",
        "message",
        "messages",
        "report",
        "reports",
        "version",
        "versions",
        "metric",
        "metrics",
        "snapshot",
        "snapshots",
        "result",
        "results",
    }
)


def is_growth_table(name: str) -> bool:
    """Return True for tables named like logs, tokens, runs, jobs, events."""
    return any(part in GROWTH_TOKENS for part in name.lower().split("_"))


# --------------------------------------------------------------- secrets

# The last word of a column that holds a secret as typed or issued.
SECRET_NOUNS = frozenset({"password", "passwd", "pwd", "secret", "token", "passphrase"})
# Words that name a credential anywhere in a column name.
CREDENTIAL_WORDS = SECRET_NOUNS | {"credential", "credentials", "apikey"}
_SECRET_KEY = re.compile(r"(api|private|secret|access|signing)_?key")
SECRET_SAFE_WORDS = frozenset(
    {
        "hash",
        "hashed",
        "digest",
        "salt",
        "encrypted",
        "enc",
        "cipher",
        "ciphertext",
        "bcrypt",
        "argon2",
        "id",
        "type",
        "expires",
        "expiry",
        "at",
        "count",
        "length",
        "len",
        "prefix",
        "hint",
        "last4",
        "set",
        "changed",
        "required",
        "updated",
        "reset",
        "version",
        "name",
        "fingerprint",
        "kind",
        "scope",
        "scopes",
    }
)


def secret_like(name: str) -> bool:
    """Return True when a column name suggests a plaintext secret.

    A hash, digest, ciphertext or a fact about the secret (its length, when
    it expires, its kind) is not the secret itself.
    """
    parts = words(name)
    if not parts or any(p in SECRET_SAFE_WORDS for p in parts):
        return False
    if parts[-1] in SECRET_NOUNS:
        return True
    return re.search(_SECRET_KEY.pattern + "$", "_".join(parts)) is not None


_PASSWORD = re.compile(r"pass(?:word|wd|phrase)|pwd", re.IGNORECASE)


def password_like(name: str) -> bool:
    """Return True when a column name says it holds a password (or its hash).

    A password's hash has its own formats (bcrypt, argon2, Django's
    ``algorithm$...``) that a sampled value can be recognised by.
    """
    return _PASSWORD.search(name) is not None


def credential_like(name: str) -> bool:
    """Return True when a column name names a credential, stored hashed or not.

    The wider rule of the two: an empty string written to ``password_hash``
    is still an empty credential. References (``..._id``) and times
    (``..._at``) are not credentials.
    """
    parts = words(name)
    if not parts or parts[-1] in ("id", "at"):
        return False
    joined = "_".join(parts)
    return any(p in CREDENTIAL_WORDS for p in parts) or bool(_SECRET_KEY.search(joined))
