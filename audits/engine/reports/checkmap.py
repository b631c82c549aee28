"""Map a finding's words to the Plumbline check that detects the same problem."""

from __future__ import annotations

import re

from audits.engine.issues import Dimension

# --- checks ---------------------------------------------------------------

_CHECK_RULES: tuple[tuple[str, Dimension, str], ...] = (
    (
        "fk-conflicting-declarations",
        Dimension.SCHEMA,
        r"conflicting.*\b(fk|foreign key)",
    ),
    (
        "fk-conflicting-declarations",
        Dimension.SCHEMA,
        r"\b(fk|foreign key)s?\b.*conflict",
    ),
    ("sqlite-busy-timeout-missing", Dimension.OPERATIONS, r"busy[_\s-]?timeout"),
    (
        "cleanup-never-called",
        Dimension.OPERATIONS,
        r"(clean[\s-]?up|purge|prune|expir\w*)\b.*\bnever\s+(called|invoked|run|scheduled)",
    ),
    (
        "index-missing-soft-delete",
        Dimension.PERFORMANCE,
        r"(deleted_at|soft[\s-]?delete)\b.*\bindex",
    ),
    (
        "index-missing-soft-delete",
        Dimension.PERFORMANCE,
        r"\bindex\b.*\b(deleted_at|soft[\s-]?delete)",
    ),
    (
        "fk-missing-index",
        Dimension.PERFORMANCE,
        r"\b(fk|foreign[\s-]key)s?\b.*\b(without|no|missing|lacks?)\b.*\bindex",
    ),
    (
        "fk-missing-index",
        Dimension.PERFORMANCE,
        r"\b(missing|no)\b.*\bindex(es)?\b.*\b(fk|foreign[\s-]key)",
    ),
    (
        "txn-lost-update",
        Dimension.INTEGRITY,
        r"\brace\b|lost[\s-]update|toctou|check.{0,30}\bnot atomic",
    ),
    (
        "txn-not-atomic",
        Dimension.INTEGRITY,
        r"not (transactional|atomic)|non[\s-]?atomic|partial (data|write)s?",
    ),
    ("query-n-plus-one", Dimension.PERFORMANCE, r"\bn\s*\+\s*1\b"),
    (
        "query-aggregation-in-app",
        Dimension.PERFORMANCE,
        r"aggregat\w*\b.*\b(in (python|the app\w*|code)|not (in )?sql)",
    ),
    ("check-incomplete-enum", Dimension.SCHEMA, r"\bcheck\b.*\bmissing\s+['\"`]"),
    (
        "check-missing-enum",
        Dimension.SCHEMA,
        r"missing check|no check constraint|without (a )?check",
    ),
    (
        "fk-no-on-delete",
        Dimension.SCHEMA,
        r"\bno on delete\b|without on delete|missing on delete",
    ),
    (
        "fk-missing",
        Dimension.SCHEMA,
        r"\b(has no|no|missing|without( an?)?)\s+(fk|foreign[\s-]key)\b",
    ),
    ("backup-missing", Dimension.OPERATIONS, r"\b(no|missing|without)\b.*\bbackups?\b"),
    ("index-duplicate", Dimension.PERFORMANCE, r"duplicate ind(ex|ices|exes)"),
    ("index-redundant", Dimension.PERFORMANCE, r"redundant ind(ex|ices|exes)"),
    (
        "migrations-unversioned",
        Dimension.OPERATIONS,
        r"migration\w*\s+versioning|unversioned migration|no migration (tool|version)",
    ),
    (
        "naming-inconsistent-timestamp",
        Dimension.SCHEMA,
        r"(created|updated|timestamp)\w*\b.*naming|naming\b.*(created|timestamp)",
    ),
    (
        "default-divergence",
        Dimension.SCHEMA,
        r"default\w*\s+(divergen|differ|mismatch)",
    ),
    (
        "connection-leak-prone",
        Dimension.OPERATIONS,
        r"caller\w* to close|connection leak|must close",
    ),
    (
        "empty-credential-stored",
        Dimension.SECURITY,
        r"empty (string|value)\b.*\b(password|secret|credential)|empty (password|credential)",
    ),
    (
        "unique-missing-natural-key",
        Dimension.SCHEMA,
        r"missing unique|no unique|without unique",
    ),
    (
        "sqlite-synchronous-normal",
        Dimension.INTEGRITY,
        r"synchronous\s*=?\s*(full|normal)",
    ),
    (
        "connection-per-operation",
        Dimension.PERFORMANCE,
        r"per[\s-]connection|connection per (write|statement|operation|query)|new connection (for|per) (each|every)",
    ),
    (
        "tenant-scope-missing",
        Dimension.ISOLATION,
        r"skip\w* (user|tenant|team)_id|without (user|tenant|team)_id|tenant scop",
    ),
    (
        "orm-boolean-comparison",
        Dimension.PERFORMANCE,
        r"boolean comparison|==\s*(true|false|none)",
    ),
    (
        "orm-column-type-unset",
        Dimension.SCHEMA,
        r"type_\s*=\s*none|column type (unset|missing)",
    ),
    (
        "commit-without-rollback",
        Dimension.INTEGRITY,
        r"missing error handling|without rollback|no rollback|commit\w* without (try|error)",
    ),
    (
        "commit-ownership-unclear",
        Dimension.INTEGRITY,
        r"double commit|commit ownership|auto[\s-]?commit",
    ),
    (
        "sqlite-foreign-keys-off",
        Dimension.INTEGRITY,
        r"foreign_keys\s*(=\s*)?(on|off)?\b.*\b(not|never|missing|off)|foreign keys? (are )?(not enforced|off|disabled)",
    ),
    (
        "tenant-scope-missing",
        Dimension.ISOLATION,
        r"(skip|miss|lack|without)\w*\b.*\b(tenant|site|team|org|workspace|account)"
        r"\b.*\b(filter|scope|check)",
    ),
    (
        "pool-health-check-missing",
        Dimension.OPERATIONS,
        r"pre[\s-]?ping|pool\b.*\b(health[\s-]?check|recycle)",
    ),
    (
        "sql-injection",
        Dimension.SECURITY,
        r"(query|sql)\b.*\b(string (formatting|concatenation)|f-strings?|concatenat)",
    ),
    (
        "sql-dynamic-identifier",
        Dimension.SECURITY,
        r"dynamic (order by|column|table|identifier|sort)",
    ),
    (
        "timestamp-without-time-zone",
        Dimension.SCHEMA,
        r"timestamps?\b.*\bwithout time[\s-]?zone",
    ),
    (
        "naming-inconsistent-timestamp",
        Dimension.SCHEMA,
        r"\b(created|updated|modified)\b.*\b(created|updated)_at\b",
    ),
    (
        "sqlite-foreign-keys-off",
        Dimension.INTEGRITY,
        r"(turn on|enable|enforce)\b.*foreign[\s_-]?keys?",
    ),
    (
        "sqlite-wal-disabled",
        Dimension.OPERATIONS,
        r"\bwal\b.*\b(disabled|not enabled|off|missing)|(enable|turn on)\b.*\bwal\b",
    ),
    ("sql-injection", Dimension.SECURITY, r"sql[\s-]injection"),
    (
        "secret-stored-plaintext",
        Dimension.SECURITY,
        r"(plain[\s-]?text|unhashed|unencrypted)\b.*\b(password|secret|token|key)|(password|secret|token|api key)s?\b.*\b(plain[\s-]?text|unhashed|unencrypted)",
    ),
    (
        "table-unbounded-growth",
        Dimension.OPERATIONS,
        r"unbounded (table )?growth|no (cleanup|retention)|grows? without|unbounded tables?|"
        r"retention (window|period|policy)",
    ),
    (
        "query-unbounded",
        Dimension.PERFORMANCE,
        r"no limit|without (a )?limit|unbounded quer|missing pagination|no pagination",
    ),
    (
        "maintenance-missing",
        Dimension.OPERATIONS,
        r"\b(no|never|missing)\b.*\b(vacuum|analyze)\b",
    ),
    (
        "updated-at-not-maintained",
        Dimension.SCHEMA,
        r"updated_at\b.*\b(never|not) (updated|maintained|set)",
    ),
    (
        "table-no-primary-key",
        Dimension.SCHEMA,
        r"(no|missing|without( a)?) primary key",
    ),
    (
        "line-endings-mixed",
        Dimension.OPERATIONS,
        r"(mixed|inconsistent) (crlf|line endings)",
    ),
)
_COMPILED_RULES = tuple(
    (check, dimension, re.compile(pattern, re.IGNORECASE))
    for check, dimension, pattern in _CHECK_RULES
)


def match_check(*texts: str) -> tuple[str, Dimension | None]:
    """Return the Plumbline check id and dimension the texts describe.

    Texts are tried in order (the title first), so a title decides before
    a longer description can; return ("", None) when nothing matches.
    """
    for text in texts:
        if not text:
            continue
        flat = text.replace("`", "").replace("*", "")
        for check, dimension, pattern in _COMPILED_RULES:
            if pattern.search(flat):
                return check, dimension
    return "", None
