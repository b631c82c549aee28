"""What one migration statement does, read from its SQL text.

The migration rules need the shape of a statement (an index built with or
without CONCURRENTLY, a column added NOT NULL without a default, a
constraint added NOT VALID), not a full parse tree, so each statement is
read with patterns that work for PostgreSQL, MySQL/MariaDB and SQLite
alike. Names come back unquoted and without their schema.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from audits.engine.sources.ddl_split import split_outside_quotes

IDENT = r'(?:"[^"]+"|`[^`]+`|\[[^\]]+\]|[\w$]+)'
QNAME = rf"{IDENT}(?:\s*\.\s*{IDENT})*"
_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)
_WS = re.compile(r"\s+")


def _sql(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.I | re.S)


# What each statement shape the rules tell apart looks like (one line each).
CREATE_TABLE = _sql(rf"^CREATE\s+(?:OR\s+REPLACE\s+)?(?:(?:GLOBAL|LOCAL)\s+)?(?:TEMP(?:ORARY)?\s+|UNLOGGED\s+)?TABLE\s+(IF\s+NOT\s+EXISTS\s+)?({QNAME})")  # fmt: skip
CREATE_INDEX = _sql(rf"^CREATE\s+(UNIQUE\s+)?(?:FULLTEXT\s+|SPATIAL\s+)?INDEX\s+(CONCURRENTLY\s+)?(IF\s+NOT\s+EXISTS\s+)?(?:({QNAME})\s+)?ON\s+(?:ONLY\s+)?({QNAME})")  # fmt: skip
DROP_INDEX = _sql(rf"^DROP\s+INDEX\s+(CONCURRENTLY\s+)?(IF\s+EXISTS\s+)?({QNAME})(?:\s+ON\s+({QNAME}))?")  # fmt: skip
DROP_TABLE = _sql(r"^DROP\s+TABLE\s+(IF\s+EXISTS\s+)?(.+?)(\s+(?:CASCADE|RESTRICT))?$")
TRUNCATE = _sql(r"^TRUNCATE\s+(?:TABLE\s+)?(?:ONLY\s+)?(.+)$")
ALTER_TABLE = _sql(
    rf"^ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?({QNAME})\s+(.*)$"
)
RENAME_TABLES = _sql(rf"^RENAME\s+TABLE\s+({QNAME})\s+TO\s+({QNAME})")
REINDEX_CONCURRENTLY = _sql(r"^REINDEX\s+.*\bCONCURRENTLY\b")
BEGIN = _sql(
    r"^(?:BEGIN(?:\s+(?:WORK|TRANSACTION))?|START\s+TRANSACTION)\b(?!\s*;?\s*\w)"
)
END = _sql(r"^(COMMIT|END|ROLLBACK)\b(?:\s+(?:WORK|TRANSACTION))?\s*$")
LOCK_TIMEOUT = _sql(r"^SET\s+(?:LOCAL\s+|SESSION\s+|GLOBAL\s+)?(?:@@(?:session\.)?)?(lock_timeout|lock_wait_timeout|innodb_lock_wait_timeout)\b|set_config\s*\(\s*'lock_timeout'")  # fmt: skip
# ALTER DATABASE/ROLE ... SET lock_timeout: every later session of that
# database or role starts with it (not the session running the statement).
SESSION_LOCK_TIMEOUT = _sql(r"^ALTER\s+(DATABASE|ROLE|USER)\s+(\S+)(?:\s+IN\s+DATABASE\s+\S+)?\s+(?:SET\s+lock_timeout\s*(?:=|\bTO\b)\s*(.+?)|RESET\s+(?:lock_timeout|ALL))\s*;?\s*$")  # fmt: skip
# Functions whose value differs row by row: a column added with one as its
# default is filled by rewriting the table.
VOLATILE = _sql(r"\b(random|gen_random_uuid|uuid_generate_v[14]|uuid|clock_timestamp|timeofday|nextval|rand|uuid_short|sys_guid)\s*\(")  # fmt: skip
_GENERATED = _sql(r"\bGENERATED\b|\bAUTO_?INCREMENT\b|\bIDENTITY\b|\bSERIAL\b|\bBIGSERIAL\b|\bSMALLSERIAL\b|\bAS\s*\(")  # fmt: skip
_DEFAULT = _sql(r"\bDEFAULT\s+(.+?)(?=\s+(?:NOT\s+NULL|NULL|CONSTRAINT|CHECK|REFERENCES|UNIQUE|PRIMARY|GENERATED|COLLATE|ON\s+UPDATE|COMMENT|FIRST|AFTER)\b|\s*$)")  # fmt: skip
_NOT_WORDS = frozenset(
    {"CONSTRAINT", "PRIMARY", "UNIQUE", "FOREIGN", "CHECK", "INDEX", "KEY",
     "FULLTEXT", "SPATIAL", "EXCLUDE", "PARTITION"}
)  # fmt: skip


def clean(sql: str) -> str:
    """Return a statement without comments, on one line, without its ``;``."""
    return _WS.sub(" ", _COMMENT.sub(" ", sql)).strip().rstrip(";").strip()


def unquote(name: str) -> str:
    """Return the last part of a qualified name without its quotes."""
    last = re.split(r"\s*\.\s*(?=[\"`\[\w$])", name.strip())[-1]
    return last.strip('"`[]')


def names(text: str) -> list[str]:
    """Return the unquoted names of a comma-separated list."""
    return [unquote(n) for n in split_outside_quotes(text, ",", "'\"`") if n.strip()]


@dataclass(frozen=True)
class Action:
    """One action of ALTER TABLE, read into the parts the rules need."""

    verb: str  # add-column, add-constraint, drop-column, alter-type, set-not-null,
    # drop-not-null, rename-column, rename-table, validate, add-index, other
    text: str
    column: str = ""
    new_name: str = ""
    type: str = ""  # the new type, for add-column and alter-type
    constraint: str = ""  # foreign key, check, unique, primary key, exclude
    name: str = ""  # the constraint's name


def actions(text: str) -> list[Action]:
    """Return the actions of an ALTER TABLE statement's body."""
    return [_action(part.strip()) for part in split_outside_quotes(
        text, ",", "'\"`", nested=True) if part.strip()]  # fmt: skip


