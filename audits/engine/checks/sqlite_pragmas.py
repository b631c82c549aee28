"""SQLite pragmas: foreign keys, synchronous, busy timeout and WAL.

Each id is found in code (the connections the application opens and the
pragmas it sets on them) and, where a file is probed, live.
"""

from __future__ import annotations

from collections.abc import Iterator

from audits.engine.issues import Issue, Severity
from audits.engine.schema import Schema
from audits.engine.sources.code import CodeFacts, ConnectSite

from .base import CODE, LIVE, CheckSpec, Facts, Topic
from .code_facts import at, at_site, live_sql, short
from .probe_facts import database_of, engine_of

TOPIC = Topic.beside(__file__)


@TOPIC.implements("sqlite-foreign-keys-off", requires=CODE, facts=True)
def sqlite_foreign_keys_off(
    spec: CheckSpec, code: CodeFacts, facts: Facts
) -> Iterator[Issue]:
    """Report SQLite connections that write without ``PRAGMA foreign_keys=ON``."""
    sites = [c for c in code.connects if c.driver == "sqlite" and not c.in_test]
    if not sites:
        return
    uses_fk = any(
        dict(c.pragmas).get("foreign_keys") in ("on", "1", "true", "yes") for c in sites
    ) or any(
        "references" in u.template.lower()
        for u in live_sql(code)
        if u.sql.kind == "create"
    )
    if facts.schema is not None:
        uses_fk = uses_fk or any(t.foreign_keys for t in facts.schema.tables)
    if not uses_fk:
        return
    for site in sites:
        if site.readonly or dict(site.pragmas).get("foreign_keys") in (
            "on",
            "1",
            "true",
        ):
            continue
        if not _site_writes(code, site, facts):
            continue
        yield _connection_issue(
            spec,
            site,
            "no PRAGMA foreign_keys = ON on this connection",
            f"Run `PRAGMA foreign_keys = ON` right after connecting in "
            f"`{short(site.function)}`; SQLite enforces foreign keys only on "
            "connections that ask for it.",
        )


def _connection_issue(
    spec: CheckSpec, site: ConnectSite, note: str, remediation: str
) -> Issue:
    """Return an issue about the connection a site opens (key: its factory)."""
    return spec.issue(
        key=[site.file, site.function, site.factory],
        **at_site(site),
        evidence=f"{site.snippet}  # {note}",
        remediation=remediation,
    )


def _pragma_issue(
    spec: CheckSpec,
    site: ConnectSite,
    pragma: str,
    value: str,
    remediation: str,
    severity: Severity | None = None,
) -> Issue:
    """Return an issue about a pragma a site sets (key: the pragma's name)."""
    return spec.issue(
        key=[site.file, site.function, pragma],
        severity=severity,
        **at_site(site),
        evidence=f"PRAGMA {pragma} = {value.upper()} in `{short(site.function)}`",
        remediation=remediation,
    )


def _site_writes(code: CodeFacts, site: ConnectSite, facts: Facts) -> bool:
    """Return True when FK enforcement matters for what ``site`` is used for."""
    fn = code.by_qualname.get(site.function)
    if fn is None or fn.returns_connection or fn.yields_connection:
        return True
    if fn.sql_param is not None:
        # A helper that runs whatever its callers pass: judge by what they pass.
        return any(u.via == fn.qualname and u.sql.is_write for u in code.sql)
    related: set[str] | None = None
    if facts.schema is not None:
        related = set()
        for table in facts.schema.tables:
            if table.foreign_keys:
                related.add(table.name.lower())
                related.update(fk.ref_table.lower() for fk in table.foreign_keys)
    for use in code.sql_by_function.get(site.function, []):
        base = use.receiver.split(".")[0]
        if not use.sql.is_write or (site.name and base != site.name):
            continue
        if related is None or set(use.sql.tables) & related:
            return True
    return False


@TOPIC.implements("sqlite-synchronous-normal", requires=CODE)
def sqlite_synchronous_normal_in_code(
    spec: CheckSpec, code: CodeFacts
) -> Iterator[Issue]:
    """Report code that lowers ``synchronous`` below FULL on SQLite."""
    for site in code.connects:
        value = dict(site.pragmas).get("synchronous")
        if site.in_test or value not in ("normal", "1", "off", "0"):
            continue
        off = value in ("off", "0")
        yield _pragma_issue(
            spec,
            site,
            "synchronous",
            value,
            "Keep `synchronous = NORMAL` only if losing the last transactions on "
            "power loss is acceptable; otherwise set `PRAGMA synchronous = FULL`.",
            severity=Severity.MEDIUM if off else None,
        )


