"""Load a folder of Python code into ``CodeFacts``: parse, walk, settle."""

from __future__ import annotations

import ast
import gc
import re
import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from audits.engine import confine

from .context import _Collector, _is_test_path, _Module
from .facts import CodeFacts, ConnectSite, FileInfo, FunctionInfo, SqlUse
from .files import (
    _CONFIG_FILES,
    _CONFIG_NAMES,
    _decode,
    _iter_files,
    _line_endings,
    _module_name,
)
from .orm import inherit_columns
from .patterns import _KEYWORD_PATTERNS
from .walker import FunctionWalker


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Run the block with the cyclic garbage collector triggered less often.

    A scan allocates hundreds of thousands of syntax nodes and facts that
    live until it ends; with the default threshold the collector walks them
    again and again, a tenth of the scan's time, finding almost nothing. The
    checks, which read those facts and allocate issues, run under it too.
    """
    before = gc.get_threshold()
    if before[0]:  # a threshold of 0 means automatic collection is off: keep it so
        gc.set_threshold(max(before[0], 100_000), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def load_code(root: Path, *, exclude: Iterable[str] = ()) -> CodeFacts:
    """Walk ``root`` and return the code facts of every Python file in it.

    Files that cannot be read or parsed are skipped with a note; the rest
    are still read. ``exclude`` holds glob patterns of relative paths.
    """
    with fewer_collections():
        return _load_code(Path(root), tuple(exclude))


def _load_code(root: Path, exclude: tuple[str, ...]) -> CodeFacts:
    col = _Collector()
    files: list[FileInfo] = []
    others: list[FileInfo] = []
    notes: list[str] = []
    migrations_dir = False
    found = list(_iter_files(root, exclude))
    sources = _read_python(found)
    col.defined_names = _defined_names(sources.values())
    for path, rel in found:
        suffix = path.suffix.lower()
        if suffix == ".py" and (
            "/migrations/" in f"/{rel}" or "/versions/" in f"/{rel}"
        ):
            migrations_dir = True
        if suffix in (".sql",) or suffix in _CONFIG_FILES or path.name in _CONFIG_NAMES:
            other = _read_other_file(path, rel, col)
            if other is not None:
                others.append(other)
            continue
        if suffix != ".py":
            continue
        marks = _marks(col, files)
        try:
            parsed = _parse_python(sources.pop(path), rel, notes)
            if parsed is None:
                continue
            data, text, tree = parsed
            crlf, lf = _line_endings(data)
            lines = text.splitlines()
            files.append(FileInfo(rel, crlf, lf, len(lines), _is_test_path(rel)))
            mod = _Module(rel, _module_name(rel), tree, lines)
            _note_imports(mod, col)
            FunctionWalker(mod, col, "<module>", None).run()
        except (RecursionError, MemoryError):
            # Nesting deeper than the parser or the walk can follow: skip the
            # file, keep what the others said.
            _rollback(col, files, marks)
            notes.append(f"{rel}: skipped, nested too deeply to analyse")
    _settle(col)
    if migrations_dir or {"alembic", "yoyo", "django"} & col.imports:
        col.keywords.add("migrations")
    return CodeFacts(
        root=str(root),
        files=tuple(files),
        functions=tuple(col.functions),
        sql=tuple(col.sql),
        connects=tuple(_with_pragmas(col)),
        models=tuple(inherit_columns(col.models)),
        filters=tuple(col.filters),
        orm_writes=tuple(col.orm_writes),
        uses=tuple(col.uses),
        references=tuple((k, tuple(sorted(v))) for k, v in sorted(col.refs.items())),
        keywords=frozenset(col.keywords),
        imports=frozenset(col.imports),
        notes=tuple(notes),
        other_files=tuple(others),
        class_bases=tuple(sorted(col.class_bases.items())),
        attr_types=tuple(sorted(col.attr_types.items())),
    )


# What a file that fails half-way may have added, to take back out.
_ROLLBACK_LISTS = (
    "functions",
    "sql",
    "pending",
    "connects",
    "models",
    "filters",
    "orm_writes",
    "uses",
    "conn_args",
)


def _marks(col: _Collector, files: list[FileInfo]) -> dict[str, int]:
    marks = {name: len(getattr(col, name)) for name in _ROLLBACK_LISTS}
    marks["<files>"] = len(files)
    return marks


def _rollback(col: _Collector, files: list[FileInfo], marks: dict[str, int]) -> None:
    """Drop what a file that could not be read to the end added to the facts."""
    for name, size in marks.items():
        if name == "<files>":
            del files[size:]
        else:
            del getattr(col, name)[size:]


def _read_other_file(path: Path, rel: str, col: _Collector) -> FileInfo | None:
    """Return a SQL or config file's line endings; note its keywords."""
    try:
        data = confine.read_bytes(path)[:1_000_000]
    except OSError:
        return None
    crlf, lf = _line_endings(data)
    if path.suffix.lower() != ".sql":
        text = data.decode("utf-8", "replace")
        for kind, pattern in _KEYWORD_PATTERNS.items():
            if pattern.search(text):
                col.keywords.add(kind)
    return FileInfo(rel, crlf, lf, data.count(b"\n"))


