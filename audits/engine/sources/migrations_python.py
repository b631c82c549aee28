"""Read Django migrations and Alembic revisions as the SQL they run.

The files are parsed, never imported: each operation (``AddField``,
``op.add_column``...) becomes the statements the tool would send, with the
line of the operation, so the same rules judge SQL files and Python
migrations. What cannot be read as SQL (``RunPython``, a Python value
computed at run time) is skipped; a file that does not parse is a note.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audits.engine import confine
from audits.engine.sources.ddl_split import split_statements
from audits.engine.sources.migrations import TRANSACTIONAL_DDL, Statement

_ALEMBIC_REVISION = re.compile(r"^(down_)?revision\s*(?::[^=]+)?=\s*(.+)$", re.M)


def is_python_migration(path: Path, rel: Path) -> bool:
    """Return True for a Django migration or an Alembic revision file."""
    parent = path.parent.name
    if parent == "migrations" and re.match(r"^\d{4}_\w+\.py$", path.name):
        return True
    if parent != "versions" or path.name.startswith("__"):
        return False
    try:
        with confine.check(path).open("rb") as handle:
            head = handle.read(65536).decode("utf-8", errors="replace")
    except OSError:
        return False
    return "def upgrade" in head and "revision" in head


def _revisions(text: str) -> tuple[str, tuple[str, ...]] | None:
    found: dict[str, tuple[str, ...]] = {}
    for match in _ALEMBIC_REVISION.finditer(text):
        try:
            value = ast.literal_eval(match.group(2).strip())
        except (ValueError, SyntaxError):
            continue
        values = value if isinstance(value, tuple | list) else (value,)
        found[match.group(1) or ""] = tuple(str(v) for v in values if v)
    if "" not in found or not found[""]:
        return None
    return found[""][0], found.get("down_", ())


def run_order(paths: list[Path], texts: dict[Path, str]) -> list[Path]:
    """Return ``paths`` in the order the tools run them.

    SQL files keep their version order; Django migrations follow their
    ``dependencies`` across apps (in path order where none is said);
    Alembic revisions, whose names are often hashes, follow their
    ``down_revision`` chain, placed where the first of them stood.
    """
    paths = _django_order(paths, texts)
    alembic = {
        p: rev
        for p in paths
        if p.suffix == ".py"
        and p.parent.name == "versions"
        and (rev := _revisions(texts[p])) is not None
    }
    if not alembic:
        return paths
    by_rev = {rev[0]: p for p, rev in alembic.items()}
    done: set[Path] = set()
    chain: list[Path] = []

    def visit(path: Path) -> None:
        if path in done:
            return
        done.add(path)
        for parent in alembic[path][1]:
            if parent in by_rev:
                visit(by_rev[parent])
        chain.append(path)

    for path in alembic:
        visit(path)
    out: list[Path] = []
    for path in paths:
        if path not in alembic:
            out.append(path)
        elif not any(p in alembic for p in out):
            out.extend(chain)
    return out


_DJANGO_DEPENDENCIES = re.compile(r"^\s*dependencies\s*=\s*\[", re.M)


def _django_key(path: Path) -> tuple[str, str] | None:
    if path.suffix == ".py" and path.parent.name == "migrations":
        return path.parent.parent.name.lower(), path.stem
    return None


def _django_order(paths: list[Path], texts: dict[Path, str]) -> list[Path]:
    """Return ``paths`` with each Django migration after those it depends on."""
    keys = {p: k for p in paths if (k := _django_key(p)) is not None}
    if len(keys) < 2 or len({k[0] for k in keys.values()}) < 2:
        return paths  # one app: the numbers already give the order
    by_key = {k: p for p, k in keys.items()}
    first: dict[str, Path] = {}
    for path, (app, _) in keys.items():
        first.setdefault(app, path)
    needs: dict[Path, list[Path]] = {}
    for path in keys:
        found: list[Path] = []
        for app, name in _dependencies(texts.get(path, "")):
            if name == "__first__":
                target = first.get(app)
            elif name == "__latest__":
                target = None
            else:
                target = by_key.get((app, name))
            if target is not None and target != path:
                found.append(target)
        needs[path] = found
    done: set[Path] = set()
    out: list[Path] = []

    def visit(path: Path, depth: int = 0) -> None:
        if path in done or depth > 200:
            return
        done.add(path)
        for other in needs.get(path, ()):
            visit(other, depth + 1)
        out.append(path)

    for path in paths:
        if path in keys:
            visit(path)
        else:
            out.append(path)
    return out


def _dependencies(text: str) -> list[tuple[str, str]]:
    """Return the (app, migration) pairs a Django migration depends on."""
    match = _DJANGO_DEPENDENCIES.search(text)
    if match is None:
        return []
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and dotted(node.targets[0]) == "dependencies"
            and isinstance(node.value, ast.List | ast.Tuple)
        ):
            pairs = []
            for item in node.value.elts:
                found = value(item)
                if isinstance(found, tuple | list) and len(found) == 2:
                    pairs.append((str(found[0]).lower(), str(found[1])))
            return pairs
    return []


# ------------------------------------------------------------- syntax tree


def dotted(node: ast.AST | None) -> str:
    """Return ``a.b.C`` for a name or attribute chain, else ''."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = dotted(node.value)
        return f"{head}.{node.attr}" if head else ""
    if isinstance(node, ast.Call):
        return dotted(node.func)
    return ""


