"""Migration safety: what each migration does to a database that is in use.

A project's migrations are replayed in order (:mod:`.migration_replay`) and
each statement is judged against the schema just before it by the rules in
:mod:`.migration_rules`; every finding names the migration file and line
that introduce it. With a scratch database the history is also applied for
real and rolled back, and what the database refuses is a finding too.

Severity rule: a statement that fails on a table with rows, or that
rewrites a table under an exclusive lock, is high; one that blocks writes
while it validates (a constraint validated in place) or breaks the code
still running during a deploy (a rename, a dropped column) is medium, high
when the code scanned still reads what is dropped; an index built in place
is low, since how long writes wait depends on the table's size, which a
migration does not show; what only matters later (a 32-bit key, no lock
timeout, a file that cannot be re-run) is low.
Critical is kept for data loss beyond what the statement names (TRUNCATE
... CASCADE reaching tables that reference it).

A whole-project scan judges only the migrations still to be deployed:
each folder's newest, unless git dates it long before the commit scanned.
An older one has run wherever a later one has, so what it risked has
happened or passed; its findings are not reported (the scan's notes say
how many), except a drop the code still reads while the history never
brings the column or table back: that breaks the code today. A migration
folder named on its own, or a scan with ``--since``, judges every
migration.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from audits.engine.issues import Issue, Severity
from audits.engine.sources.migrations import MigrationHistory

from .base import DRY_RUN, MIGRATIONS, CheckSpec, Facts, Topic
from .migration_replay import CodeReads, Hit, Replay

TOPIC = Topic.beside(__file__)

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
    if isinstance(cached, list):
        return cached
    replay = Replay(history, _code_reads(facts, history))
    kept: list[Hit] = []
    applied: list[Hit] = []
    for hit in replay.run():
        (kept if _pending(hit, history.pending, replay) else applied).append(hit)
    history.cache["hits"] = kept
    facts.notes.extend(replay.notes)
    if applied:
        files = {hit.stmt.file for hit in applied}
        facts.notes.append(
            f"{len(applied)} migration finding(s) in {len(files)} migration(s) "
            "already applied are not reported: a later migration in the same "
            "folder follows each, or git dates it over 30 days before the commit "
            "scanned; name the folder with --migrations, or scan with --since REF, "
            "to judge them"
        )
    return kept


def _pending(hit: Hit, pending: frozenset[str] | None, replay: Replay) -> bool:
    """Return True unless ``hit`` is in a migration already applied."""
    return pending is None or hit.stmt.file in pending or _breaks_code_now(hit, replay)


def _breaks_code_now(hit: Hit, replay: Replay) -> bool:
    """Return True for a drop the code still reads that the history never undoes."""
    if hit.severity is not Severity.HIGH:
        return False
    if hit.check == "migration-drop-column":
        return replay.column(hit.key[1], hit.key[2]) is None
    if hit.check == "migration-drop-table":
        return replay.table_state(hit.key[1]) is None
    return False


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
    TOPIC.implements(_check_id, requires=MIGRATIONS, facts=True)(judge)


@TOPIC.implements("migration-rejected", requires=DRY_RUN, facts=True)
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
