"""Checks that read only the schema model, so they run on DDL and live schemas.

Fingerprints key on normalised names, never on line numbers or index names:

* column checks: ``table, column``;
* FK checks: ``table, FK columns`` (plus the parent table for fk-no-on-delete);
* fk-missing-index: ``table, FK column set`` (sorted, as any order is covered);
* index-duplicate: ``table, column signature, predicate, uniqueness`` -- the
  signature survives renaming either index;
* index-redundant: ``table, the redundant index's signature, predicate`` --
  it does not name the covering index, so the finding stays the same when
  the wider index changes but still covers it;
* table checks: ``table``.

Engine knowledge: MySQL InnoDB creates an index for every FK, so
fk-missing-index is silent there. SQLite and MySQL have no real boolean
type (MySQL's BOOLEAN is TINYINT(1) and stores -128..127), so
check-missing-boolean runs on both; PostgreSQL has ``boolean`` and is
skipped. A MySQL ``ENUM`` or a PostgreSQL enum type constrains its values,
so check-missing-enum is silent on them. SQLite cannot add a CHECK or FK to
an existing table, so those fixes are described, not given as SQL.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from typing import Any, TypeVar, cast

from audits.engine.issues import Evidence, Issue
from audits.engine.registry import CheckSpec, Facts, implements
from audits.engine.schema import Check, Column, ForeignKey, Index, Schema, Table

SCHEMA = {Evidence.SCHEMA}

_T = TypeVar("_T")
# key -> (schema, value): the last schema each derived value was computed
# for. Checks run one schema at a time, so one entry per key is enough, and
# holding the schema itself (not its id) makes a stale hit impossible.
_MEMO: dict[str, tuple[Schema, Any]] = {}


def per_schema(key: str, schema: Schema, compute: Callable[[Schema], _T]) -> _T:
    """Return ``compute(schema)``, computed once per schema object and ``key``."""
    cached = _MEMO.get(key)
    if cached is not None and cached[0] is schema:
        return cast(_T, cached[1])
    value = compute(schema)
    _MEMO[key] = (schema, value)
    return value


# --------------------------------------------------------------------------
# Shared helpers (also used by checks that join code and schema)


def engine(schema: Schema) -> str:
    """Return ``sqlite``, ``postgres``, ``mysql`` or the schema's own dialect."""
    name = schema.dialect.lower()
    if name in ("postgres", "postgresql", "pg", "redshift"):
        return "postgres"
    if name in ("mysql", "mariadb"):
        return "mysql"
    if name in ("sqlite", "sqlite3"):
        return "sqlite"
    return name


def quote(name: str, schema: Schema) -> str:
    """Return ``name`` quoted for the schema's dialect when it needs quoting."""
    if re.fullmatch(r"[a-z_][a-z0-9_]*", name) and name.upper() not in _RESERVED:
        return name
    if engine(schema) == "mysql":
        return "`" + name.replace("`", "``") + "`"
    return '"' + name.replace('"', '""') + '"'


_RESERVED = frozenset(
    ("ORDER", "GROUP", "USER", "KEY", "INDEX", "TABLE", "SELECT", "WHERE", "FROM")
    + ("DEFAULT", "CHECK", "REFERENCES", "PRIMARY", "UNIQUE", "CONSTRAINT", "TO")
    + ("AS", "ON", "IN", "IS", "NOT", "NULL", "AND", "OR", "LIMIT", "OFFSET")
)


def type_family(type_text: str, dialect: str) -> str:
    """Return the comparable family of a column type ('' when unknown).

    SQLite follows its affinity rules (contains INT -> integer; CHAR, CLOB
    or TEXT -> text; BLOB or no type -> blob; REAL, FLOA, DOUB -> real; else
    numeric). Other engines compare integer widths too, as an INT column
    cannot hold every BIGINT key.
    """
    t = type_text.upper().strip()
    if dialect == "sqlite":
        if "INT" in t:
            return "integer"
        if any(k in t for k in ("CHAR", "CLOB", "TEXT")):
            return "text"
        if not t or "BLOB" in t:
            return ""
        if any(k in t for k in ("REAL", "FLOA", "DOUB")):
            return "real"
        return "numeric"
    base = re.sub(r"\(.*?\)", "", t).replace("UNSIGNED", "").strip()
    widths = {
        "SMALLINT": 2,
        "INT2": 2,
        "SMALLSERIAL": 2,
        "TINYINT": 1,
        "MEDIUMINT": 3,
        "INT": 4,
        "INTEGER": 4,
        "INT4": 4,
        "SERIAL": 4,
        "BIGINT": 8,
        "INT8": 8,
        "BIGSERIAL": 8,
    }
    if base in widths:
        return f"integer{widths[base]}"
    if base.startswith("U") and base[1:] in widths:
        return f"integer{widths[base[1:]]}"
    if any(k in base for k in ("CHAR", "TEXT", "STRING", "CLOB", "CITEXT", "VARYING")):
        return "text"
    if base in ("UUID", "UNIQUEIDENTIFIER"):
        return "uuid"
    if base in ("NUMERIC", "DECIMAL", "NUMBER", "MONEY"):
        return "numeric"
    if base in ("REAL", "FLOAT", "DOUBLE", "DOUBLE PRECISION", "FLOAT4", "FLOAT8"):
        return "real"
    if base in ("BOOLEAN", "BOOL"):
        return "boolean"
    if "TIMESTAMP" in base or base == "DATETIME":
        return "timestamp"
    if base in ("BINARY", "VARBINARY", "BYTEA", "BLOB"):
        return "binary"
    return base.lower()


def is_integer_type(column: Column) -> bool:
    """Return True for integer-like declared types on any engine."""
    t = column.type.upper()
    return "INT" in t or t in ("SERIAL", "BIGSERIAL", "SMALLSERIAL")


def is_numeric_type(column: Column) -> bool:
    """Return True for integer, real and decimal declared types."""
    t = column.type.upper()
    return is_integer_type(column) or any(
        k in t for k in ("REAL", "FLOA", "DOUB", "NUMERIC", "DECIMAL", "NUMBER")
    )


def is_text_type(column: Column) -> bool:
    """Return True for character types, and for SQLite's untyped columns."""
    t = column.type.upper()
    return not t or any(k in t for k in ("CHAR", "TEXT", "CLOB", "STRING"))


def string_default(column: Column) -> str | None:
    """Return the value of a quoted string DEFAULT, without quotes."""
    if column.default is None:
        return None
    text = column.default.strip()
    while text.startswith("(") and text.endswith(")"):
        text = text[1:-1].strip()
    text = re.sub(r"::[\w ]+$", "", text)
    match = re.fullmatch(r"'((?:[^']|'')*)'", text)
    return match.group(1).replace("''", "'") if match else None


