"""Migration safety: what each migration does to a database that is in use.

A project's migrations are replayed in order (:mod:`.migration_replay`) and
each statement is judged against the schema just before it by the rules in
:mod:`.migration_rules`; every finding names the migration file and line
that introduce it. With a scratch database the history is also applied for
real and rolled back, and what the database refuses is a finding too.

Severity rule: a statement that fails on a table with rows, or that
rewrites a table under an exclusive lock, is high; one that blocks writes
(an index built in place, a constraint validated in place) or breaks the
code still running during a deploy (a rename, a dropped column) is medium,
high when the code scanned still reads what is dropped; what only matters
later (a 32-bit key, no lock timeout, a file that cannot be re-run) is low.
Critical is kept for data loss beyond what the statement names (TRUNCATE
... CASCADE reaching tables that reference it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from audits.engine.issues import Issue
from audits.engine.sources.migrations import MigrationHistory

from .base import (
    DRY_RUN,
    HIGH,
    HRS,
    INFO,
    INT,
    LOW,
    MED,
    MIGRATIONS,
    MIN,
    OPS,
    PERF,
    SCH,
    CheckSpec,
    Facts,
    Topic,
)
from .migration_replay import CodeReads, Hit, Replay

# id, dimension, severity, effort, evidence, title, rationale, remediation, severity rule
# fmt: off
TOPIC = Topic(
    ("migration-column-required-no-default", OPS, HIGH, MIN, "migrations",
     "Column added NOT NULL without a default",
     "On a table with rows PostgreSQL and SQLite refuse the statement, so the deploy fails half-way; MySQL fills the rows with zero values nobody chose.",
     "Add the column nullable (or with a constant DEFAULT), backfill it in batches, then set NOT NULL.",
     "High on PostgreSQL and SQLite, where the statement fails on a table with rows; medium on MySQL, which fills the rows with zero values instead. Never for a table created in the same migration."),
    ("migration-set-not-null", PERF, MED, MIN, "migrations",
     "SET NOT NULL scans the table under an exclusive lock",
     "PostgreSQL checks every row while holding ACCESS EXCLUSIVE: reads and writes of the table wait for the whole scan.",
     "Add `CHECK (col IS NOT NULL) NOT VALID`, `VALIDATE CONSTRAINT` it in a later migration, then SET NOT NULL (PostgreSQL 12+ uses the check and skips the scan) and drop the check.",
     "Medium: reads and writes wait for a full scan of an existing PostgreSQL table; none when a validated CHECK (col IS NOT NULL) already holds or the column was already NOT NULL."),
    ("migration-index-not-concurrent", PERF, MED, MIN, "migrations",
     "Index built on an existing table while writes are blocked",
     "CREATE INDEX without CONCURRENTLY holds a SHARE lock for the whole build: every INSERT, UPDATE and DELETE on the table waits. MySQL and MariaDB build online unless ALGORITHM=COPY or LOCK=SHARED/EXCLUSIVE is asked for.",
     "PostgreSQL: `CREATE INDEX CONCURRENTLY IF NOT EXISTS`, in a migration without a transaction (Django `atomic = False` with AddIndexConcurrently, Alembic `autocommit_block()`). MySQL: `ALGORITHM=INPLACE, LOCK=NONE`.",
     "Medium: writes to an existing table wait for the whole build; on MySQL only when ALGORITHM=COPY or LOCK=SHARED/EXCLUSIVE is asked for. Never for a table created in the same migration."),
    ("migration-index-drop-not-concurrent", PERF, LOW, MIN, "migrations",
     "Index dropped without CONCURRENTLY",
     "DROP INDEX takes an ACCESS EXCLUSIVE lock on the table; waiting behind one long query, it blocks every query that arrives after it.",
     "`DROP INDEX CONCURRENTLY IF EXISTS`, outside a transaction.",
     "Low: the drop itself is quick; the risk is the queue behind its lock."),
    ("migration-column-type-change", OPS, HIGH, HRS, "migrations",
     "Column type change rewrites the table",
     "Changing a column's type rewrites the table and rebuilds its indexes under an ACCESS EXCLUSIVE lock on PostgreSQL (a table copy on MySQL), so the table is unavailable for the whole rewrite; SQLite cannot do it at all.",
     "Add a column of the new type, write both, backfill in batches, switch reads, then drop the old column. Widening a varchar (or varchar to text) is done in place and is safe.",
     "High when the change rewrites an existing table (SQLite: always, the statement fails); medium when the column's earlier type is not in the migrations read; none for changes done in place (a longer varchar, varchar to text, more numeric precision)."),
    ("migration-column-rename", OPS, MED, HRS, "migrations",
     "Column renamed under running code",
     "During a deploy the old application version still runs and selects the old name; its queries fail until every instance is replaced.",
     "Add the new column, write both, backfill, move the reads, and drop the old column in a later release (or expose the old name through a view).",
     "Medium: queries of the version still running fail until the deploy finishes; no data is lost."),
    ("migration-table-rename", OPS, MED, HRS, "migrations",
     "Table renamed under running code",
     "The application version still running during the deploy queries the old table name and fails.",
     "Create the new table (or a view with the old name), move the code over, and drop the old name in a later release.",
     "Medium: queries of the version still running fail until the deploy finishes; no data is lost."),
    ("migration-fk-validates-in-place", PERF, MED, MIN, "migrations",
     "Foreign key checked against every row while writes wait",
     "Adding a foreign key to an existing table checks every row while PostgreSQL holds SHARE ROW EXCLUSIVE on both tables (MySQL copies the table unless foreign_key_checks is off).",
     "PostgreSQL: `ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID`, then `VALIDATE CONSTRAINT` in a separate migration.",
     "Medium: writes to both tables wait for the check of every row of an existing table."),
    ("migration-check-validates-in-place", PERF, MED, MIN, "migrations",
     "Constraint validated in place",
     "A CHECK added without NOT VALID (or validated in the same transaction that added it NOT VALID) reads every row while writes to the table are blocked.",
     "Add it `NOT VALID`, then `VALIDATE CONSTRAINT` in a separate migration: validation then holds only a SHARE UPDATE EXCLUSIVE lock.",
     "Medium: writes wait while every row of an existing table is checked."),
    ("migration-unique-in-place", PERF, MED, MIN, "migrations",
     "Unique constraint builds its index under lock",
     "ADD CONSTRAINT UNIQUE (or a UNIQUE column) builds its index while the table is locked against reads and writes.",
     "`CREATE UNIQUE INDEX CONCURRENTLY`, then `ADD CONSTRAINT ... UNIQUE USING INDEX`.",
     "Medium: reads and writes wait while the index of an existing PostgreSQL table is built."),
    ("migration-volatile-default", OPS, HIGH, MIN, "migrations",
     "Column added with a volatile default",
     "Since PostgreSQL 11 a constant default is stored once, but a volatile one (random(), gen_random_uuid(), clock_timestamp()) gives each row its own value, so the table is rewritten under an exclusive lock; SQLite refuses non-constant defaults.",
     "Add the column without a default (or with a constant one), set the default for new rows, and backfill existing rows in batches.",
     "High on PostgreSQL, where the whole table is rewritten under an exclusive lock (and on SQLite, which refuses it); medium on MySQL."),
    ("migration-drop-column", INT, MED, MIN, "migrations",
     "Column dropped",
     "The data is gone once the migration runs, and code deployed before it still selects the column until every instance is replaced.",
     "Stop reading and writing the column in one release (Django: SeparateDatabaseAndState), drop it in a later one, and keep a backup of its data.",
     "Medium: the data goes and old code breaks during the deploy; high when the code scanned still reads the column."),
    ("migration-drop-table", INT, MED, MIN, "migrations",
     "Table dropped",
     "Every row of the table is deleted, and code still running during the deploy fails on it.",
     "Remove every use first, rename it away for a release as a reversible step, back it up, then drop it.",
     "Medium: the rows go and old code breaks during the deploy; high when the code scanned still uses the table."),
    ("migration-drop-not-null", INT, LOW, MIN, "migrations",
     "NOT NULL dropped",
     "Code written when the column could not be NULL (sums, comparisons, required fields in clients) now meets NULLs.",
     "Keep the column required, or update every reader to handle NULL before the migration runs.",
     "Low: readers may meet NULLs; nothing is lost."),
    ("migration-truncate-cascade", INT, HIGH, MIN, "migrations",
     "TRUNCATE ... CASCADE in a migration",
     "CASCADE empties every table with a foreign key to the one named, including tables added since the migration was written: data beyond what the statement names is deleted.",
     "TRUNCATE the tables by name (without CASCADE), or delete the rows that must go with a WHERE clause.",
     "High: rows of tables the statement does not name can be deleted; critical when the schema replayed already has tables with a foreign key to the one truncated, whose rows are then lost."),
    ("migration-int-key", SCH, LOW, HRS, "migrations",
     "32-bit primary key",
     "An int or serial key runs out at 2,147,483,647; widening it later rewrites the table and every table referencing it.",
     "Use bigint (bigserial, `BIGINT GENERATED ... AS IDENTITY`, Django BigAutoField) for new keys.",
     "Low: a limit reached only after two billion rows, costly to lift then."),
    ("migration-serial-column", SCH, INFO, MIN, "migrations",
     "serial column instead of identity",
     "serial creates a separate sequence with its own owner and permissions; identity columns are the SQL standard and move with the table.",
     "`bigint GENERATED BY DEFAULT AS IDENTITY`.",
     "Always info: a maintenance matter, not a defect."),
    ("migration-not-retry-safe", OPS, LOW, MIN, "migrations",
     "Migration cannot be re-run after a failure",
     "A file applied outside a transaction that fails half-way leaves part of its changes behind; without IF [NOT] EXISTS running it again fails on them (a failed CREATE INDEX CONCURRENTLY also leaves an invalid index).",
     "Write `IF NOT EXISTS` / `IF EXISTS` on each statement, or run the file in one transaction.",
     "Low: a failed deploy needs a hand to finish; reported once per file that runs outside a transaction and makes two or more changes."),
    ("migration-lock-timeout-missing", OPS, LOW, MIN, "migrations",
     "No lock timeout before locking a table in use",
     "A DDL statement waiting for its lock behind one long transaction makes every later query on the table wait behind it: a short migration becomes an outage.",
     "Begin the migration with `SET lock_timeout = '2s'` (and a `statement_timeout`); MySQL: `SET SESSION lock_wait_timeout = 5`. Retry the migration when it times out.",
     "Low, once per migration that locks an existing table without a lock timeout set before."),
    ("migration-concurrent-in-transaction", OPS, HIGH, MIN, "migrations",
     "CONCURRENTLY inside a transaction",
     "PostgreSQL refuses CREATE/DROP INDEX CONCURRENTLY inside a transaction block, so the migration fails when it runs.",
     "Run it outside the transaction: Django `atomic = False`, Alembic `with op.get_context().autocommit_block():`, or a SQL file without BEGIN.",
     "High: the migration fails every time it runs."),
    ("migration-transaction-nesting", OPS, MED, MIN, "migrations",
     "Transaction opened or ended inside a migration's transaction",
     "A BEGIN inside an open transaction is ignored with a warning and a COMMIT ends the tool's transaction early: what follows runs outside it, and a failure leaves the migration half applied.",
     "Leave transactions to the migration tool, or turn its transaction off for this migration and manage it in the file.",
     "Medium: a failure after the early COMMIT leaves the migration half applied."),
    ("migration-rejected", OPS, HIGH, MIN, "dry-run",
     "Migration fails on a real database",
     "Applied to a scratch database, the statement is refused: the deploy would stop at it with the migration half applied on an engine without transactional DDL.",
     "Fix the statement so the database accepts it (the error says why), and run the dry run again.",
     "High: the database refuses the statement, so the deploy stops there."),
)
# fmt: on

MIGRATION_IDS = tuple(i for i in TOPIC.specs if i != "migration-rejected")


def history_of(facts: Facts) -> MigrationHistory | None:
    """Return the migration history the scan read, if any."""
    found = facts.migrations
    return found if isinstance(found, MigrationHistory) else None


def _hits(facts: Facts) -> list[Hit]:
    history = history_of(facts)
    if history is None:
        return []
    cached = history.cache.get("hits")
    if not isinstance(cached, list):
        cached = Replay(history, _code_reads(facts, history)).run()
        history.cache["hits"] = cached
    return cached


def _issue(spec: CheckSpec, hit: Hit) -> Issue:
    return spec.issue(
        key=hit.key,
        severity=hit.severity,
        object=hit.object,
        file=hit.stmt.file,
        line=hit.line or hit.stmt.line,
        evidence=hit.evidence
        + (f" (read from {hit.stmt.operation})" if hit.stmt.operation else ""),
        remediation=hit.remediation,
    )


def judge(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Return the issues of one migration rule found by replaying the history."""
    for hit in _hits(facts):
        if hit.check == spec.id:
            yield _issue(spec, hit)