# A Python file as read: its bytes, then its text or why it has none.
_Read = tuple[bytes, str | None, str]


def _read_python(found: Iterable[tuple[Path, str]]) -> dict[Path, _Read | OSError]:
    """Return each Python file's bytes and text, or the error reading it gave."""
    out: dict[Path, _Read | OSError] = {}
    for path, rel in found:
        if path.suffix.lower() == ".py":
            try:
                data = confine.read_bytes(path)
            except OSError as exc:
                out[path] = exc
                continue
            text, problem = _decode(data, rel)
            out[path] = (data, text, problem)
    return out


# ``def name`` or ``async def name``, a line continuation allowed between.
# No word boundary before ``def``: a pattern that starts with a literal is
# searched for much faster, and ``undef x`` adding ``x`` only costs time.
_DEF_NAME = re.compile(r"def[\s\\]+(\w+)")


def _defined_names(sources: Iterable[_Read | OSError]) -> frozenset[str]:
    """Return every name a ``def`` in the Python files gives, read as plain text.

    Read before the walk so that a call named like no project function skips
    the facts only a call into the project needs. Text in strings and
    comments counts too: more names only cost time. Identifiers are
    normalised as Python's parser does (NFKC).
    """
    names: set[str] = set()
    for read in sources:
        if isinstance(read, OSError) or read[1] is None:
            continue
        for name in _DEF_NAME.findall(read[1]):
            names.add(name if name.isascii() else unicodedata.normalize("NFKC", name))
    return frozenset(names)


def _parse_python(
    read: _Read | OSError, rel: str, notes: list[str]
) -> tuple[bytes, str, ast.Module] | None:
    """Return a Python file's bytes, text and tree, or None with a note why not."""
    if isinstance(read, OSError):
        notes.append(f"{rel}: skipped, cannot read: {read.strerror or read}")
        return None
    data, decoded, problem = read
    if decoded is None:
        notes.append(problem)
        return None
    try:
        tree = _parse(decoded, rel)
    except SyntaxError as exc:
        notes.append(f"{rel}: skipped, syntax error at line {exc.lineno}: {exc.msg}")
        return None
    except ValueError as exc:
        notes.append(f"{rel}: skipped, cannot parse: {exc}")
        return None
    return data, decoded, tree


# Python 3.14 accepts ``except A, B:`` without parentheses (PEP 758); the
# scanner's own Python may not, so such a clause is read as ``except (A, B):``.
_BARE_EXCEPT_TUPLE = re.compile(
    r"^(\s*except\*?\s+)(?!\()([\w.]+(?:\s*,\s*[\w.]+)+)(\s*:)", re.M
)


def _parse(text: str, rel: str) -> ast.Module:
    """Return the syntax tree of a file, reading newer except clauses too."""
    try:
        return ast.parse(text, filename=rel)
    except SyntaxError:
        patched, count = _BARE_EXCEPT_TUPLE.subn(r"\1(\2)\3", text)
        if not count:
            raise
        return ast.parse(patched, filename=rel)


def _note_imports(mod: _Module, col: _Collector) -> None:
    """Record the modules a file imports and the names it imports as others."""
    for node in mod.imports:
        if isinstance(node, ast.Import):
            col.imports.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            col.imports.add(node.module.split(".")[0])
            if not mod.is_test:
                # Importing under another name hides later calls by name.
                for alias in (a for a in node.names if a.asname):
                    col.refs.setdefault(alias.name, set()).add(f"<import:{mod.module}>")


