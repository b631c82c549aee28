"""Per-file and per-project state the walker fills while reading the code."""

from __future__ import annotations

import ast

from audits.engine.sources.code_sql import looks_like_sql

from . import facts
from .patterns import _KEYWORD_PATTERNS, _WORD, _may_hold_keyword


class _Module:
    """Per-file state: constants, imports and the functions being built."""

    def __init__(self, rel: str, module: str, tree: ast.Module, lines: list[str]):
        self.rel = rel
        self.module = module
        self.tree = tree
        self.lines = lines
        self.is_test = _is_test_path(rel)
        self.constants: dict[str, ast.expr] = {}
        self.imports: list[ast.Import | ast.ImportFrom] = []
        # local name -> the dotted name it stands for (imports, own functions
        # and classes), so a call names its target without guessing
        self.names: dict[str, str] = {}
        self.package = (
            module if rel.endswith("__init__.py") else module.rpartition(".")[0]
        )
        for top in tree.body:
            if isinstance(top, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                self.names[top.name] = f"{module}.{top.name}" if module else top.name
        # id of a ``.join`` call -> whether it joins placeholders; the tree
        # outlives the walk of the file, so the ids stay unique meanwhile.
        self.placeholder_joins: dict[int, bool] = {}
        # id of an assignment -> whether it adds to what it assigns (loops nest)
        self.accumulating: dict[int, bool] = {}
        # Module and class level only: constants live there, and walking
        # every function body twice would double the cost of a scan.
        pending: list[ast.stmt] = list(tree.body)
        while pending:
            node = pending.pop()
            if isinstance(node, ast.Import | ast.ImportFrom):
                self.imports.append(node)
                for name, full in import_names(node, self.package).items():
                    self.names.setdefault(name, full)
            elif isinstance(node, ast.ClassDef):
                pending.extend(node.body)
            elif isinstance(node, ast.If | ast.Try):
                pending.extend(node.body + node.orelse)
            elif isinstance(node, ast.Assign) and isinstance(
                node.value, _CONSTANT_NODES
            ):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        self.constants.setdefault(target.id, node.value)
            elif (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(node.value, ast.Constant)
            ):
                self.constants.setdefault(node.target.id, node.value)


def import_names(node: ast.Import | ast.ImportFrom, package: str) -> dict[str, str]:
    """Return local name -> dotted name for one import statement."""
    out: dict[str, str] = {}
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.asname:
                out[alias.asname] = alias.name
            else:
                head = alias.name.split(".")[0]
                out[head] = head
        return out
    base = node.module or ""
    if node.level:
        parts = package.split(".") if package else []
        keep = len(parts) - (node.level - 1)
        prefix = ".".join(parts[: max(keep, 0)])
        base = ".".join(p for p in (prefix, base) if p)
    for alias in node.names:
        if alias.name != "*":
            full = f"{base}.{alias.name}" if base else alias.name
            out[alias.asname or alias.name] = full
    return out


_CONSTANT_NODES = (
    ast.Constant,
    ast.Tuple,
    ast.List,
    ast.Set,
    ast.Dict,
    ast.JoinedStr,
    ast.BinOp,
)


def _is_test_path(rel: str) -> bool:
    parts = rel.split("/")
    name = parts[-1]
    return (
        name.startswith("test_")
        or name.endswith("_test.py")
        or name == "conftest.py"
        or any(p in ("tests", "test") for p in parts[:-1])
    )


class _Collector:
    """Project-wide accumulators filled while walking each file."""

    def __init__(self) -> None:
        self.functions: list[facts.FunctionInfo] = []
        self.sql: list[facts.SqlUse] = []
        self.pending: list[
            tuple[facts.SqlUse, str, int, int | None, list[ast.expr]]
        ] = []
        self.connects: list[facts.ConnectSite] = []
        self.models: list[facts.OrmModel] = []
        self.filters: list[facts.OrmFilter] = []
        self.orm_writes: list[facts.OrmWrite] = []
        self.uses: list[facts.CodeUse] = []
        self.refs: dict[str, set[str]] = {}
        self.keywords: set[str] = set()
        self.imports: set[str] = set()
        # qualname -> [(param name, pragma name, value)]
        self.param_pragmas: dict[str, list[tuple[str, str, str]]] = {}
        self.instances: dict[str, str] = {}  # variable -> project class called
        self.class_bases: dict[str, tuple[str, ...]] = {}
        self.attr_types: dict[str, str] = {}
        self.conn_args: list[tuple[str, str, int, str, int]] = []
        # The name of every function the project defines (see
        # loader._defined_names), or None when not known: a call named
        # otherwise reaches no project function.
        self.defined_names: frozenset[str] | None = None
        # string constant -> (keyword kinds, words): the same strings recur
        self.constant_facts: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}


def _constant_facts(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return the keyword kinds a string constant shows and the words it names."""
    sql = looks_like_sql(text)
    kinds = (
        tuple(
            kind
            for kind, pattern in _KEYWORD_PATTERNS.items()
            if (sql or kind != "maintenance") and pattern.search(text)
        )
        if _may_hold_keyword(text)
        else ()
    )
    words = (
        tuple(dict.fromkeys(_WORD.findall(text))) if not sql and len(text) < 400 else ()
    )
    return kinds, words