def last(name: str) -> str:
    """Return the last part of a dotted name."""
    return name.rsplit(".", 1)[-1]


def arg(call: ast.Call, index: int, name: str) -> ast.expr | None:
    """Return the argument given at position ``index`` or as keyword ``name``."""
    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword.value
    if index < len(call.args) and not isinstance(call.args[index], ast.Starred):
        return call.args[index]
    return None


def value(node: ast.AST | None) -> Any:
    """Return the literal a node spells, or None when it is not one."""
    if node is None:
        return None
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def text_of(node: ast.AST | None) -> str | None:
    """Return the SQL text of a string or ``sa.text("...")`` argument."""
    if isinstance(node, ast.Call) and last(dotted(node.func)) == "text" and node.args:
        node = node.args[0]
    found = value(node)
    return found if isinstance(found, str) else None


def sql_literal(found: Any) -> str:
    """Return a Python literal as a SQL constant."""
    if isinstance(found, bool):
        return "true" if found else "false"
    if isinstance(found, int | float):
        return str(found)
    if found is None:
        return "NULL"
    return "'" + str(found).replace("'", "''") + "'"


# ------------------------------------------------------------------ types

# Django field and SQLAlchemy type names, as the SQL type PostgreSQL gets.
_TYPES = {
    "AutoField": "integer",
    "BigAutoField": "bigint",
    "SmallAutoField": "smallint",
    "IntegerField": "integer",
    "PositiveIntegerField": "integer",
    "BigIntegerField": "bigint",
    "PositiveBigIntegerField": "bigint",
    "SmallIntegerField": "smallint",
    "PositiveSmallIntegerField": "smallint",
    "TextField": "text",
    "BooleanField": "boolean",
    "NullBooleanField": "boolean",
    "DateTimeField": "timestamp with time zone",
    "DateField": "date",
    "TimeField": "time",
    "DurationField": "interval",
    "FloatField": "double precision",
    "UUIDField": "uuid",
    "JSONField": "jsonb",
    "BinaryField": "bytea",
    "GenericIPAddressField": "inet",
    "Integer": "integer",
    "BigInteger": "bigint",
    "SmallInteger": "smallint",
    "Text": "text",
    "Boolean": "boolean",
    "Date": "date",
    "Time": "time",
    "Float": "double precision",
    "JSON": "json",
    "JSONB": "jsonb",
    "UUID": "uuid",
    "Uuid": "uuid",
    "LargeBinary": "bytea",
    "Interval": "interval",
}
_CHAR_FIELDS = {
    "CharField": None,
    "SlugField": 50,
    "EmailField": 254,
    "URLField": 200,
    "FileField": 100,
    "ImageField": 100,
    "FilePathField": 100,
    "String": None,
    "Unicode": None,
    "VARCHAR": None,
    "Enum": 32,
}
_MYSQL_TYPES = {
    "timestamp with time zone": "datetime(6)",
    "jsonb": "json",
    "uuid": "char(32)",
    "bytea": "longblob",
    "interval": "bigint",
    "inet": "char(39)",
    "text": "longtext",
}


