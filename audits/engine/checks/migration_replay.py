"""Replay a migration history and judge each statement before applying it.

The schema is built statement by statement with the same loader that reads
DDL files, so each statement is judged against the schema as it stands just
before it: a table created earlier in the same migration file is new (no
reader waits on its lock), a table created by an earlier migration, or one
the history never creates, exists and may be large. Each judgement is a
:class:`Hit` at the migration file and line that introduce the problem.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from audits.engine.issues import Severity
from audits.engine.schema import Column
from audits.engine.sources.ddl_loader import _Loader
from audits.engine.sources.ddl_model import _Model, _TableState
from audits.engine.sources.migrations import (
    TRANSACTIONAL_DDL,
    MigrationHistory,
    Statement,
)

from . import migration_sql as sql
from .migration_sql import Action

# A function telling where code still reads a table (or one of its columns).
CodeReads = Callable[[str, str], str]


@dataclass(frozen=True)
class Hit:
    """One rule's judgement of one statement."""

    check: str
    stmt: Statement
    key: tuple[str, ...]
    object: str
    evidence: str
    severity: Severity | None = None
    remediation: str | None = None
    line: int | None = None  # a line inside the statement, when more precise


@dataclass
class FileState:
    """What the replay knows about the migration file being applied."""

    name: str
    explicit_tx: bool = False  # inside a BEGIN the file wrote itself
    lock_timeout: bool = False
    lock_reported: bool = False
    robust_reported: bool = False
    changes: int = 0  # statements that change the schema
    fragile: Statement | None = None  # the first one a retry would fail on
    not_valid: dict[str, bool] = field(default_factory=dict)  # constraint -> in tx