_ADD = _sql(rf"^ADD\s+(?:COLUMN\s+)?(?:IF\s+NOT\s+EXISTS\s+)?({IDENT})\s*(.*)$")
_ADD_CONSTRAINT = _sql(rf"^ADD\s+(?:CONSTRAINT\s+({IDENT})\s+)?(FOREIGN\s+KEY|CHECK|UNIQUE|PRIMARY\s+KEY|EXCLUDE)\b")  # fmt: skip
_ADD_INDEX = _sql(r"^ADD\s+(?:UNIQUE\s+|FULLTEXT\s+|SPATIAL\s+)?(?:INDEX|KEY)\b")
_DROP_COLUMN = _sql(rf"^DROP\s+(?:COLUMN\s+)?(?:IF\s+EXISTS\s+)?({IDENT})(?:\s|$)")
_ALTER_TYPE = _sql(rf"^ALTER\s+(?:COLUMN\s+)?({IDENT})\s+(?:SET\s+DATA\s+)?TYPE\s+(.+?)(?:\s+USING\b.*|\s+COLLATE\b.*)?$")  # fmt: skip
_NULLABILITY = _sql(rf"^ALTER\s+(?:COLUMN\s+)?({IDENT})\s+(SET|DROP)\s+NOT\s+NULL$")
_MODIFY = _sql(rf"^MODIFY\s+(?:COLUMN\s+)?({IDENT})\s+(.+)$")
_CHANGE = _sql(rf"^CHANGE\s+(?:COLUMN\s+)?({IDENT})\s+({IDENT})\s+(.+)$")
_RENAME_COLUMN = _sql(rf"^RENAME\s+(?:COLUMN\s+)?({IDENT})\s+TO\s+({IDENT})$")
_RENAME_TABLE = _sql(rf"^RENAME\s+(?:TO\s+|AS\s+)?({QNAME})$")
_VALIDATE = _sql(rf"^VALIDATE\s+CONSTRAINT\s+({IDENT})")
_TYPE_END = _sql(r"\s+(?:NOT\s+NULL|NULL|DEFAULT|CONSTRAINT|CHECK|REFERENCES|UNIQUE|PRIMARY|GENERATED|COLLATE|AUTO_INCREMENT|COMMENT|FIRST|AFTER|ON\s+UPDATE|CHARACTER\s+SET)\b.*$")  # fmt: skip