def sql_type(call: ast.expr | None, dialect: str) -> str:
    """Return the SQL type a Django field or SQLAlchemy type call declares."""
    name = last(dotted(call))
    found = _TYPES.get(name)
    if found is None and name in _CHAR_FIELDS:
        size = _CHAR_FIELDS[name]
        given = value(arg(call, 0, "length")) if isinstance(call, ast.Call) else None
        if isinstance(call, ast.Call):
            given = value(arg(call, 99, "max_length")) or given
        size = given if isinstance(given, int) else size
        found = f"varchar({size})" if size else "varchar"
    if found is None and name in ("DecimalField", "Numeric", "DECIMAL"):
        found = _numeric(call)
    if found is None and name == "DateTime" and isinstance(call, ast.Call):
        tz = value(arg(call, 0, "timezone"))
        found = "timestamp with time zone" if tz else "timestamp"
    found = found or "text"
    return _MYSQL_TYPES.get(found, found) if dialect == "mysql" else found


def _numeric(call: ast.expr | None) -> str:
    if not isinstance(call, ast.Call):
        return "numeric"
    digits = value(arg(call, 0, "max_digits")) or value(arg(call, 0, "precision"))
    places = value(arg(call, 1, "decimal_places")) or value(arg(call, 1, "scale"))
    if isinstance(digits, int):
        return f"numeric({digits}, {places if isinstance(places, int) else 0})"
    return "numeric"


# ------------------------------------------------------------------ output


@dataclass
class Emitter:
    """Collect the statements of one migration file."""

    label: str
    origin: str
    transactional: bool
    statements: list[Statement] = field(default_factory=list)

    def add(
        self,
        line: int,
        sql: str,
        operation: str,
        *,
        tx: bool | None = None,
        exact: bool = False,
    ) -> None:
        """Add one statement run by the operation written at ``line``."""
        within = self.transactional if tx is None else tx
        self.statements.append(
            Statement(self.label, line, sql, within, self.origin, operation, exact)
        )

    def add_sql(self, node: ast.AST, operation: str, *, tx: bool | None = None) -> None:
        """Add every statement of the raw SQL a string node holds."""
        for sql, line in raw_sql(node):
            self.add(line, sql, operation, tx=tx, exact=True)


def raw_sql(node: ast.AST) -> Iterator[tuple[str, int]]:
    """Yield (statement, line) for the SQL strings a node holds."""
    items = node.elts if isinstance(node, ast.List | ast.Tuple) else [node]
    for item in items:
        if isinstance(item, ast.Tuple) and item.elts:
            item = item.elts[0]  # RunSQL's (sql, params) pairs
        text = text_of(item)
        if text is None:
            continue
        start = getattr(item, "lineno", 1)
        for statement in split_statements(text):
            yield statement.text, start + statement.line - 1


def transactional(dialect: str, declared: bool = True) -> bool:
    """Return True when a tool's migration runs in one transaction here."""
    return declared and dialect in TRANSACTIONAL_DDL


def read(
    text: str, label: str, path: Path, dialect: str, reader: Any = None
) -> tuple[list[Statement], list[str]]:
    """Return the statements of a Django or Alembic migration file, and notes."""
    from audits.engine.sources import migrations_alembic, migrations_django

    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        line = getattr(exc, "lineno", None)
        where = f"{label}:{line}" if line else label
        return [], [f"{where}: could not parse the migration: {exc}"]
    if path.parent.name == "versions":
        return migrations_alembic.read(tree, label, dialect), []
    django = reader if reader is not None else migrations_django.Reader(dialect)
    statements = django.read(tree, label, path)
    return statements, django.take_notes()
