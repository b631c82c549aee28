"""The engine's imports point downward only.

Layers, lowest first (a module may import its own layer and those below):

0. vocabulary, levels, schema, issues: plain data and words;
1. sources: targets into facts, with the guards that confine them (confine:
   file reads; guard: network addresses and connection options);
2. checks: facts into issues (topic modules, their shared helpers);
3. registry, scan, grading: collect and run the checks, grade the result;
4. render, reports, cli, scan_command: what people and programs read.

Every import counts, including those inside functions and under
``TYPE_CHECKING``: a lazy import upward is still an arrow the wrong way.
"""

from __future__ import annotations

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[2] / "audits" / "engine"
PACKAGE = "audits.engine"

LAYERS: dict[str, int] = {
    "vocabulary": 0,
    "levels": 0,
    "schema": 0,
    "issues": 0,
    "sources": 1,
    "confine": 1,
    "guard": 1,
    "checks": 2,
    "registry": 3,
    "scan": 3,
    "config": 3,
    "grading": 3,
    "render": 4,
    "reports": 4,
    "cli": 4,
    "scan_command": 4,
    "migration_command": 4,
}


def module_name(path: Path) -> str:
    """Return the dotted name of an engine file."""
    parts = list(path.relative_to(ENGINE.parent.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int | None:
    """Return the layer of an engine module, None for the package itself."""
    rest = module.removeprefix(PACKAGE).lstrip(".")
    if not rest:
        return None
    top = rest.split(".", 1)[0]
    if top not in LAYERS:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS")
    return LAYERS[top]


def is_module(dotted: str) -> bool:
    """Return True when ``dotted`` names an engine module or package."""
    path = ENGINE.parent.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imported_modules(path: Path) -> set[str]:
    """Return every engine module ``path`` imports, at any depth in the file."""
    return imports_in(
        path.read_text(encoding="utf-8"),
        module_name(path),
        is_package=path.name == "__init__.py",
    )


def imports_in(source: str, name: str, *, is_package: bool = False) -> set[str]:
    """Return every engine module the source of module ``name`` imports."""
    package = name if is_package else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if is_module(candidate) else base)
    return {m for m in found if m == PACKAGE or m.startswith(PACKAGE + ".")}


def upward(name: str, targets: set[str]) -> list[str]:
    """Return ``name -> target`` for each target in a layer above ``name``'s."""
    own = layer_of(name)
    if own is None:
        return []
    wrong = []
    for target in sorted(targets):
        theirs = layer_of(target)
        if theirs is not None and theirs > own:
            wrong.append(f"{name} (layer {own}) -> {target} (layer {theirs})")
    return wrong


def upward_imports() -> list[str]:
    """Return ``module -> imported`` for each import from a lower layer upward."""
    wrong = []
    for path in sorted(ENGINE.rglob("*.py")):
        wrong += upward(module_name(path), imported_modules(path))
    return wrong


def test_no_engine_module_imports_a_higher_layer() -> None:
    assert upward_imports() == []


def test_the_layer_reader_catches_lazy_and_relative_upward_imports() -> None:
    # The arrows that were once there: a probe importing a check inside a
    # function, and checks importing the registry that imports them.
    lazy = "def secret_columns():\n    from audits.engine.checks.secrets import x\n"
    found = imports_in(lazy, "audits.engine.sources._probe")
    assert upward("audits.engine.sources._probe", found) == [
        "audits.engine.sources._probe (layer 1) -> "
        "audits.engine.checks.secrets (layer 2)"
    ]
    relative = "from ..registry import Facts\n"
    found = imports_in(relative, "audits.engine.checks.enums")
    assert found == {"audits.engine.registry"}
    assert upward("audits.engine.checks.enums", found)
    package = "from . import checks\n"
    found = imports_in(package, "audits.engine.registry")
    assert found == {"audits.engine.checks"}
    assert upward("audits.engine.registry", found) == []
