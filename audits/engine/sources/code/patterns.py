"""Names and patterns of database APIs the walker recognises in Python code."""

from __future__ import annotations

import re

_EXECUTE_METHODS = frozenset(
    {"execute", "executemany", "executescript", "execute_fetchall", "exec_driver_sql"}
)


_SQL_FIRST_METHODS = frozenset(
    {"fetch", "fetchrow", "fetchval", "read_sql", "read_sql_query", "mogrify"}
)


_RAW_METHODS = frozenset({"raw", "extra"})


_SQLITE_FACTORIES = {"sqlite3.connect": "sqlite", "aiosqlite.connect": "sqlite"}


_SERVER_FACTORIES = {
    "psycopg.connect": "postgresql",
    "psycopg2.connect": "postgresql",
    "psycopg.AsyncConnection.connect": "postgresql",
    "asyncpg.connect": "postgresql",
    "asyncpg.create_pool": "pool",
    "pymysql.connect": "mysql",
    "MySQLdb.connect": "mysql",
    "mysql.connector.connect": "mysql",
    "aiomysql.connect": "mysql",
    "create_engine": "engine",
    "sqlalchemy.create_engine": "engine",
    "create_async_engine": "engine",
    "ConnectionPool": "pool",
    "AsyncConnectionPool": "pool",
    "psycopg_pool.ConnectionPool": "pool",
    "psycopg2.pool.SimpleConnectionPool": "pool",
    "psycopg2.pool.ThreadedConnectionPool": "pool",
}


_CONN_PARAM = re.compile(
    r"^(conn|connection|db|database|cur|cursor|session|sess|c|tx)$|_(conn|db|session|cursor)$"
)


_SESSION_CALL = re.compile(
    r"(Session|SessionLocal|session_factory|sessionmaker|scoped_session)$"
)


_TRANSACTION_CTX = re.compile(
    r"(\.begin|\.begin_nested|atomic|transaction|\.transaction)$"
)


_WRAPPING_DECORATORS = frozenset(
    {
        "staticmethod",
        "classmethod",
        "property",
        "cached_property",
        "functools.wraps",
        "wraps",
        "cache",
        "lru_cache",
        "functools.lru_cache",
        "functools.cache",
        "contextmanager",
        "contextlib.contextmanager",
        "asynccontextmanager",
        "contextlib.asynccontextmanager",
        "abstractmethod",
        "abc.abstractmethod",
        "override",
        "dataclass",
        "retry",
        "shared_task",
        "task",
        "app.task",
        "celery.task",
        "overload",
        "typing.overload",
    }
)


_SAFE_CALLS = frozenset(
    {"int", "float", "len", "bool", "round", "abs", "min", "max", "sum", "range"}
)
# Names through which outside input arrives without being a parameter.
_INPUT_NAMES = frozenset(
    {"request", "input", "argv", "environ", "stdin", "form", "args", "params"}
)
# Calls that quote or escape a value or an identifier for SQL.
_QUOTING = re.compile(
    r"(quote|escape|Identifier|Literal|sql_identifier|quote_ident|quote_literal|"
    r"mogrify|placeholders?)",
    re.I,
)
# Annotations that carry no SQL: numbers, booleans, a closed set of strings.
_SAFE_TYPE = (
    r"(?:int|float|bool|datetime|date|timedelta|uuid|UUID|Decimal|"
    r"(?:typing\.)?Literal\[.*\]|[A-Z]\w*(?:Enum|ID|Id))"
)
# A parameter annotated as one of these carries no SQL, optional or not.
_SAFE_ANNOTATION = re.compile(
    rf"^(?:{_SAFE_TYPE}(?: \| None)?|None \| {_SAFE_TYPE}"
    rf"|(?:typing\.)?Optional\[{_SAFE_TYPE}\])$"
)


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


_QUOTED_PLACEHOLDER = re.compile(r"['\"](\?|%s)['\"]")


_FSTRING_START = re.compile(r"f['\"]")


_ONE_ROW_WORD = re.compile(r"(one|row|scalar|first|single|exists|count|get)\b")


_ONE_ROW = frozenset(
    {
        "fetchone",
        "first",
        "scalar",
        "scalar_one",
        "one",
        "one_or_none",
        "scalar_one_or_none",
        "fetchval",
        "fetchrow",
    }
)


_KEYWORD_PATTERNS = {
    "backup": re.compile(
        r"\.backup\(|\bvacuum\s+into\b|pg_dump|pg_basebackup|mysqldump|litestream|wal-g|pgbackrest|barman|iterdump|sqlite3_backup|mariabackup|xtrabackup|\.backup\b",
        re.I,
    ),
    "maintenance": re.compile(
        r"\bvacuum\b|\banalyze\b|pragma\s+optimize|auto_vacuum|incremental_vacuum|pg_repack|reindex",
        re.I,
    ),
    "slowlog": re.compile(
        r"log_min_duration_statement|before_cursor_execute|after_cursor_execute|pg_stat_statements|set_trace_callback|slow_query_log|long_query_time|execute_wrapper|django\.db\.backends|auto_explain",
        re.I,
    ),
    "migrations": re.compile(
        r"alembic|schema_migrations|django_migrations|schema_version|yoyo|flyway|liquibase|user_version|migrate\(",
        re.I,
    ),
}


def _keyword_hints() -> tuple[str, ...] | None:
    """Return words one of which every keyword match contains, or None.

    Each alternative of the patterns above is a plain phrase, so its longest
    run of word characters must appear in any text it matches. Looking for
    those words is far cheaper than running the patterns on every string.
    """
    hints: set[str] = set()
    for pattern in _KEYWORD_PATTERNS.values():
        if re.search(r"(?<!\\)[?*{\[(]", pattern.pattern):
            return None  # optional parts or groups: no safe hint
        for alternative in pattern.pattern.split("|"):
            runs = re.split(r"\\.|[^A-Za-z0-9_]", alternative)
            longest = max(runs, key=len)
            if not longest:
                return None
            hints.add(longest.lower())
    return tuple(sorted(hints))


_KEYWORD_HINTS = _keyword_hints()


def _may_hold_keyword(text: str) -> bool:
    if _KEYWORD_HINTS is None:
        return True
    return any(map(text.lower().__contains__, _KEYWORD_HINTS))