_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
_WORD_BREAK = re.compile(r"[_\W]+")


def words(name: str) -> list[str]:
    """Return the lower-case words of a snake_case or camelCase name."""
    return list(_words(name))


@lru_cache(maxsize=16384)
def _words(name: str) -> tuple[str, ...]:
    # Several checks ask for the words of every column; a schema repeats
    # the same few names across its tables.
    spaced = _CAMEL.sub(r"\1_\2", name)
    return tuple(w for w in _WORD_BREAK.split(spaced.lower()) if w)


def checks_on(table: Table, column: str) -> list[Check]:
    """Return the CHECK constraints of ``table`` that mention ``column``."""
    low = column.lower()
    pattern = re.compile(rf"(?<![\w]){re.escape(low)}(?![\w])")
    return [
        c
        for c in table.checks
        if (c.column or "").lower() == low or pattern.search(c.expression.lower())
    ]


def indexes_of(table: Table) -> list[Index]:
    """Return the table's indexes, plus its primary key when none backs it."""
    result = list(table.indexes)
    pk = tuple(c.lower() for c in table.primary_key)
    if pk and not any(i.constraint == "primary key" for i in result):
        from audits.engine.schema import IndexColumn

        result.append(
            Index(
                name=f"{table.name}_pkey",
                table=table.name,
                columns=tuple(IndexColumn(c) for c in table.primary_key),
                unique=True,
                constraint="primary key",
            )
        )
    return result


def distinct_fks(table: Table) -> list[ForeignKey]:
    """Return one FK per column set (conflicting duplicates are one problem)."""
    seen: dict[tuple[str, ...], ForeignKey] = {}
    for fk in table.foreign_keys:
        key = tuple(c.lower() for c in fk.columns)
        seen.setdefault(key, fk)
    return list(seen.values())


def referenced_columns(schema: Schema, fk: ForeignKey) -> tuple[str, ...]:
    """Return the parent columns an FK points at (its PK when not named)."""
    if fk.ref_columns:
        return fk.ref_columns
    parent = schema.table(fk.ref_table)
    return parent.primary_key if parent else ()


def updated_at_columns(schema: Schema) -> Iterator[tuple[Table, Column, bool]]:
    """Yield each ``updated_at``-like column and whether a trigger sets it.

    For the code half of updated-at-not-maintained: a column no trigger
    maintains still needs an ORM hook or an UPDATE in code that sets it.
    """
    for table in schema.tables:
        for col in table.columns:
            if col.name.lower() not in _UPDATED_NAMES:
                continue
            yield table, col, trigger_sets(table, col.name)


_UPDATED_NAMES = frozenset(
    {"updated_at", "updated", "modified_at", "modified", "updated_on", "last_modified"}
)


def trigger_sets(table: Table, column: str) -> bool:
    """Return True when an UPDATE trigger on ``table`` assigns ``column``."""
    pattern = re.compile(rf"\b{re.escape(column)}\b\s*(?::=|=)", re.I)
    for trig in table.triggers:
        if "UPDATE" in trig.event.upper() and pattern.search(trig.body):
            return True
    # MySQL's ON UPDATE CURRENT_TIMESTAMP maintains the column itself.
    col = table.column(column)
    return bool(col and col.default and "ON UPDATE" in col.default.upper())


def _loc(table: Table, line: int | None = None) -> dict[str, object]:
    return {"file": table.file or "", "line": line if line is not None else table.line}


def _schema(facts: Facts) -> Schema | None:
    return facts.schema


def _cols(cols: Iterable[str]) -> str:
    return ", ".join(cols)


def _obj(table: Table, cols: Iterable[str]) -> str:
    names = list(cols)
    if len(names) == 1:
        return f"{table.name}.{names[0]}"
    return f"{table.name}({_cols(names)})"


def _issue(
    spec: CheckSpec, table: Table, line: int | None = None, **kw: object
) -> Issue:
    loc = _loc(table, line)
    return spec.issue(file=str(loc["file"]), line=loc["line"], **kw)  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# schema dimension


