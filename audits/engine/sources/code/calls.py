"""Resolve a call site to the project function it most likely reaches.

Calls are matched by name, as nothing is imported or executed: a name only
one function has is that function; otherwise a ``self.``/``cls.`` call goes
to the caller's class, a bare call to the one function of that name in the
caller's file, and failing both to the one function of that name outside
the tests. Anything less sure resolves to nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .facts import CallSite, FunctionInfo

# For one short name: the first function of each class, the functions of
# each file, and those outside tests.
Candidates = tuple[
    "dict[str, FunctionInfo]", "dict[str, list[FunctionInfo]]", "list[FunctionInfo]"
]


def candidates_by_name(
    by_name: dict[str, list[FunctionInfo]],
) -> dict[str, Candidates]:
    """Return, per short name shared by several functions, its candidates.

    Indexed once, so resolving a call to a common name such as ``get`` does
    not scan every function of that name again.
    """
    out: dict[str, Candidates] = {}
    for name, functions in by_name.items():
        if len(functions) < 2:
            continue
        by_class: dict[str, FunctionInfo] = {}
        by_file: dict[str, list[FunctionInfo]] = {}
        for f in functions:
            if f.class_name:
                by_class.setdefault(f.class_name, f)
            by_file.setdefault(f.file, []).append(f)
        out[name] = (by_class, by_file, [f for f in functions if not f.in_test])
    return out


def resolve_call(
    call: CallSite,
    caller: FunctionInfo,
    by_name: dict[str, list[FunctionInfo]],
    candidates: dict[str, Candidates],
) -> FunctionInfo | None:
    """Return the function ``call`` in ``caller`` most likely reaches, or None."""
    named = by_name.get(call.name)
    if not named:
        return None
    if len(named) == 1:
        return named[0]
    by_class, by_file, non_test = candidates[call.name]
    if call.dotted.startswith(("self.", "cls.")) and caller.class_name:
        same_class = by_class.get(caller.class_name)
        if same_class is not None:
            return same_class
    same_file = by_file.get(caller.file, ())
    if len(same_file) == 1 and "." not in call.dotted:
        return same_file[0]
    if len(non_test) == 1:
        return non_test[0]
    return None