def _settle(col: _Collector) -> None:
    """Resolve what needs every function known: connection helpers, wrappers."""
    by_name: dict[str, list[FunctionInfo]] = {}
    for f in col.functions:
        by_name.setdefault(f.name, []).append(f)
    # Functions that hand out connections, directly or through another one.
    producers = {
        f.name for f in col.functions if f.returns_connection or f.yields_connection
    }
    # Follow ``return make_conn()`` back from each producer once, rather than
    # rescanning every function for each step of a chain of helpers.
    returning: dict[str, list[str]] = {}
    for f in col.functions:
        if f.returns_call:
            returning.setdefault(f.returns_call, []).append(f.name)
    todo = list(producers)
    while todo:
        for caller in returning.get(todo.pop(), ()):
            if caller not in producers:
                producers.add(caller)
                todo.append(caller)
    settled: list[FunctionInfo] = []
    for f in col.functions:
        extra = tuple(cid for cid, callee in f.helper_conns if callee in producers)
        if extra:
            f = replace(f, local_conns=f.local_conns + extra)
            if f.returns_call in producers:
                f = replace(f, returns_connection=True)
        settled.append(f)
    col.functions[:] = settled
    opens = {f.qualname for f in col.functions if f.local_conns}
    for use, dotted, arg_index, _, _ in col.pending:
        name = dotted.split(".")[-1]
        candidates = [f for f in by_name.get(name, []) if f.sql_param is not None]
        if candidates:
            wrapper = candidates[0]
            assert wrapper.sql_param is not None
            offset = 1 if wrapper.params[:1] in (("self",), ("cls",)) else 0
            if wrapper.sql_param - offset != arg_index:
                continue
            conn = (
                f"own:{use.line}:{name}"
                if wrapper.qualname in opens
                else f"wrapper:{wrapper.qualname}"
            )
            col.sql.append(replace(use, conn=conn, via=wrapper.qualname))
        elif re.search(r"(execute|fetch|query|select|run_sql|sql)", name, re.I):
            col.sql.append(replace(use, conn="unknown", via=dotted))
    # ``db.execute(sql)`` where ``db`` is an instance of a project class
    # whose ``execute`` wraps the driver: a wrapper call, not DB-API.
    for i, use in enumerate(col.sql):
        base = use.receiver.split(".")[0]
        cls = col.instances.get(base, "")
        if use.via or use.conn.startswith("local:") or (base and not cls):
            continue
        # ``execute(sql)`` by plain name reaches a module-level wrapper.
        methods = [
            f
            for f in by_name.get(use.method, [])
            if f.class_name == cls and f.sql_param is not None
        ]
        if methods:
            wrapper = methods[0]
            conn = (
                f"own:{use.line}:{use.method}"
                if wrapper.qualname in opens
                else f"wrapper:{wrapper.qualname}"
            )
            col.sql[i] = replace(use, conn=conn, via=wrapper.qualname)


def _with_pragmas(col: _Collector) -> list[ConnectSite]:
    """Attach to each connection site the PRAGMAs run on that connection."""
    by_function: dict[str, list[SqlUse]] = {}
    for use in col.sql:
        if use.sql.kind == "pragma":
            by_function.setdefault(use.function, []).append(use)
    helper_pragmas = col.param_pragmas
    # function -> callee names that got a connection as an argument
    passed: dict[str, set[str]] = {}
    for qual, dotted, _line, _conn, kind in col.conn_args:
        if kind == -1:
            passed.setdefault(qual, set()).add(dotted.split(".")[-1])
    helper_by_name: dict[str, list[tuple[str, str]]] = {}
    for qual, items in helper_pragmas.items():
        helper_by_name.setdefault(qual.split(".")[-1], []).extend(
            (n, v) for _, n, v in items
        )
    out: list[ConnectSite] = []
    for site in col.connects:
        pragmas: list[tuple[str, str]] = []
        for use in by_function.get(site.function, []):
            base = use.receiver.split(".")[0]
            if (
                not site.name
                or base == site.name
                or use.receiver == site.name
                or not use.receiver
            ):
                assert use.sql.pragma is not None
                pragmas.append(use.sql.pragma)
        for callee in passed.get(site.function, ()):
            pragmas.extend(helper_by_name.get(callee, ()))
        out.append(replace(site, pragmas=tuple(dict.fromkeys(pragmas))))
    return out
