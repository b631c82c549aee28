"""Read a schema from DDL: .sql files, migrations, Markdown and Python strings.

Statements are applied in order to a mutable model, so the result is the
schema the code ends up with: ``CREATE TABLE IF NOT EXISTS`` keeps the first
definition, ``ALTER TABLE`` adds, renames and drops, and the SQLite rebuild
pattern (create ``x_new``, copy, drop ``x``, rename ``x_new`` to ``x``)
leaves one table ``x`` with the new definition. Nothing here raises for bad
content: a statement or file that cannot be read becomes a note
(``schema.sql:14: could not parse CREATE TABLE users: ...``) and the rest is
still read.

Every UNIQUE and PRIMARY KEY constraint also becomes an :class:`Index` with
``constraint`` set, because engines back them with indexes; their names
follow each engine's own naming (``sqlite_autoindex_t_1``, ``t_pkey``,
``PRIMARY``) so DDL and live schemas line up.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from pathlib import Path

from audits.engine import confine
from audits.engine.schema import Schema
from audits.engine.sources import SourceError
from audits.engine.sources.ddl_loader import _Loader
from audits.engine.sources.ddl_model import _Model, guess_dialect, normalise_dialect
from audits.engine.sources.ddl_split import (
    Snippet,
    looks_like_ddl,
    markdown_sql_blocks,
    python_sql_strings,
    split_statements,
)
from audits.engine.vocabulary import skipped_dir

MAX_FILE_BYTES = 8 * 1024 * 1024


def _apply_snippets(model: _Model, file: str, snippets: Iterable[Snippet]) -> None:
    loader = _Loader(model, file=file)
    for snippet in snippets:
        for statement in split_statements(snippet.text):
            loader.apply(statement.text, snippet.line + statement.line - 1)


def load_text(
    text: str, *, dialect: str | None = None, file: str = "", plain: bool = True
) -> tuple[Schema, list[str]]:
    """Return the schema that applying the DDL ``text`` in order produces.

    ``dialect`` is any dialect sqlglot reads; guessed from the text when
    None. Problems with statements come back as notes, never as exceptions.
    ``plain=False`` reads every CREATE TABLE with sqlglot, for comparing
    the plain reader with it.
    """
    name = normalise_dialect(dialect) if dialect else guess_dialect(text)
    model = _Model(dialect=name, plain=plain)
    _apply_snippets(model, file, [Snippet(text, 1)])
    return model.freeze(file or "text"), model.notes


_NUMBER = re.compile(r"(\d+)")


def natural_key(path: Path) -> tuple[tuple[int, str, int], ...]:
    """Return a sort key that puts ``0002_x.sql`` after ``0001_y.sql``, V10 after V9."""
    key: list[tuple[int, str, int]] = []
    for part in path.parts:
        for chunk in _NUMBER.split(part.lower()):
            if chunk.isdigit():
                key.append((1, "", int(chunk)))
            elif chunk:
                key.append((0, chunk, 0))
        key.append((-1, "", 0))
    return tuple(key)


def _wanted(rel: Path, exclude: tuple[str, ...], include_python: bool) -> bool:
    if any(skipped_dir(part) for part in rel.parts[:-1]):
        return False
    text = rel.as_posix()
    for pattern in exclude:
        if fnmatch.fnmatch(text, pattern) or fnmatch.fnmatch(rel.name, pattern):
            return False
        if any(fnmatch.fnmatch(p, pattern) for p in rel.parts[:-1]):
            return False
    suffix = rel.suffix.lower()
    return suffix in (".sql", ".ddl", ".md", ".markdown") or (
        include_python and suffix == ".py"
    )


def _files(path: Path, exclude: tuple[str, ...], include_python: bool) -> list[Path]:
    if path.is_file():
        return [path]
    found = []
    for candidate in path.rglob("*"):
        rel = candidate.relative_to(path)
        if candidate.is_file() and _wanted(rel, exclude, include_python):
            found.append(candidate)
    # Schema files before Python: an application applies its schema file,
    # then the ALTERs its start-up code runs on top of it.
    return sorted(
        found,
        key=lambda p: (p.suffix == ".py", natural_key(p.relative_to(path))),
    )


def _read_text(path: Path, label: str, notes: list[str]) -> str | None:
    try:
        real = confine.check(path)
        size = real.stat().st_size
        if size > MAX_FILE_BYTES:
            notes.append(f"{label}: skipped, {size} bytes is larger than the limit")
            return None
        data = real.read_bytes()
    except OSError as exc:
        notes.append(f"{label}: could not read the file: {exc.strerror or exc}")
        return None
    if b"\x00" in data[:8192]:
        notes.append(f"{label}: skipped, the file is binary, not SQL text")
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        notes.append(
            f"{label}: not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start}); read as Latin-1"
        )
        return data.decode("latin-1")


def _snippets(path: Path, text: str, label: str, notes: list[str]) -> list[Snippet]:
    suffix = path.suffix.lower()
    if suffix in (".md", ".markdown"):
        return markdown_sql_blocks(text)
    if suffix == ".py":
        if not looks_like_ddl(text):
            return []
        try:
            return python_sql_strings(text)
        except (RecursionError, MemoryError):
            notes.append(f"{label}: skipped, nested too deeply to analyse")
            return []
        except (SyntaxError, ValueError) as exc:
            line = getattr(exc, "lineno", None)
            where = f"{label}:{line}" if line else label
            notes.append(f"{where}: could not parse the Python file: {exc}")
            return []
    return [Snippet(text, 1)]


def load_path(
    path: Path | str,
    *,
    dialect: str | None = None,
    include_python: bool = False,
    exclude: Iterable[str] = (),
) -> tuple[Schema, list[str]]:
    """Return the schema the DDL under ``path`` produces, and notes.

    ``path`` is a file or a folder (walked in natural order, so migrations
    apply in sequence). Markdown contributes its SQL code blocks; Python
    files (when ``include_python``) their DDL string literals, in source
    order, after the schema files. Unreadable files and statements become
    notes.
    """
    root = Path(path)
    if not root.exists():
        raise SourceError(f"{root}: no such file or folder")
    exclude_t = tuple(exclude)
    notes: list[str] = []
    sources: list[tuple[str, list[Snippet]]] = []
    base = root if root.is_dir() else root.parent
    for file in _files(root, exclude_t, include_python):
        label = file.relative_to(base).as_posix()
        text = _read_text(file, label, notes)
        if text is None:
            continue
        snippets = _snippets(file, text, label, notes)
        if snippets:
            sources.append((label, snippets))
    name = (
        normalise_dialect(dialect)
        if dialect
        else guess_dialect("\n".join(s.text for _, snips in sources for s in snips))
    )
    model = _Model(dialect=name, notes=notes)
    for label, snippets in sources:
        _apply_snippets(model, label, snippets)
    return model.freeze(str(root)), model.notes