class Replay:
    """Apply a history's statements in order, judging each one first."""

    def __init__(self, history: MigrationHistory, reads: CodeReads) -> None:
        self.history = history
        self.dialect = history.dialect
        self.model = _Model(dialect=history.dialect)
        self.created: dict[str, str] = {}  # lower table name -> file creating it
        self.reads = reads
        self.hits: list[Hit] = []
        self.file = FileState("")
        self.stmt: Statement | None = None
        self.notes: list[str] = []  # statements a rule could not judge
        # An ALTER DATABASE/ROLE ... SET lock_timeout seen: (file, statement).
        self.session_timeout: tuple[str, str] | None = None

    def run(self) -> list[Hit]:
        """Return every hit of the history, in the order the statements run."""
        for stmt in self.history.statements:
            if stmt.file != self.file.name:
                self.end_file()
                self.file = FileState(stmt.file)
            self.stmt = stmt
            text = sql.clean(stmt.sql)
            if not text:
                continue
            try:
                self.judge(stmt, text)
            except Exception as exc:  # noqa: BLE001 - one statement, not the history
                self.notes.append(
                    f"{stmt.file}:{stmt.line}: could not judge the statement: "
                    f"{type(exc).__name__}: {exc}"
                )
            self.apply(stmt, text)
        self.end_file()
        return self.hits

    # ------------------------------------------------------------ helpers

    def hit(self, check: str, key: tuple[str, ...], obj: str, evidence: str,
            severity: Severity | None = None, *, stmt: Statement | None = None,
            line: int | None = None) -> None:  # fmt: skip
        """Record a hit of ``check`` on the statement being judged (or ``stmt``)."""
        where = stmt or self.stmt
        assert where is not None
        self.hits.append(
            Hit(check, where, (where.file, *key), obj, evidence, severity, line=line)
        )

    def timeout_set_elsewhere(self) -> bool:
        """Return True when every session of the migration starts with a lock timeout.

        Said by the project's settings or the scratch database's, or by an
        ALTER DATABASE/ROLE ... SET lock_timeout of an earlier migration file
        (it reaches new sessions only, so not the file that runs it).
        """
        if self.history.lock_timeout:
            return True
        found = self.session_timeout
        return found is not None and found[0] != self.file.name

    def existing(self, table: str) -> bool:
        """Return True unless ``table`` was created in the file being applied."""
        return self.created.get(table.lower()) != self.file.name

    def in_tx(self, stmt: Statement) -> bool:
        """Return True when the statement runs inside a transaction.

        MySQL commits each DDL statement on its own, whatever BEGIN said.
        """
        if self.dialect not in TRANSACTIONAL_DDL:
            return False
        return stmt.transactional or self.file.explicit_tx

    def column(self, table: str, name: str) -> Column | None:
        """Return the column as the schema stands now, when known."""
        state = self.model.table(table)
        if state is None:
            return None
        i = state.column_index(name)
        return state.columns[i] if i >= 0 else None

    def table_state(self, table: str) -> _TableState | None:
        """Return the table as the schema stands now, when known."""
        return self.model.table(table)

    # ------------------------------------------------------------ applying

    def apply(self, stmt: Statement, text: str) -> None:
        """Apply the statement to the schema, remembering new tables."""
        created = sql.CREATE_TABLE.match(text)
        renamed = sql.ALTER_TABLE.match(text)
        _Loader(self.model, file=stmt.file).apply(text, stmt.line)
        if created:
            name = sql.unquote(created.group(2))
            if not (created.group(1) and name.lower() in self.created):
                self.created[name.lower()] = self.file.name
            self.judge_new_table(name)
        elif renamed:
            for action in sql.actions(renamed.group(2)):
                if action.verb == "rename-table":
                    old = sql.unquote(renamed.group(1)).lower()
                    if old in self.created:
                        self.created[action.new_name.lower()] = self.created.pop(old)
        dropped = sql.DROP_TABLE.match(text)
        if dropped:
            for name in sql.names(dropped.group(2)):
                self.created.pop(name.lower(), None)

    # ------------------------------------------------------------ judging

    def judge(self, stmt: Statement, text: str) -> None:
        """Run the rules that apply to one statement."""
        from . import migration_rules as rules

        if sql.BEGIN.match(text) or sql.END.match(text):
            rules.transaction_control(self, stmt, text)
            return
        if sql.LOCK_TIMEOUT.search(text):
            # SET lock_timeout = 0 (or DEFAULT) waits forever again.
            given = re.search(r"(?:=|\bTO\b|,)\s*([^,;)]+)", text, re.I)
            self.file.lock_timeout = given is None or bool(
                sql.timeout_value(given.group(1))
            )
            return
        session = sql.SESSION_LOCK_TIMEOUT.match(text)
        if session and self.dialect == "postgres":
            value = sql.timeout_value(session.group(3) or "")
            self.session_timeout = (stmt.file, text[:120]) if value else None
            return
        for rule in rules.STATEMENT_RULES:
            rule(self, stmt, text)

    def judge_new_table(self, name: str) -> None:
        """Judge the key columns of a table just created."""
        from . import migration_rules as rules

        state = self.model.table(name)
        if state is not None:
            for column in state.columns:
                primary = column.primary_key or column.name in state.primary_key
                rules.key_column(
                    self, name, column.name, column.type, primary, line=column.line
                )

    def end_file(self) -> None:
        """Judge what concerns a whole migration file, once it is applied."""
        from . import migration_rules as rules

        if self.file.name:
            rules.end_of_file(self)


def each_action(text: str) -> Iterator[tuple[str, Action]]:
    """Yield (table, action) for each action of an ALTER TABLE statement."""
    match = sql.ALTER_TABLE.match(text)
    if match is None:
        return
    table = sql.unquote(match.group(1))
    for action in sql.actions(match.group(2)):
        yield table, action


def has_not_null_check(state: _TableState | None, column: str) -> bool:
    """Return True when a CHECK (col IS NOT NULL) already holds on the table."""
    if state is None:
        return False
    # As written (col IS NOT NULL), or as the DDL reader keeps it (NOT col IS
    # NULL); one of the terms of an AND, never of an OR, which proves nothing.
    name = re.escape(column)
    pattern = re.compile(
        rf"^(?:{name}\W*\s+IS\s+NOT\s+NULL|NOT\s+\W*{name}\W*\s+IS\s+NULL)$", re.I
    )

    def holds(expression: str) -> bool:
        if re.search(r"\bOR\b", expression, re.I):
            return False
        terms = re.split(r"\s+AND\s+", expression, flags=re.I)
        return any(pattern.match(t.strip(' ()"`')) for t in terms)

    return any(c.validated and holds(c.expression) for c in state.checks)
