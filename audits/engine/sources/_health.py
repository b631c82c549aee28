"""What the running-health probes of PostgreSQL and MySQL share.

Both probes describe a running server with the same fact shapes, so one
check reads either engine: sessions (``activity``), statement statistics
(``query_stats``), replication, cache reads, space and bloat. The shapes
are built here and nowhere else.

Query texts of other sessions can carry customers' values (an e-mail in a
WHERE clause, a token in an INSERT): :func:`mask_literals` replaces every
string and number literal with ``?`` before a text becomes a fact, so no
value read from a session reaches a finding.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

# Characters of a statement kept in facts, after masking.
QUERY_TEXT_LIMIT = 200
# Sessions and statements kept per probe: enough to report, bounded on a
# busy server.
ROW_LIMIT = 200
# Tables whose size the ``space`` fact keeps, largest first: what the next
# audit compares with to tell growth.
SPACE_TABLES = 100
# Tables the ``space`` fact lists as the largest, for the summary.
SPACE_LARGEST = 10

_LITERAL = re.compile(
    r"'(?:[^']|'')*'?"  # a string, possibly cut off by the server's text limit
    r"|\$(\w*)\$.*?\$\1\$"  # a dollar-quoted string
    r"|(?<![\w$])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b",  # a number, not in a name
    re.DOTALL,
)
_SPACE = re.compile(r"\s+")


class Reader(Protocol):
    """The part of a probe a health reader uses: facts, notes, optional reads."""

    facts: dict[str, Any]
    notes: list[str]

    def optional(
        self, statement: Any, *params: Any, what: str = ""
    ) -> list[tuple[Any, ...]] | None:
        """Run a statement that may fail; on failure note ``what`` and return None."""


def mask_literals(text: str | None, limit: int | None = QUERY_TEXT_LIMIT) -> str:
    """Return ``text`` with its literals replaced by ``?`` and blanks collapsed.

    Texts longer than ``limit`` characters are cut, ending in an ellipsis.
    """
    if not text:
        return ""
    masked = _SPACE.sub(" ", _LITERAL.sub("?", text)).strip()
    if limit is not None and len(masked) > limit:
        return masked[: limit - 1] + "…"
    return masked


# The columns of a session row, in the order both probes select them.
SESSION_COLUMNS = (
    "pid",
    "user",
    "state",
    "seconds",
    "xact_seconds",
    "wait",
    "blocked_by",
    "query",
)


def sessions(rows: Iterable[Sequence[Any]]) -> tuple[dict[str, Any], ...]:
    """Return the ``activity`` fact: the sessions other than the probe's own.

    Each row holds :data:`SESSION_COLUMNS`: ``seconds`` is how long its
    current statement has run, ``xact_seconds`` its transaction, ``wait``
    what it waits on (``Lock:transactionid``), ``blocked_by`` the sessions
    holding the lock it waits for, ``query`` its text (literals masked here).
    """
    return tuple(
        {
            "pid": int(pid),
            "user": user or "",
            "state": state or "",
            "seconds": float(seconds or 0.0),
            "xact_seconds": float(xact or 0.0),
            "wait": wait or "",
            "blocked_by": tuple(int(p) for p in blocked or ()),
            "query": mask_literals(query),
        }
        for pid, user, state, seconds, xact, wait, blocked, query in rows
    )


def statement(*, query: str, calls: int, total_ms: float, rows: int) -> dict[str, Any]:
    """Return one ``query_stats`` statement entry (texts already normalised)."""
    calls = int(calls or 0)
    total = float(total_ms or 0.0)
    return {
        "query": mask_literals(query),
        "calls": calls,
        "total_ms": total,
        "mean_ms": total / calls if calls else 0.0,
        "rows": int(rows or 0),
    }


def query_stats(
    *,
    available: bool,
    source: str,
    why: str = "",
    preloaded: bool = False,
    statements: Iterable[dict[str, Any]] = (),
    total_ms: float = 0.0,
) -> dict[str, Any]:
    """Return the ``query_stats`` fact.

    ``source`` names where statistics come from (``pg_stat_statements``,
    ``performance_schema``); ``why`` says why they are not available;
    ``total_ms`` is the time of every statement, for each one's share.
    """
    return {
        "available": available,
        "source": source,
        "why": why,
        "preloaded": preloaded,
        "statements": tuple(statements),
        "total_ms": float(total_ms or 0.0),
    }


def statement_rows(
    source: str, rows: list[tuple[Any, ...]] | None, *, why: str = "not readable"
) -> dict[str, Any]:
    """Return the ``query_stats`` fact from rows read from ``source``.

    ``rows`` is None when the statistics could not be read, for ``why``
    (``not readable``, or ``not loaded`` by the server). Each row is (normalised text, calls, total ms, rows, total ms of every
    statement); texts the user may not see (``<insufficient privilege>``)
    are left out.
    """
    if rows is None:
        loaded = why != "not loaded"
        return query_stats(available=False, source=source, why=why, preloaded=loaded)
    return query_stats(
        available=True,
        source=source,
        preloaded=True,
        statements=(
            statement(query=q, calls=c, total_ms=float(t or 0), rows=r)
            for q, c, t, r, _ in rows
            if q and not str(q).startswith("<insufficient")
        ),
        total_ms=float(rows[0][4] or 0) if rows else 0.0,
    )


def space(
    database_bytes: int, tables: Iterable[tuple[str, int, int]]
) -> dict[str, Any]:
    """Return the ``space`` fact: the database's size and its largest tables.

    ``tables`` holds (name, bytes, rows), largest first. ``largest`` keeps
    the first :data:`SPACE_LARGEST` with their rows; ``tables`` the sizes of
    the first :data:`SPACE_TABLES`; ``read_at`` (ISO, UTC) says when, so a
    later reading can tell growth (:func:`space_growth`).
    """
    kept = [(t, int(b or 0), int(r or 0)) for t, b, r in tables][:SPACE_TABLES]
    return {
        "database_bytes": int(database_bytes or 0),
        "largest": tuple(
            {"table": t, "bytes": b, "rows": r} for t, b, r in kept[:SPACE_LARGEST]
        ),
        "tables": {t: b for t, b, _ in kept},
        "read_at": datetime.now(UTC).isoformat(),
    }


def space_growth(
    earlier: Mapping[str, Any], space: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Return the ``space_growth`` fact: ``space`` against an ``earlier`` one.

    ``earlier`` is the ``space`` fact of an earlier reading of the same
    database (as an audit stored it), with ``label`` naming that reading
    (``audit #4``). The fact holds ``since`` (the earlier read time),
    ``label``, ``days`` between the readings, ``database`` (``before`` and
    ``now`` bytes) and ``tables``: each table both readings sized, largest
    now first. None when either reading has no time or the earlier one is
    not earlier.
    """
    try:
        then = datetime.fromisoformat(str(earlier["read_at"]))
        now = datetime.fromisoformat(str(space["read_at"]))
        days = (now - then).total_seconds() / 86400
    except (KeyError, TypeError, ValueError):
        return None
    if days <= 0:
        return None
    before = earlier.get("tables") or {}
    return {
        "since": str(earlier["read_at"]),
        "label": str(earlier.get("label", "") or ""),
        "days": days,
        "database": {
            "before": int(earlier.get("database_bytes", 0) or 0),
            "now": int(space.get("database_bytes", 0) or 0),
        },
        "tables": tuple(
            {"table": name, "before": int(before[name]), "now": int(size)}
            for name, size in (space.get("tables") or {}).items()
            if name in before
        ),
    }


def bloat(
    *, kind: str, name: str, table: str, size: int, wasted: int
) -> dict[str, Any]:
    """Return one ``bloat`` entry: a table or index and its estimated waste."""
    return {
        "kind": kind,
        "name": name,
        "table": table,
        "bytes": int(size),
        "wasted": int(max(wasted, 0)),
        "ratio": max(wasted, 0) / size if size > 0 else 0.0,
    }


R = TypeVar("R", bound=Reader)


def read_each(reader: R, parts: Iterable[Callable[[R], None]]) -> None:
    """Run each part of a health probe; one that fails leaves a note only.

    A statement that fails is already a note (``Reader.optional``); this
    catches what the server answered in a shape the part did not expect.
    """
    for part in parts:
        try:
            part(reader)
        except Exception as exc:  # noqa: BLE001 - one part never sinks the probe
            what = part.__name__.strip("_").replace("_", " ")
            reader.notes.append(
                f"running health: {what} could not be read "
                f"({type(exc).__name__}: {exc})"
            )
