"""The engine stays in pieces a reader can hold: modules and functions of bounded size."""

from __future__ import annotations

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[2] / "audits" / "engine"
MAX_MODULE_LINES = 800
MAX_FUNCTION_LINES = 80


def engine_files() -> list[Path]:
    """Return the engine's Python files."""
    return sorted(ENGINE.rglob("*.py"))


def test_no_engine_module_is_over_800_lines() -> None:
    long = {
        str(p.relative_to(ENGINE)): n
        for p in engine_files()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_no_engine_function_is_over_80_lines() -> None:
    long = {}
    for path in engine_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                if size > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(ENGINE)}:{node.lineno} {node.name}"] = size
    assert long == {}