@implements("table-no-primary-key", requires=SCHEMA)
def table_no_primary_key(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report tables with no primary key (SQLite rowid alone does not count)."""
    schema = _schema(facts)
    if schema is None:
        return
    for table in schema.tables:
        if table.name.lower().startswith("sqlite_"):
            continue
        if table.primary_key or any(c.primary_key for c in table.columns):
            continue
        fix = ""
        eng = engine(schema)
        t = quote(table.name, schema)
        if eng == "postgres":
            fix = f"ALTER TABLE {t} ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY;"
        elif eng == "mysql":
            fix = f"ALTER TABLE {t} ADD COLUMN id BIGINT AUTO_INCREMENT PRIMARY KEY FIRST;"
        yield _issue(
            spec,
            table,
            key=[table.name],
            object=table.name,
            evidence=f"{table.name} ({_cols(table.column_names[:6])}"
            f"{', ...' if len(table.columns) > 6 else ''}) declares no PRIMARY KEY",
            fix_sql=fix,
        )


def _fk_text(fk: ForeignKey) -> str:
    ref = f"{fk.ref_table}({_cols(fk.ref_columns)})" if fk.ref_columns else fk.ref_table
    text = (
        f"{fk.columns[0]} REFERENCES {ref}"
        if fk.declared == "column"
        else f"FOREIGN KEY ({_cols(fk.columns)}) REFERENCES {ref}"
    )
    if fk.on_delete:
        text += f" ON DELETE {fk.on_delete}"
    if fk.on_update:
        text += f" ON UPDATE {fk.on_update}"
    return text


def _fk_meaning(
    schema: Schema, fk: ForeignKey
) -> tuple[str, tuple[str, ...], str, str]:
    return (
        fk.ref_table.lower(),
        tuple(c.lower() for c in referenced_columns(schema, fk)),
        (fk.on_delete or "NO ACTION").upper(),
        (fk.on_update or "NO ACTION").upper(),
    )


@implements("fk-conflicting-declarations", requires=SCHEMA)
def fk_conflicting_declarations(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report columns with FK declarations that disagree on target or actions."""
    schema = _schema(facts)
    if schema is None:
        return
    for table in schema.tables:
        groups: dict[tuple[str, ...], list[ForeignKey]] = {}
        for fk in table.foreign_keys:
            groups.setdefault(tuple(c.lower() for c in fk.columns), []).append(fk)
        for cols, fks in groups.items():
            meanings = {_fk_meaning(schema, fk) for fk in fks}
            if len(meanings) < 2:
                continue
            lines = [fk.line for fk in fks if fk.line is not None]
            evidence = "; ".join(
                f"{_fk_text(fk)}" + (f" (line {fk.line})" if fk.line else "")
                for fk in fks
            )
            yield _issue(
                spec,
                table,
                min(lines) if lines else None,
                key=[table.name, *cols],
                object=_obj(table, fks[0].columns),
                evidence=evidence,
                fix_sql=_drop_fk_sql(schema, table, fks),
            )


def _drop_fk_sql(schema: Schema, table: Table, fks: list[ForeignKey]) -> str:
    # Only a named constraint can be dropped in place; SQLite needs a rebuild.
    eng = engine(schema)
    weaker = [fk for fk in fks if not fk.on_delete and fk.name]
    if not weaker or eng == "sqlite":
        return ""
    name = quote(weaker[0].name or "", schema)
    if eng == "mysql":
        return f"ALTER TABLE {quote(table.name, schema)} DROP FOREIGN KEY {name};"
    return f"ALTER TABLE {quote(table.name, schema)} DROP CONSTRAINT {name};"


OWNER_TABLES = frozenset(
    {
        "user",
        "users",
        "account",
        "accounts",
        "tenant",
        "tenants",
        "workspace",
        "workspaces",
        "organization",
        "organizations",
        "organisation",
        "organisations",
        "org",
        "orgs",
        "team",
        "teams",
        "customer",
        "customers",
        "member",
        "members",
        "company",
        "companies",
        "auth_user",
    }
)


def owner_tables(schema: Schema) -> frozenset[str]:
    """Return lower-case names of owner-like tables (by name or by fan-in).

    A table counts by fan-in when at least three other tables, and at least
    half of the tables that have foreign keys, reference it.
    """
    return per_schema("owner_tables", schema, _owner_tables)


def _owner_tables(schema: Schema) -> frozenset[str]:
    owners = {t.name.lower() for t in schema.tables if t.name.lower() in OWNER_TABLES}
    referrers: dict[str, set[str]] = {}
    with_fks = 0
    for table in schema.tables:
        parents = {
            fk.ref_table.lower()
            for fk in table.foreign_keys
            if fk.ref_table.lower() != table.name.lower()
        }
        if parents:
            with_fks += 1
        for parent in parents:
            referrers.setdefault(parent, set()).add(table.name.lower())
    for parent, children in referrers.items():
        if len(children) >= 3 and 2 * len(children) >= with_fks:
            owners.add(parent)
    return frozenset(owners)


def django_managed(schema: Schema) -> bool:
    """Return True when Django's migrations built the schema.

    Django keeps its applied migrations in ``django_migrations``. It declares
    every FK without an ON DELETE action (``DEFERRABLE INITIALLY DEFERRED``
    on SQLite and PostgreSQL) and carries out each model's ``on_delete``
    itself, so the schema alone cannot say what a delete does.
    """
    return schema.table("django_migrations") is not None


@implements("fk-no-on-delete", requires=SCHEMA)
def fk_no_on_delete(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report FKs to owner-like tables that declare no ON DELETE action.

    Silent on a Django-managed schema, whose delete rules live in the models.
    """
    schema = _schema(facts)
    if schema is None or django_managed(schema):
        return
    owners = owner_tables(schema)
    for table in schema.tables:
        for fk in table.foreign_keys:
            if fk.on_delete or fk.ref_table.lower() not in owners:
                continue
            if fk.ref_table.lower() == table.name.lower():
                continue
            cols = tuple(c.lower() for c in fk.columns)
            # A sibling declaration with an action is fk-conflicting-declarations.
            if any(
                other.on_delete and tuple(c.lower() for c in other.columns) == cols
                for other in table.foreign_keys
            ):
                continue
            nullable = all(
                (col := table.column(c)) is not None and col.nullable
                for c in fk.columns
            )
            action = "SET NULL" if nullable else "CASCADE"
            yield _issue(
                spec,
                table,
                fk.line,
                key=[table.name, *cols, fk.ref_table],
                object=_obj(table, fk.columns),
                evidence=_fk_text(fk),
                remediation=f"{spec.remediation} Here: ON DELETE {action}"
                f" ({'the column is nullable' if nullable else 'the column is NOT NULL'}).",
                fix_sql=_readd_fk_sql(schema, table, fk, action),
            )


def _readd_fk_sql(schema: Schema, table: Table, fk: ForeignKey, action: str) -> str:
    eng = engine(schema)
    if eng not in ("postgres", "mysql"):
        return ""
    t = quote(table.name, schema)
    cols = _cols(quote(c, schema) for c in fk.columns)
    refs = _cols(quote(c, schema) for c in referenced_columns(schema, fk))
    parent = quote(fk.ref_table, schema)
    if eng == "postgres":
        name = fk.name or f"{table.name}_{'_'.join(fk.columns)}_fkey"
        q = quote(name, schema)
        return (
            f"ALTER TABLE {t} DROP CONSTRAINT {q}, ADD CONSTRAINT {q} FOREIGN KEY "
            f"({cols}) REFERENCES {parent} ({refs}) ON DELETE {action};"
        )
    if not fk.name:
        return ""
    q = quote(fk.name, schema)
    return (
        f"ALTER TABLE {t} DROP FOREIGN KEY {q}, ADD CONSTRAINT {q} FOREIGN KEY "
        f"({cols}) REFERENCES {parent} ({refs}) ON DELETE {action};"
    )


def _plural_candidates(stem: str) -> list[str]:
    out = [stem, stem + "s", stem + "es"]
    if stem.endswith("y"):
        out.append(stem[:-1] + "ies")
    if stem.endswith("s"):
        out.append(stem)
    return out


def resolve_reference(schema: Schema, table: Table, column: str) -> Table | None:
    """Return the table a ``<name>_id`` column refers to by name, if any."""
    low = column.lower()
    fk_stems = {
        fk.columns[0].lower(): fk.ref_table
        for fk in table.foreign_keys
        if len(fk.columns) == 1
    }
    # `eval_run_id_b` beside an FK column `eval_run_id` points where it points.
    for fk_col, ref in fk_stems.items():
        if low != fk_col and re.fullmatch(
            rf"{re.escape(fk_col)}_?[a-z0-9]{{1,3}}", low
        ):
            return schema.table(ref)
    match = re.fullmatch(r"(.+?)_?id", low)
    if not match or low == "id":
        return None
    stem_words = match.group(1).strip("_").split("_")
    for start in range(len(stem_words)):
        stem = "_".join(stem_words[start:])
        if not stem:
            continue
        for candidate in _plural_candidates(stem):
            found = schema.table(candidate)
            if found is not None:
                return found
        if start == 0:
            suffixed = _tables_by_suffix(schema)
            found_by_suffix = {
                id(t): t for c in _plural_candidates(stem) for t in suffixed.get(c, ())
            }
            if len(found_by_suffix) == 1:
                return next(iter(found_by_suffix.values()))
    return None


def _tables_by_suffix(schema: Schema) -> dict[str, list[Table]]:
    """Return each ``_``-separated name tail -> the tables whose name ends in it."""

    def build(schema: Schema) -> dict[str, list[Table]]:
        tails: dict[str, list[Table]] = {}
        for table in schema.tables:
            low = table.name.lower()
            for at in range(1, len(low)):
                if low[at - 1] == "_":
                    tails.setdefault(low[at:], []).append(table)
        return tails

    return per_schema("tables_by_suffix", schema, build)


@implements("fk-missing", requires=SCHEMA)
def fk_missing(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report ``<table>_id`` columns that name a table but declare no FK."""
    schema = _schema(facts)
    if schema is None:
        return
    eng = engine(schema)
    for table in schema.tables:
        fk_cols = {c.lower() for fk in table.foreign_keys for c in fk.columns}
        pk = {c.lower() for c in table.primary_key}
        for col in table.columns:
            low = col.name.lower()
            if low in fk_cols or low in pk or col.primary_key:
                continue
            if not re.search(r"_?id(?:_?[a-z0-9]{1,3})?$", low) or low == "id":
                continue
            parent = resolve_reference(schema, table, col.name)
            if parent is None or not parent.primary_key or len(parent.primary_key) != 1:
                continue
            parent_col = parent.column(parent.primary_key[0])
            if parent_col is None:
                continue
            mine = type_family(col.type, eng)
            theirs = type_family(parent_col.type, eng)
            # An id of another type (an external TEXT id beside integer keys)
            # is a different thing with a similar name.
            if (
                mine
                and theirs
                and mine.rstrip("0123456789") != theirs.rstrip("0123456789")
            ):
                continue
            fix = ""
            if eng in ("postgres", "mysql"):
                name = f"{table.name}_{col.name}_fkey"
                fix = (
                    f"ALTER TABLE {quote(table.name, schema)} ADD CONSTRAINT "
                    f"{quote(name, schema)} FOREIGN KEY ({quote(col.name, schema)}) "
                    f"REFERENCES {quote(parent.name, schema)} "
                    f"({quote(parent.primary_key[0], schema)});"
                )
            yield _issue(
                spec,
                table,
                col.line,
                key=[table.name, col.name],
                object=f"{table.name}.{col.name}",
                evidence=f"{table.name}.{col.name} {col.type or '(untyped)'} looks like a "
                f"reference to {parent.name}.{parent.primary_key[0]} but has no FOREIGN KEY",
                fix_sql=fix,
            )


@implements("fk-type-mismatch", requires=SCHEMA)
def fk_type_mismatch(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report FK columns whose type family differs from the parent column's."""
    schema = _schema(facts)
    if schema is None:
        return
    eng = engine(schema)
    for table in schema.tables:
        for fk in distinct_fks(table):
            parent = schema.table(fk.ref_table)
            if parent is None:
                continue
            refs = referenced_columns(schema, fk)
            if len(refs) != len(fk.columns):
                continue
            for mine_name, theirs_name in zip(fk.columns, refs, strict=True):
                mine, theirs = table.column(mine_name), parent.column(theirs_name)
                if mine is None or theirs is None:
                    continue
                a, b = type_family(mine.type, eng), type_family(theirs.type, eng)
                if not a or not b or a == b:
                    continue
                yield _issue(
                    spec,
                    table,
                    fk.line,
                    key=[table.name, mine_name],
                    object=f"{table.name}.{mine_name}",
                    evidence=f"{table.name}.{mine_name} is {mine.type or '(untyped)'} but "
                    f"references {parent.name}.{theirs_name} {theirs.type or '(untyped)'}",
                )


ENUM_WORDS = frozenset(
    {
        "status",
        "state",
        "type",
        "kind",
        "mode",
        "category",
        "role",
        "level",
        "priority",
        "stage",
        "phase",
        "visibility",
        "scoring",
        "tier",
        "severity",
        "plan",
        "method",
        "strategy",
    }
)


def enum_like(name: str) -> bool:
    """Return True when a column name suggests a small closed set of values."""
    parts = words(name)
    return bool(parts) and parts[-1] in ENUM_WORDS and "id" not in parts


def known_value_sets(schema: Schema) -> dict[str, list[tuple[str, tuple[str, ...]]]]:
    """Return column name -> [(table, values)] from CHECK value lists."""
    sets: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    for table in schema.tables:
        for check in table.checks:
            if check.column and check.values:
                sets.setdefault(check.column.lower(), []).append(
                    (table.name, check.values)
                )
    return sets


def _is_enum_type(column: Column, schema: Schema) -> bool:
    t = column.type.upper()
    if t.startswith("ENUM") or t.startswith("SET("):
        return True
    # PostgreSQL user-defined types (enums, domains) constrain values.
    return (
        engine(schema) == "postgres"
        and type_family(t, "postgres")
        not in (
            "text",
            "",
        )
        and not is_numeric_type(column)
    )


@implements("check-missing-enum", requires=SCHEMA)
def check_missing_enum(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report enum-like text columns with a known value set but no CHECK."""
    schema = _schema(facts)
    if schema is None:
        return
    sets = known_value_sets(schema)
    eng = engine(schema)
    for table in schema.tables:
        for col in table.columns:
            if not enum_like(col.name) or not is_text_type(col):
                continue
            if _is_enum_type(col, schema) or checks_on(table, col.name):
                continue
            default = string_default(col)
            siblings = [v for t, v in sets.get(col.name.lower(), []) if t != table.name]
            values: list[str] = []
            for vals in siblings:
                values.extend(v for v in vals if v not in values)
            if not siblings and not default:
                continue
            if default and default not in values:
                basis = f"DEFAULT '{default}'"
                if siblings:
                    basis += " and the CHECK on other tables' " + col.name
            else:
                basis = f"the CHECK on other tables' {col.name}"
            fix = ""
            if values and eng in ("postgres", "mysql"):
                listed = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
                fix = (
                    f"ALTER TABLE {quote(table.name, schema)} ADD CONSTRAINT "
                    f"{quote(f'{table.name}_{col.name}_check', schema)} "
                    f"CHECK ({quote(col.name, schema)} IN ({listed}));"
                )
            expected = f"; expected values: {', '.join(values)}" if values else ""
            yield _issue(
                spec,
                table,
                col.line,
                key=[table.name, col.name],
                object=f"{table.name}.{col.name}",
                evidence=f"{table.name}.{col.name} {col.type or '(untyped)'} has no CHECK "
                f"(values known from {basis}){expected}",
                fix_sql=fix,
            )


BOOLEAN_PREFIXES = ("is", "has", "can", "should", "allow", "supports", "use", "needs")
BOOLEAN_NAMES = frozenset(
    {
        "enabled",
        "disabled",
        "active",
        "used",
        "deleted",
        "archived",
        "verified",
        "visible",
        "hidden",
        "locked",
        "public",
        "published",
        "confirmed",
        "approved",
        "default",
        "flag",
    }
)


def boolean_like(name: str) -> bool:
    """Return True when a column name reads as a yes/no flag."""
    parts = words(name)
    if not parts:
        return False
    if parts[0] in BOOLEAN_PREFIXES and len(parts) > 1:
        return True
    if parts[-1] in BOOLEAN_NAMES:
        return True
    return len(parts) >= 2 and parts[-2:] == ["opt", "in"]


def _is_flag_type(column: Column, eng: str) -> bool:
    t = column.type.upper()
    if eng == "mysql":
        return t.startswith("TINYINT") or t in ("BOOL", "BOOLEAN", "BIT(1)", "BIT")
    return "INT" in t or "BOOL" in t or (not t and column.default in ("0", "1"))


@implements("check-missing-boolean", requires=SCHEMA)
def check_missing_boolean(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report integer flag columns without CHECK (x IN (0, 1)).

    Runs on SQLite (no boolean type; BOOLEAN has NUMERIC affinity) and
    MySQL (BOOLEAN is TINYINT(1)); PostgreSQL has a real boolean type.
    """
    schema = _schema(facts)
    if schema is None:
        return
    eng = engine(schema)
    if eng not in ("sqlite", "mysql"):
        return
    for table in schema.tables:
        for col in table.columns:
            if not boolean_like(col.name) or not _is_flag_type(col, eng):
                continue
            if checks_on(table, col.name):
                continue
            fix = ""
            if eng == "mysql":
                fix = (
                    f"ALTER TABLE {quote(table.name, schema)} ADD CONSTRAINT "
                    f"{quote(f'{table.name}_{col.name}_bool', schema)} "
                    f"CHECK ({quote(col.name, schema)} IN (0, 1));"
                )
            yield _issue(
                spec,
                table,
                col.line,
                key=[table.name, col.name],
                object=f"{table.name}.{col.name}",
                evidence=f"{table.name}.{col.name} {col.type or '(untyped)'}"
                f"{' DEFAULT ' + col.default if col.default else ''} accepts any "
                f"integer, not only 0 and 1",
                fix_sql=fix,
            )


def range_for(name: str) -> str | None:
    """Return the CHECK condition a numeric column's name implies, if any."""
    parts = words(name)
    if not parts:
        return None
    last = parts[-1]
    if last in ("pct", "percent", "percentage", "progress") or "pct" in parts:
        return "BETWEEN 0 AND 100"
    if last in ("interval", "hours", "minutes", "seconds", "days", "timeout") or (
        parts[0] == "interval"
    ):
        return "> 0"
    if last in (
        "score",
        "count",
        "ms",
        "price",
        "amount",
        "quantity",
        "qty",
        "rating",
        "duration",
        "s",
        "total",
        "size",
        "retries",
        "attempts",
    ) or parts[0] in ("num", "total"):
        return ">= 0"
    return None


@implements("check-missing-range", requires=SCHEMA)
def check_missing_range(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report score/percentage/count/interval columns with no range CHECK."""
    schema = _schema(facts)
    if schema is None:
        return
    eng = engine(schema)
    for table in schema.tables:
        fk_cols = {c.lower() for fk in table.foreign_keys for c in fk.columns}
        for col in table.columns:
            condition = range_for(col.name)
            if condition is None or not is_numeric_type(col) or col.primary_key:
                continue
            if col.name.lower() in fk_cols or checks_on(table, col.name):
                continue
            fix = ""
            if eng in ("postgres", "mysql"):
                fix = (
                    f"ALTER TABLE {quote(table.name, schema)} ADD CONSTRAINT "
                    f"{quote(f'{table.name}_{col.name}_range', schema)} "
                    f"CHECK ({quote(col.name, schema)} {condition});"
                )
            yield _issue(
                spec,
                table,
                col.line,
                key=[table.name, col.name],
                object=f"{table.name}.{col.name}",
                evidence=f"{table.name}.{col.name} {col.type} has no CHECK; "
                f"expected {col.name} {condition}",
                fix_sql=fix,
            )


_TS_ROLES = (
    "created",
    "updated",
    "modified",
    "deleted",
    "archived",
    "started",
    "completed",
    "finished",
    "expires",
    "expired",
    "published",
)
_TS_NAME = re.compile(
    rf"^({'|'.join(_TS_ROLES)})(_at|_on|_date|_time|_ts|At|On|Date|Time)?$"
)


def _ts_style(column: Column) -> tuple[str, str] | None:
    match = _TS_NAME.match(column.name)
    if match is None:
        return None
    suffix = match.group(2) or ""
    if not suffix:
        t = column.type.upper()
        # A bare `deleted INTEGER` is a flag, not a timestamp.
        if "INT" in t or "BOOL" in t:
            return None
    return match.group(1), suffix.lower() if suffix.startswith("_") else suffix


@implements("naming-inconsistent-timestamp", requires=SCHEMA)
def naming_inconsistent_timestamp(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report timestamp columns named against the schema's majority style."""
    schema = _schema(facts)
    if schema is None:
        return
    styles: Counter[str] = Counter()
    found: list[tuple[Table, Column, str, str]] = []
    for table in schema.tables:
        for col in table.columns:
            style = _ts_style(col)
            if style:
                styles[style[1]] += 1
                found.append((table, col, style[0], style[1]))
    if len(styles) < 2:
        return
    (top, top_count), (_, second) = styles.most_common(2)
    if top_count < 2 or top_count == second:
        return
    for table, col, role, suffix in found:
        if suffix == top:
            continue
        wanted = role + top
        if table.column(wanted) is not None:
            continue
        yield _issue(
            spec,
            table,
            col.line,
            key=[table.name, col.name],
            object=f"{table.name}.{col.name}",
            evidence=f"{table.name}.{col.name}: {top_count} timestamp columns use the "
            f"'{top or '(bare)'}' suffix ({role}{top})",
            remediation=f"Rename it to {wanted} (and update the code that uses it).",
            fix_sql=f"ALTER TABLE {quote(table.name, schema)} RENAME COLUMN "
            f"{quote(col.name, schema)} TO {quote(wanted, schema)};",
        )


@implements("default-divergence", requires=SCHEMA)
def default_divergence(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report enum-like columns whose default differs from their siblings'.

    Tables are compared only when each one's CHECK list allows the other's
    default, so unrelated lifecycles that share a column name stay apart.
    """
    schema = _schema(facts)
    if schema is None:
        return
    by_name: dict[str, list[tuple[Table, Column, str, tuple[str, ...]]]] = {}
    for table in schema.tables:
        for col in table.columns:
            default = string_default(col)
            if not enum_like(col.name) or default is None:
                continue
            values = next(
                (c.values for c in checks_on(table, col.name) if c.values), None
            )
            if values is None and col.type.upper().startswith("ENUM"):
                values = tuple(re.findall(r"'((?:[^']|'')*)'", col.type))
            if values is None:
                continue
            by_name.setdefault(col.name.lower(), []).append(
                (table, col, default, values)
            )
    for entries in by_name.values():
        if len(entries) < 2:
            continue
        group = [(d, v) for _, _, d, v in entries]
        counts = Counter(d for d, _ in group)
        majority = min(counts, key=lambda v: _default_rank(v, group, counts))
        for table, col, default, values in entries:
            # Only a table whose own CHECK allows the majority default could
            # have used it; otherwise its lifecycle is a different one.
            if default == majority or majority not in values:
                continue
            others = sorted(t.name for t, _, d, _ in entries if d == majority)
            yield _issue(
                spec,
                table,
                col.line,
                key=[table.name, col.name],
                object=f"{table.name}.{col.name}",
                evidence=f"{table.name}.{col.name} DEFAULT '{default}' while "
                f"{', '.join(others)} default to '{majority}'",
            )


def _default_rank(
    value: str, group: list[tuple[str, tuple[str, ...]]], counts: Counter[str]
) -> tuple[int, int, str]:
    # Most common first; on a tie, the value listed earliest in the CHECK
    # lists (usually the initial state), then alphabetically.
    position = min(
        (vals.index(value) for _, vals in group if value in vals), default=99
    )
    return (-counts[value], position, value)


NAME_COLUMNS = frozenset({"name", "slug", "title", "handle", "code"})
TENANT_COLUMNS = frozenset(
    {
        "user_id",
        "owner_id",
        "tenant_id",
        "workspace_id",
        "team_id",
        "org_id",
        "organization_id",
        "organisation_id",
        "account_id",
        "customer_id",
        "company_id",
    }
)


def tenant_columns(schema: Schema, table: Table) -> list[str]:
    """Return the columns that scope ``table`` to a tenant (owner FKs)."""
    owners = owner_tables(schema) & OWNER_TABLES
    result = []
    for col in table.columns:
        low = col.name.lower()
        if low in TENANT_COLUMNS:
            result.append(col.name)
            continue
        for fk in table.foreign_keys:
            if (
                len(fk.columns) == 1
                and fk.columns[0].lower() == low
                and fk.ref_table.lower() in owners
            ):
                result.append(col.name)
                break
    return result


@implements("unique-missing-natural-key", requires=SCHEMA)
def unique_missing_natural_key(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report owner-scoped name/slug/title columns with no UNIQUE over them."""
    schema = _schema(facts)
    if schema is None:
        return
    for table in schema.tables:
        owners = tenant_columns(schema, table)
        if not owners:
            continue
        uniques = [i for i in indexes_of(table) if i.unique]
        for col in table.columns:
            if col.name.lower() not in NAME_COLUMNS:
                continue
            if any(col.name.lower() in i.column_names for i in uniques):
                continue
            owner = owners[0]
            index = f"uq_{table.name}_{owner}_{col.name}"
            yield _issue(
                spec,
                table,
                col.line,
                key=[table.name, col.name],
                object=f"{table.name}.{col.name}",
                evidence=f"{table.name}.{col.name} is scoped by {owner} but no UNIQUE "
                f"index covers ({owner}, {col.name})",
                fix_sql=f"CREATE UNIQUE INDEX {quote(index, schema)} ON "
                f"{quote(table.name, schema)} ({quote(owner, schema)}, "
                f"{quote(col.name, schema)});",
            )


_BLOB_WORDS = frozenset(
    {
        "json",
        "config",
        "metadata",
        "meta",
        "results",
        "settings",
        "payload",
        "params",
        "options",
        "attributes",
        "extra",
        "details",
        "data",
        "properties",
        "context",
        "tags",
    }
)


def is_json_blob(column: Column) -> bool:
    """Return True for JSON columns and text columns named or marked as JSON."""
    t = column.type.upper()
    if t.startswith("JSON") or (column.comment or "").lower() == "json":
        return True
    if not is_text_type(column) or re.search(r"\(\s*\d{1,3}\s*\)", t):
        return False  # short VARCHAR(n) columns are not blobs
    parts = words(column.name)
    return bool(parts) and (parts[-1] in _BLOB_WORDS or "json" in parts)


@implements("json-blob-columns", requires=SCHEMA)
def json_blob_columns(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report, once per table, the JSON/TEXT blob columns it holds."""
    schema = _schema(facts)
    if schema is None:
        return
    for table in schema.tables:
        blobs = [c.name for c in table.columns if is_json_blob(c)]
        if not blobs:
            continue
        yield _issue(
            spec,
            table,
            key=[table.name],
            object=table.name,
            title=f"Table stores structured data in {len(blobs)} JSON/TEXT blob "
            f"column{'s' if len(blobs) != 1 else ''}",
            evidence=f"{table.name}: {len(blobs)} blob column"
            f"{'s' if len(blobs) != 1 else ''} ({_cols(blobs)})",
        )


_NOT_COPIES = frozenset(
    {"id", "created_at", "updated_at", "created", "updated", "status"}
)


@implements("redundant-denormalized-column", requires=SCHEMA)
def redundant_denormalized_column(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report ``<ref>_<attr>`` columns copying ``attr`` of the FK's parent."""
    schema = _schema(facts)
    if schema is None:
        return
    for table in schema.tables:
        for fk in distinct_fks(table):
            if len(fk.columns) != 1:
                continue
            match = re.fullmatch(r"(.+?)_?id", fk.columns[0], re.I)
            parent = schema.table(fk.ref_table)
            if match is None or parent is None or parent is table:
                continue
            stem = match.group(1).rstrip("_").lower()
            for col in table.columns:
                low = col.name.lower()
                if not low.startswith(stem + "_") or low == fk.columns[0].lower():
                    continue
                attr = low[len(stem) + 1 :]
                if attr in _NOT_COPIES or parent.column(attr) is None:
                    continue
                yield _issue(
                    spec,
                    table,
                    col.line,
                    key=[table.name, col.name],
                    object=f"{table.name}.{col.name}",
                    evidence=f"{table.name}.{col.name} copies {parent.name}.{attr}, "
                    f"reachable through {table.name}.{fk.columns[0]}",
                )


_EVENT_TIME = re.compile(
    r"(_at|_on|_time|_ts)$|^(timestamp|created|updated|modified|deleted|last_\w+|"
    r"started|finished|completed|expires|expiry|seen)$",
    re.I,
)


@implements("timestamp-without-time-zone", requires=SCHEMA)
def timestamp_without_time_zone(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report PostgreSQL ``timestamp`` (without time zone) event-time columns."""
    schema = _schema(facts)
    if schema is None or engine(schema) != "postgres":
        return
    for table in schema.tables:
        for col in table.columns:
            t = " ".join(col.type.upper().split())
            if not t.startswith("TIMESTAMP") or "TZ" in t or "WITH TIME ZONE" in t:
                continue
            if not _EVENT_TIME.search(col.name):
                continue
            c = quote(col.name, schema)
            yield _issue(
                spec,
                table,
                col.line,
                key=[table.name, col.name],
                object=f"{table.name}.{col.name}",
                evidence=f"{table.name}.{col.name} {col.type}",
                fix_sql=f"ALTER TABLE {quote(table.name, schema)} ALTER COLUMN {c} "
                f"TYPE timestamptz USING {c} AT TIME ZONE 'UTC';",
            )


_SECRET_SAFE = frozenset(
    {
        "hash",
        "hashed",
        "digest",
        "salt",
        "encrypted",
        "enc",
        "cipher",
        "ciphertext",
        "bcrypt",
        "argon2",
        "id",
        "type",
        "expires",
        "expiry",
        "at",
        "count",
        "length",
        "len",
        "prefix",
        "hint",
        "last4",
        "set",
        "changed",
        "required",
        "updated",
        "reset",
        "version",
        "name",
        "fingerprint",
        "kind",
        "scope",
        "scopes",
    }
)


def secret_like(name: str) -> bool:
    """Return True when a column name suggests a plaintext secret."""
    parts = words(name)
    if not parts or any(p in _SECRET_SAFE for p in parts):
        return False
    if parts[-1] in ("password", "passwd", "pwd", "secret", "token", "passphrase"):
        return True
    joined = "_".join(parts)
    return bool(re.search(r"(api|private|secret|access|signing)_?key$", joined))


def _secret_samples(schema: Schema) -> dict[tuple[str, str], tuple[int, int]]:
    """Return (table, column) -> (values sampled, of them hashes) from a probe."""
    found: dict[tuple[str, str], tuple[int, int]] = {}
    for entry in schema.fact("secret_samples", ()) or ():
        key = (str(entry["table"]).lower(), str(entry["column"]).lower())
        found[key] = (int(entry["sampled"]), int(entry["hashed"]))
    return found


@implements("secret-stored-plaintext", requires=SCHEMA)
def secret_stored_plaintext(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report text columns that look like secrets and not like hashes.

    A live probe samples a few values of each such column; when every one
    has the shape of a hash the column is silent, and when some do not the
    finding says how many. Django's ``auth_user.password`` is written only
    through its password hashers, so it is silent on a Django-managed schema
    unless sampled values contradict that.
    """
    schema = _schema(facts)
    if schema is None:
        return
    samples = _secret_samples(schema)
    django = django_managed(schema)
    for table in schema.tables:
        for col in table.columns:
            if not secret_like(col.name) or is_numeric_type(col):
                continue
            if "BOOL" in col.type.upper():
                continue
            sampled, hashed = samples.get(
                (table.name.lower(), col.name.lower()), (0, 0)
            )
            if sampled and hashed == sampled:
                continue
            if (
                not sampled
                and django
                and (table.name.lower(), col.name.lower()) == ("auth_user", "password")
            ):
                continue
            evidence = (
                f"{table.name}.{col.name} {col.type or '(untyped)'}: the name "
                f"says secret, not hash or ciphertext"
            )
            if sampled:
                evidence += (
                    f"; {sampled - hashed} of {sampled} sampled values do not look "
                    f"like hashes"
                )
            yield _issue(
                spec,
                table,
                col.line,
                key=[table.name, col.name],
                object=f"{table.name}.{col.name}",
                evidence=evidence,
            )


# --------------------------------------------------------------------------
# isolation dimension


@implements("tenant-column-missing", requires=SCHEMA)
def tenant_column_missing(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report tenant-owned tables more than one join away from a tenant column."""
    schema = _schema(facts)
    if schema is None:
        return
    roots = {t.name.lower() for t in schema.tables if t.name.lower() in OWNER_TABLES}
    if not roots:
        return
    scoped = {
        t.name.lower(): tenant_columns(schema, t)
        for t in schema.tables
        if t.name.lower() not in roots
    }
    direct = {name for name, cols in scoped.items() if cols}
    parents = {
        t.name.lower(): {
            fk.ref_table.lower()
            for fk in t.foreign_keys
            if fk.ref_table.lower() != t.name.lower()
        }
        for t in schema.tables
    }
    # Breadth-first from directly scoped tables along child -> parent edges.
    distance: dict[str, int] = dict.fromkeys(direct, 0)
    frontier = set(direct)
    step = 0
    while frontier:
        step += 1
        nxt = set()
        for name, ps in parents.items():
            if name in distance or name in roots:
                continue
            if ps & frontier:
                distance[name] = step
                nxt.add(name)
        frontier = nxt
    for table in schema.tables:
        d = distance.get(table.name.lower())
        if d is None or d < 2:
            continue
        chain = _chain(table.name.lower(), parents, distance)
        root_table = schema.table(chain[-1]) if chain else None
        tenant = tenant_columns(schema, root_table)[0] if root_table else ""
        fix = ""
        if tenant and root_table is not None:
            col = root_table.column(tenant)
            owner_fk = next(
                (
                    fk
                    for fk in root_table.foreign_keys
                    if fk.columns[0].lower() == tenant.lower()
                ),
                None,
            )
            if col is not None and owner_fk is not None:
                ref_cols = referenced_columns(schema, owner_fk)
                fix = (
                    f"ALTER TABLE {quote(table.name, schema)} ADD COLUMN "
                    f"{quote(tenant, schema)} {col.type or 'INTEGER'} REFERENCES "
                    f"{quote(owner_fk.ref_table, schema)}"
                    f"{' (' + _cols(ref_cols) + ')' if ref_cols else ''};"
                )
        yield _issue(
            spec,
            table,
            key=[table.name],
            object=table.name,
            evidence=f"{table.name} reaches {tenant or 'its tenant'} only through "
            f"{' -> '.join(chain)} ({d} joins)",
            fix_sql=fix,
        )


def _chain(
    start: str, parents: dict[str, set[str]], distance: dict[str, int]
) -> list[str]:
    chain = [start]
    current = start
    while distance.get(current, 0) > 0:
        step = distance[current] - 1
        options = sorted(p for p in parents.get(current, ()) if distance.get(p) == step)
        if not options:
            break
        current = options[0]
        chain.append(current)
    return chain


# --------------------------------------------------------------------------
# performance dimension


def _signature(index: Index) -> tuple[tuple[str, bool, bool], ...]:
    return tuple((c.name.lower(), c.descending, c.expression) for c in index.columns)


def _sig_text(index: Index) -> str:
    return ", ".join(
        c.name.lower() + (" desc" if c.descending else "") for c in index.columns
    )


def _pred(index: Index) -> str:
    return " ".join((index.predicate or "").lower().split())


def covers(index: Index, columns: Iterable[str]) -> bool:
    """Return True when ``index`` leads with exactly ``columns`` (any order)."""
    wanted = {c.lower() for c in columns}
    lead = index.columns[: len(wanted)]
    return (
        index.predicate is None
        and len(lead) == len(wanted)
        and all(not c.expression for c in lead)
        and {c.name.lower() for c in lead} == wanted
    )


@implements("fk-missing-index", requires=SCHEMA)
def fk_missing_index(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report FK column sets no index leads with (silent on MySQL/InnoDB)."""
    schema = _schema(facts)
    if schema is None or engine(schema) == "mysql":
        return
    for table in schema.tables:
        indexes = [i for i in indexes_of(table) if i.valid]
        for fk in distinct_fks(table):
            if any(covers(i, fk.columns) for i in indexes):
                continue
            cols = sorted(c.lower() for c in fk.columns)
            name = f"idx_{table.name}_{'_'.join(fk.columns)}"
            yield _issue(
                spec,
                table,
                fk.line,
                key=[table.name, *cols],
                object=_obj(table, fk.columns),
                evidence=f"{_fk_text(fk)}; no index on {table.name} starts with "
                f"({_cols(fk.columns)})",
                fix_sql=f"CREATE INDEX {quote(name, schema)} ON {quote(table.name, schema)} "
                f"({_cols(quote(c, schema) for c in fk.columns)});",
            )


def _drop_index_sql(schema: Schema, table: Table, index: Index) -> str:
    if index.constraint:
        return ""
    name = quote(index.name, schema)
    if engine(schema) == "mysql":
        return f"DROP INDEX {name} ON {quote(table.name, schema)};"
    return f"DROP INDEX {name};"


def _droppable_first(index: Index) -> tuple[int, str]:
    return (0 if index.constraint is None else 1, index.name.lower())


@implements("index-duplicate", requires=SCHEMA)
def index_duplicate(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report indexes with the same columns, order, predicate and uniqueness."""
    schema = _schema(facts)
    if schema is None:
        return
    for table in schema.tables:
        groups: dict[tuple[object, ...], list[Index]] = {}
        for index in indexes_of(table):
            key = (_signature(index), _pred(index), index.unique)
            groups.setdefault(key, []).append(index)
        for group in groups.values():
            if len(group) < 2:
                continue
            # Keep the constraint's index (or the first name); drop the rest.
            group = sorted(group, key=_droppable_first, reverse=True)
            keep, extras = group[-1], group[:-1]
            names = ", ".join(i.name for i in extras)
            first = extras[0]
            yield _issue(
                spec,
                table,
                first.line,
                key=[
                    table.name,
                    _sig_text(first),
                    _pred(first),
                    "unique" if first.unique else "",
                ],
                object=first.name,
                evidence=f"{names} on {table.name} ({_sig_text(first)}) "
                f"duplicate{'s' if len(extras) == 1 else ''} {keep.name}"
                + (f" ({keep.constraint} constraint)" if keep.constraint else ""),
                fix_sql="\n".join(
                    sql for i in extras if (sql := _drop_index_sql(schema, table, i))
                ),
            )


def _redundant_to(index: Index, other: Index) -> str | None:
    """Return why ``index`` is redundant given ``other``, or None."""
    if index is other or index.unique or _pred(index) != _pred(other):
        return None
    mine = [(c.name.lower(), c.expression) for c in index.columns]
    theirs = [(c.name.lower(), c.expression) for c in other.columns]
    if len(mine) > len(theirs) or theirs[: len(mine)] != mine:
        return None
    if len(mine) == len(theirs):
        if not other.unique:
            return None  # two plain indexes on the same columns: index-duplicate
        kind = f"{other.constraint} constraint" if other.constraint else "unique index"
        return f"repeats the {kind} {other.name}"
    return f"is a left prefix of {other.name} ({_sig_text(other)})"


@implements("index-redundant", requires=SCHEMA)
def index_redundant(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report non-unique indexes covered by a wider or unique index."""
    schema = _schema(facts)
    if schema is None:
        return
    for table in schema.tables:
        indexes = indexes_of(table)
        for index in indexes:
            reasons = [
                (other, why)
                for other in indexes
                if (why := _redundant_to(index, other)) is not None
            ]
            if not reasons:
                continue
            reasons.sort(
                key=lambda r: (
                    r[0].constraint is None,
                    not r[0].unique,
                    len(r[0].columns),
                    r[0].name,
                )
            )
            other, why = reasons[0]
            yield _issue(
                spec,
                table,
                index.line,
                key=[table.name, _sig_text(index), _pred(index)],
                object=index.name,
                evidence=f"{index.name} on {table.name} ({_sig_text(index)}) {why}",
                fix_sql=_drop_index_sql(schema, table, index),
            )