@TOPIC.implements("sqlite-synchronous-normal", requires=LIVE)
def sqlite_synchronous_normal_live(spec: CheckSpec, schema: Schema) -> Iterator[Issue]:
    """Report WAL with synchronous=NORMAL as new connections get it (key: database).

    ``synchronous`` is per connection: the probe sees the default this
    SQLite build gives a connection that does not set it.
    """
    if engine_of(schema) != "sqlite":
        return
    if schema.fact("journal_mode") == "wal" and schema.fact("synchronous") == 1:
        yield spec.issue(
            key=[database_of(schema)],
            object=database_of(schema),
            evidence=(
                "The database is in WAL mode and connections that do not set "
                "PRAGMA synchronous get NORMAL (1) from this SQLite build."
            ),
            fix_sql="PRAGMA synchronous=FULL;  -- on every connection",
        )


@TOPIC.implements("sqlite-busy-timeout-missing", requires=CODE)
def sqlite_busy_timeout_missing(spec: CheckSpec, code: CodeFacts) -> Iterator[Issue]:
    """Report SQLite connections whose effective busy timeout is zero.

    ``sqlite3.connect`` and ``aiosqlite.connect`` wait five seconds by
    default, so only ``timeout=0`` or ``PRAGMA busy_timeout = 0`` count.
    """
    for site in code.connects:
        if site.driver != "sqlite" or site.in_test:
            continue
        pragma = dict(site.pragmas).get("busy_timeout")
        if pragma is not None:
            zero = pragma in ("0", "")
        else:
            zero = site.timeout_given and site.timeout == 0
        if not zero:
            continue
        yield _connection_issue(
            spec,
            site,
            "waits 0 ms on a locked database",
            f"Give the connection in `{short(site.function)}` a busy timeout: "
            "drop `timeout=0` (the driver default waits 5 s) or run "
            "`PRAGMA busy_timeout = 5000` after connecting.",
        )


@TOPIC.implements("sqlite-wal-disabled", requires=CODE, facts=True)
def sqlite_wal_disabled_in_code(
    spec: CheckSpec, code: CodeFacts, facts: Facts
) -> Iterator[Issue]:
    """Report code that switches SQLite out of WAL, or never turns WAL on."""
    sites = [c for c in code.connects if c.driver == "sqlite" and not c.in_test]
    modes = [(s, dict(s.pragmas).get("journal_mode")) for s in sites]
    for site, mode in modes:
        if mode and mode != "wal":
            yield _pragma_issue(
                spec,
                site,
                "journal_mode",
                mode,
                "Set `PRAGMA journal_mode = WAL` once at start-up (it persists in "
                "the file).",
            )
    if facts.schema is not None and facts.schema.is_live:
        return  # the live probe reads the mode the file really has
    wal_anywhere = any(mode == "wal" for _, mode in modes) or any(
        u.sql.pragma is not None and u.sql.pragma[0] == "journal_mode" for u in code.sql
    )
    if len(sites) >= 2 and not wal_anywhere and not any(mode for _, mode in modes):
        first = sites[0]
        yield spec.issue(
            key=["project", "journal_mode"],
            **at(first.file, first.line, first.function),
            object="project",
            evidence=f"{len(sites)} SQLite connection sites and no `PRAGMA journal_mode = WAL`",
            remediation=(
                "Run `PRAGMA journal_mode = WAL` once at start-up (for example where the "
                "schema is created); readers then stop blocking the writer."
            ),
        )


@TOPIC.implements("sqlite-wal-disabled", requires=LIVE)
def sqlite_wal_disabled_live(spec: CheckSpec, schema: Schema) -> Iterator[Issue]:
    """Report a SQLite database with tables not in WAL mode.

    Key: ``["project", "journal_mode"]``, as the code check's, so a code path
    and a live file showing the same problem are one finding.
    """
    if engine_of(schema) != "sqlite" or not schema.tables:
        return
    mode = schema.fact("journal_mode")
    if mode and mode != "wal":
        yield spec.issue(
            key=["project", "journal_mode"],
            object=database_of(schema),
            evidence=f"journal_mode is {mode}.",
            fix_sql="PRAGMA journal_mode=WAL;",
        )
