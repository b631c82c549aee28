"""Helpers the live checks share: the probed schema and its engine facts.

They read the facts the SQLite, PostgreSQL and MySQL probes put into
``Schema.facts`` (each probe's module docstring lists its keys); a live
check runs only when the target was probed live.

Fingerprint keys of live implementations are the ones a DDL or code
implementation of the same check uses for the same problem: ``[table]`` for
a table, ``[table, "col1,col2", ref_table]`` for a foreign key,
``[table, "col1,col2"]`` for an index, ``[database]`` (plus one word naming
the aspect when a check has several) for database-wide problems.
"""

from __future__ import annotations

from dataclasses import dataclass

from audits.engine.schema import Schema
from audits.engine.sources._probe import VERSION_TABLES

from .base import Facts


def live_schema(facts: Facts) -> Schema | None:
    """Return the schema when it was probed live, else None."""
    schema = facts.schema
    if schema is None or not schema.is_live:
        return None
    return schema


def engine_of(schema: Schema) -> str:
    """Return the engine the probe named (``sqlite``, ``postgres``, ``mysql``)."""
    return str(schema.fact("engine", ""))


def database_of(schema: Schema) -> str:
    """Return the probed database's name, or the source it was read from."""
    return str(schema.fact("database", "") or schema.source)


def column_list(columns: tuple[str, ...] | list[str]) -> str:
    """Return lower-cased column names joined by commas, as fingerprint keys use them."""
    return ",".join(c.lower() for c in columns)


def user_tables(schema: Schema) -> list[str]:
    """Return the tables that are not a migration tool's version table."""
    return [
        t.name
        for t in schema.tables
        if t.name.rsplit(".", 1)[-1].lower() not in VERSION_TABLES
    ]


def slow_statements_unrecorded(schema: Schema) -> str | None:
    """Return why nothing on the server records slow statements, else None.

    PostgreSQL: ``log_min_duration_statement`` is -1 and pg_stat_statements
    is neither installed nor loaded (nor auto_explain); MySQL:
    ``slow_query_log`` and performance_schema are both off. This is the
    cause ``slow-query-visibility-missing`` reports; ``query-stats-missing``
    stays quiet on it, so one cause is one finding.
    """
    engine = engine_of(schema)
    if engine == "postgresql":
        libraries = {
            str(s).lower() for s in schema.fact("shared_preload_libraries", ())
        }
        stats = schema.fact("query_stats") or {}
        if (
            int(schema.fact("log_min_duration_statement", -1)) >= 0
            or schema.fact("pg_stat_statements")
            or libraries & {"pg_stat_statements", "auto_explain"}
            or stats.get("available")
            or stats.get("preloaded")
            or stats.get("why") in ("not loaded", "not readable")
        ):
            return None
        return (
            "log_min_duration_statement is -1 and pg_stat_statements is not installed."
        )
    if engine == "mysql":
        if schema.fact("slow_query_log") or schema.fact("performance_schema"):
            return None
        return "slow_query_log is OFF and performance_schema is OFF."
    return None


def duration_text(seconds: float) -> str:
    """Return a duration as people say it: ``45 s``, ``12 min``, ``3.5 h``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def size_text(size: float) -> str:
    """Return a byte count in the largest unit that keeps it above one."""
    for unit in ("bytes", "kB", "MB", "GB"):
        if abs(size) < 1024:
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def listed(items: list[str], limit: int = 5) -> str:
    """Return the first ``limit`` items joined by "; ", saying how many more."""
    shown = "; ".join(items[:limit])
    if len(items) > limit:
        shown += f"; and {len(items) - limit} more"
    return shown


@dataclass(frozen=True)
class Growth:
    """How fast something grew a day: ``bytes`` and ``share`` of its earlier size."""

    bytes: float
    share: float

    @property
    def share_text(self) -> str:
        """Return the share a day as a percentage (``new`` when it was empty)."""
        if self.share == float("inf"):
            return "new"
        return "over 1,000%" if self.share > 10 else f"{self.share:.0%}"

    @property
    def doubling_text(self) -> str:
        """Return "; at this rate it doubles in about N days", or nothing."""
        if not 0 < self.share < float("inf"):
            return ""
        if self.share > 1:
            return "; at this rate it doubles in less than a day"
        return f"; at this rate it doubles in about {1 / self.share:,.0f} days"


def daily_growth(before: int, now: int, days: float) -> Growth:
    """Return the growth a day from ``before`` to ``now`` bytes over ``days``."""
    per_day = (now - before) / days if days > 0 else 0.0
    if before <= 0:
        return Growth(per_day, float("inf") if per_day > 0 else 0.0)
    return Growth(per_day, per_day / before)