for _check_id in MIGRATION_IDS:
    TOPIC.implements(_check_id, requires=MIGRATIONS)(judge)


@TOPIC.implements("migration-rejected", requires=DRY_RUN)
def migration_rejected(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report each statement the scratch database refused during the dry run.

    Key: the file and the statement's text, so the finding follows the
    statement when lines move above it.
    """
    history = history_of(facts)
    if history is None:
        return
    for rejected in history.rejected:
        yield spec.issue(
            key=[rejected.file, rejected.sql],
            object=rejected.file,
            file=rejected.file,
            line=rejected.line,
            evidence=f"{history.dry_run} refused `{rejected.sql[:120]}`: {rejected.error}",
        )


# ------------------------------------------------------------ code still reading


def _code_reads(facts: Facts, history: MigrationHistory) -> CodeReads:
    """Return a function telling where the scanned code reads a table or column.

    The migrations themselves do not count: they mention every column.
    """
    code = facts.code
    if code is None:
        return lambda table, column: ""
    own = set(history.files)
    models = {m.table.lower(): m for m in code.models if m.file not in own}
    uses = [u for u in code.sql if not u.in_test and u.file not in own]

    def reads(table: str, column: str) -> str:
        model = models.get(table.lower())
        if model is not None and (not column or model.column(column) is not None):
            return f"model {model.name}, {model.file}:{model.line}"
        table_word = re.compile(rf"\b{re.escape(table)}\b", re.I)
        column_word = re.compile(rf"\b{re.escape(column)}\b", re.I) if column else None
        for use in uses:
            if table_word.search(use.template) and (
                column_word is None or column_word.search(use.template)
            ):
                return f"{use.file}:{use.line}"
        return ""

    return reads