def column_type(definition: str) -> str:
    """Return the type at the start of a column definition, upper-cased."""
    return _WS.sub(" ", _TYPE_END.sub("", definition)).strip().upper()


def _action(text: str) -> Action:
    if _ADD_INDEX.match(text):
        return Action("add-index", text)
    match = _ADD_CONSTRAINT.match(text)
    if match:
        kind = " ".join(match.group(2).upper().split()).lower()
        return Action(
            "add-constraint", text, constraint=kind, name=unquote(match.group(1) or "")
        )
    match = _ADD.match(text)
    if match and match.group(1).upper() not in _NOT_WORDS:
        rest = match.group(2)
        return Action(
            "add-column", text, column=unquote(match.group(1)), type=column_type(rest)
        )
    for pattern, verb in ((_VALIDATE, "validate"), (_RENAME_COLUMN, "rename-column")):
        match = pattern.match(text)
        if match:
            new = (
                unquote(match.group(2))
                if match.lastindex and match.lastindex > 1
                else ""
            )
            return Action(verb, text, column=unquote(match.group(1)), new_name=new,
                          name=unquote(match.group(1)))  # fmt: skip
    return _alter_action(text)


def _typed(verb: str, text: str, column: str, type_: str, new: str = "") -> Action:
    return Action(verb, text, column=unquote(column), new_name=unquote(new) if new else "",
                  type=column_type(type_))  # fmt: skip


def _alter_action(text: str) -> Action:
    if match := _ALTER_TYPE.match(text):
        return _typed("alter-type", text, match.group(1), match.group(2))
    if match := _NULLABILITY.match(text):
        verb = "set-not-null" if match.group(2).upper() == "SET" else "drop-not-null"
        return Action(verb, text, column=unquote(match.group(1)))
    if match := _MODIFY.match(text):
        return _typed("modify", text, match.group(1), match.group(2))
    if match := _CHANGE.match(text):
        return _typed("modify", text, match.group(1), match.group(3), match.group(2))
    match = _RENAME_TABLE.match(text)
    if match:
        return Action("rename-table", text, new_name=unquote(match.group(1)))
    match = _DROP_COLUMN.match(text)
    if match and match.group(1).upper() not in _NOT_WORDS | {"DEFAULT", "FOREIGN"}:
        return Action("drop-column", text, column=unquote(match.group(1)))
    return Action("other", text)


def timeout_value(text: str) -> str:
    """Return a SET lock_timeout's value, or '' when it sets none (0, DEFAULT)."""
    value = text.strip().strip("'\"").strip()
    if (
        not value
        or value.upper() == "DEFAULT"
        or re.match(r"^0+(\.0*)?\s*[a-z]*$", value, re.I)
    ):
        return ""
    return value


def default_of(definition: str) -> str | None:
    """Return the DEFAULT expression of a column definition, if any."""
    match = _DEFAULT.search(definition)
    return match.group(1).strip() if match else None


def not_null(definition: str) -> bool:
    """Return True when a column definition says NOT NULL (or PRIMARY KEY)."""
    upper = definition.upper()
    return bool(re.search(r"\bNOT\s+NULL\b|\bPRIMARY\s+KEY\b", upper))


def generated(definition: str) -> bool:
    """Return True when the engine fills the column itself (identity, serial...)."""
    return bool(_GENERATED.search(definition))


def option(text: str, name: str) -> str:
    """Return a MySQL ALTER option's value (``ALGORITHM=COPY`` gives COPY)."""
    match = re.search(rf"\b{name}\s*=?\s*(\w+)", text, re.I)
    return match.group(1).upper() if match else ""


_INT = re.compile(
    r"^(INT|INTEGER|INT4|SMALLINT|INT2|MEDIUMINT|SERIAL|SMALLSERIAL|SERIAL4)\b"
)
_SERIAL = re.compile(r"^(SMALLSERIAL|SERIAL|BIGSERIAL|SERIAL[248])\b")


def is_small_int(type_: str, dialect: str) -> bool:
    """Return True for a 32-bit (or smaller) integer type, serial included.

    MySQL's SERIAL is an alias of BIGINT UNSIGNED.
    """
    match = _INT.match(type_.upper())
    if match is None:
        return False
    return not (dialect == "mysql" and match.group(1) == "SERIAL")


def is_serial(type_: str) -> bool:
    """Return True for a PostgreSQL serial pseudo-type."""
    return bool(_SERIAL.match(type_.upper()))
