"""Read a project's migration history: the statements each migration runs, in order.

A migration folder is one of three kinds. Plain SQL files (``V3__add.sql``,
``0004_orders.sql``, ``20240101_x.up.sql``) run in the order of their version
numbers; down and undo files are not part of the history. Django migrations
(``app/migrations/0002_x.py``) and Alembic revisions (``versions/*.py``) are
read as operations from their syntax tree, never imported, and each
operation becomes the SQL the tool would run (see :mod:`.migrations_python`).

Every statement keeps the migration file and line that introduce it, and
whether the tool runs its migration inside one transaction, so the checks
can judge each statement against the schema as it stands just before it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from audits.engine.schema import Schema
from audits.engine.sources.ddl import _read_text, natural_key
from audits.engine.sources.ddl_model import guess_dialect, normalise_dialect
from audits.engine.sources.ddl_split import split_statements
from audits.engine.vocabulary import skipped_dir

# Engines whose DDL can be rolled back: a migration tool wraps each file in
# a transaction there; MySQL commits every DDL statement on its own.
TRANSACTIONAL_DDL = frozenset({"postgres", "sqlite"})
MAX_MIGRATION_FILES = 5000


@dataclass(frozen=True)
class Statement:
    """One statement a migration runs, where it is written, and how it runs."""

    file: str  # the migration file, relative to the scanned folder
    line: int
    sql: str
    transactional: bool  # the tool runs the migration inside one transaction
    origin: str = "sql"  # "sql", "django" or "alembic"
    operation: str = ""  # the Django or Alembic operation it was read from
    # False for SQL written here for a Django or Alembic operation: a scratch
    # database's error about it is about our rendering, not the migration.
    exact: bool = True


@dataclass(frozen=True)
class Rejection:
    """A statement the scratch database refused during a dry run."""

    file: str
    line: int
    sql: str
    error: str


@dataclass(frozen=True)
class MigrationHistory:
    """Every migration found under a folder, as statements in the order they run."""

    root: str
    dialect: str
    files: tuple[str, ...] = ()
    statements: tuple[Statement, ...] = ()
    notes: tuple[str, ...] = ()
    rejected: tuple[Rejection, ...] = ()
    dry_run: str = ""  # the scratch database a dry run applied them to
    # The migrations still to be judged as pending: None judges them all; a
    # whole-project scan names each folder's newest (see newest_per_folder),
    # since the older ones have run wherever a later one has.
    pending: frozenset[str] | None = None
    # Where a lock timeout is known to be set for every migration session
    # (the project's settings, the scratch database's role or database).
    lock_timeout: str = ""
    cache: dict[str, object] = field(default_factory=dict, compare=False, repr=False)


# ------------------------------------------------------------------ finding


_SQL_VERSION = re.compile(r"^(?:[Vv]\d|\d|R__)")
_DOWN = re.compile(r"(^|[._-])(down|undo|rollback|revert)([._-]|$)|^U\d", re.I)
_MIGRATION_DIR = re.compile(r"migrat|^versions$|^changes?$|^deltas?$", re.I)
_DJANGO_FILE = re.compile(r"^\d{4}_\w+\.py$")


def _is_sql_migration(path: Path) -> bool:
    if path.suffix.lower() != ".sql" or _DOWN.search(path.stem):
        return False
    if _SQL_VERSION.match(path.name):
        return True
    # Diesel and others: one folder per migration holding up.sql.
    return path.stem.lower() == "up" and bool(_SQL_VERSION.match(path.parent.name))


def _in_migration_dir(rel: Path) -> bool:
    return any(_MIGRATION_DIR.search(part) for part in rel.parts[:-1])


def migration_files(root: Path, *, exclude: tuple[str, ...] = ()) -> list[Path]:
    """Return the migration files under ``root`` (itself one, or a folder).

    SQL files count when their name carries a version and a folder on the
    way names migrations (or ``root`` itself was named as the folder);
    Python files when they are Django migrations or Alembic revisions.
    """
    from audits.engine.sources.migrations_python import is_python_migration

    if root.is_file():
        return [root]
    found: list[Path] = []
    for folder, dirs, names in os.walk(root):
        base = Path(folder)
        rel_base = base.relative_to(root)
        dirs[:] = sorted(
            d
            for d in dirs
            if not skipped_dir(d) and not _excluded(rel_base / d, exclude)
        )
        for name in names:
            path = base / name
            rel = rel_base / name
            if _excluded(rel, exclude):
                continue
            sql = _is_sql_migration(path) and (
                _in_migration_dir(Path("m") / rel) or rel_base == Path(".")
            )
            if sql or (name.endswith(".py") and is_python_migration(path, rel)):
                found.append(path)
        if len(found) > MAX_MIGRATION_FILES:
            break
    return found


def _excluded(rel: Path, exclude: tuple[str, ...]) -> bool:
    import fnmatch

    text = rel.as_posix()
    return any(
        fnmatch.fnmatch(text, p) or fnmatch.fnmatch(rel.name, p) for p in exclude
    )


# ------------------------------------------------------------------ reading

# dbmate and goose keep both directions in one file; only "up" runs forward.
_DOWN_MARK = re.compile(
    r"^\s*--\s*(?:migrate:down|\+goose\s+Down|\+migrate\s+Down)\b", re.I | re.M
)


def sql_statements(text: str, label: str) -> list[Statement]:
    """Return the statements of one plain SQL migration file.

    Tools differ in whether they wrap a file in a transaction; a file is
    taken as transactional only when it opens one itself (the statements
    then carry ``transactional``), which is what a reviewer can see.
    """
    cut = _DOWN_MARK.search(text)
    if cut:
        text = text[: cut.start()]
    out: list[Statement] = []
    for statement in split_statements(text):
        out.append(Statement(label, statement.line, statement.text, False))
    return out


def load_history(
    root: Path | str,
    *,
    dialect: str | None = None,
    exclude: tuple[str, ...] = (),
    files: list[Path] | None = None,
) -> MigrationHistory | None:
    """Return the migration history under ``root``, or None when it has none.

    ``dialect`` names the engine the migrations run on (guessed from the
    SQL when None; PostgreSQL for Django and Alembic migrations with no
    SQL to tell).
    """
    from audits.engine.sources import migrations_python
    from audits.engine.sources.migrations_django import Reader

    base = Path(root)
    paths = files if files is not None else migration_files(base, exclude=exclude)
    if not paths:
        return None
    folder = base if base.is_dir() else base.parent
    notes: list[str] = []
    texts: dict[Path, str] = {}
    for path in paths:
        label = path.relative_to(folder).as_posix()
        text = _read_text(path, label, notes)
        if text is not None:
            texts[path] = text
    sql_text = "\n".join(t for p, t in texts.items() if p.suffix == ".sql")
    name = normalise_dialect(dialect) if dialect else _guess(sql_text, texts)
    ordered = migrations_python.run_order(sorted(texts, key=natural_key), texts)
    statements: list[Statement] = []
    django = Reader(name)
    for path in ordered:
        label = path.relative_to(folder).as_posix()
        if path.suffix == ".sql":
            statements.extend(sql_statements(texts[path], label))
        else:
            found, why = migrations_python.read(texts[path], label, path, name, django)
            statements.extend(found)
            notes.extend(why)
    return MigrationHistory(
        root=str(folder),
        dialect=name,
        files=tuple(p.relative_to(folder).as_posix() for p in ordered),
        statements=tuple(statements),
        notes=tuple(notes),
    )


def _guess(sql_text: str, texts: dict[Path, str]) -> str:
    if sql_text.strip():
        return guess_dialect(sql_text)
    joined = "\n".join(texts.values())
    if "mysql" in joined.lower() and "postgres" not in joined.lower():
        return "mysql"
    return "postgres"


# A migration committed this long before the commit scanned has, in all
# likelihood, been deployed: it is history, whatever follows it.
DEPLOYED_AFTER = 30 * 24 * 3600  # seconds


def pending_migrations(history: MigrationHistory) -> frozenset[str]:
    """Return the migrations of ``history`` that may not have run yet.

    Each folder's newest migration, unless git says it was committed more
    than :data:`DEPLOYED_AFTER` before the commit scanned.
    """
    from audits.engine.sources.git_changes import added_times

    newest = newest_per_folder(history.files)
    folder = Path(history.root)
    ages = added_times(folder, [folder / name for name in newest])
    if ages is None:
        return newest
    added, head = ages
    return frozenset(
        name
        for name in newest
        if head - added.get((folder / name).resolve(), head) <= DEPLOYED_AFTER
    )


def newest_per_folder(files: tuple[str, ...]) -> frozenset[str]:
    """Return the last migration to run in each migration folder of ``files``.

    ``files`` is in run order. A folder holding one migration per subfolder
    (``2024-01-01-000000_users/up.sql``) counts as one folder.
    """
    newest: dict[str, str] = {}
    for name in files:
        path = Path(name)
        folder = path.parent
        if path.stem.lower() == "up" and _SQL_VERSION.match(folder.name):
            folder = folder.parent
        newest[folder.as_posix()] = name
    return frozenset(newest.values())


_DJANGO_MIGRATIONS = (
    "CREATE TABLE django_migrations (id bigint NOT NULL PRIMARY KEY, "
    "app varchar(255) NOT NULL, name varchar(255) NOT NULL, "
    "applied timestamp with time zone NOT NULL)"
)


def replayed_schema(history: MigrationHistory) -> Schema:
    """Return the schema the history leaves once every migration has run.

    Built statement by statement with the DDL loader, as the replay of the
    migration checks builds it, so a project whose schema lives only in
    Django migrations or Alembic revisions still has one for the schema
    checks. Each table keeps the migration file and line that created it.
    """
    from audits.engine.sources.ddl_loader import _Loader
    from audits.engine.sources.ddl_model import _Model

    model = _Model(dialect=history.dialect)
    if any(s.origin == "django" for s in history.statements):
        # Django records each migration it applies there; the checks read
        # its presence as "Django enforces on_delete and hashes passwords".
        _Loader(model, file="").apply(_DJANGO_MIGRATIONS, 0)
    for stmt in history.statements:
        _Loader(model, file=stmt.file).apply(stmt.sql, stmt.line)
    return model.freeze(history.root)
