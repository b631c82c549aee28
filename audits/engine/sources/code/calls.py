"""Resolve a call site to the project function it reaches, when that is known.

A call resolves only when its target is known: a name defined in the module
or imported from a project module, a method of ``self`` or ``super()``, of a
class or module named directly, or of an object whose class is known (a
constructor call, an annotation, an attribute of self assigned one). A
method called on something of unknown type (``task.cancel()``,
``path.resolve()``, ``image.save()``) reaches no project function: the same
name elsewhere in the project says nothing about it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .facts import CallSite, FunctionInfo


@dataclass(frozen=True)
class Index:
    """The project's functions and classes, indexed once per scan."""

    by_qualname: dict[str, FunctionInfo]
    by_name: dict[str, list[FunctionInfo]]
    bases: dict[str, tuple[str, ...]]  # class qualname -> base names
    attributes: dict[str, str]  # "Class.attr" -> class held there
    classes_by_name: dict[str, list[str]]  # short class name -> qualnames
    # "module.name" (the last two parts of a qualname) -> functions, for
    # names re-exported through a package's __init__
    by_tail: dict[str, list[FunctionInfo]]


def class_of(fn: FunctionInfo) -> str:
    """Return the qualname of the class a method (or a function nested in one) is on."""
    return class_qualname(fn.qualname, fn.class_name)


def class_qualname(qualname: str, class_name: str) -> str:
    """Return the part of ``qualname`` up to its last ``class_name``, or ""."""
    if not class_name:
        return ""
    parts = qualname.split(".")
    for i in range(len(parts) - 1, 0, -1):
        if parts[i] == class_name:
            return ".".join(parts[: i + 1])
    return ""


def resolve_call(
    call: CallSite, caller: FunctionInfo, index: Index
) -> FunctionInfo | None:
    """Return the project function ``call`` in ``caller`` reaches, or None."""
    kind, _, where = call.target.partition(":")
    if kind == "name":
        return _function_named(index, where, call.name)
    owner = class_of(caller)
    if kind == "self":
        return _method(index, owner, call.name) if owner else None
    if kind == "super":
        for base in _resolved_bases(index, owner) if owner else []:
            found = _method(index, base, call.name)
            if found is not None:
                return found
        return None
    if kind == "obj":
        qual = _class_named(index, where)
        return _method(index, qual, call.name) if qual else None
    if kind == "attr" and owner:
        held = index.attributes.get(f"{owner}.{where}")
        qual = _class_named(index, held) if held else None
        return _method(index, qual, call.name) if qual else None
    return None


def _function_named(index: Index, dotted: str, name: str) -> FunctionInfo | None:
    """Return the function (or classmethod) ``dotted`` names, if in the project."""
    found = index.by_qualname.get(dotted)
    if found is not None and found.name == name:
        return found
    owner = dotted.rpartition(".")[0]
    qual = _class_named(index, owner) if owner else None
    if qual is not None:
        return _method(index, qual, name)
    if "." not in dotted:
        return None
    # Re-exported through a package's __init__: the same module tail.
    tail = dotted.rsplit(".", 2)[-2] + "." + name
    candidates = [f for f in index.by_tail.get(tail, ()) if not f.in_test]
    return candidates[0] if len(candidates) == 1 else None


def _class_named(index: Index, dotted: str) -> str | None:
    """Return the project class qualname ``dotted`` names, or None."""
    if dotted in index.bases:
        return dotted
    short_name = dotted.rsplit(".", 1)[-1]
    options = index.classes_by_name.get(short_name, ())
    if len(options) != 1:
        return None
    module = dotted.rsplit(".", 1)[0] if "." in dotted else ""
    if not module or options[0].startswith(module.split(".")[0]):
        return options[0]
    return None


def _resolved_bases(index: Index, qual: str) -> list[str]:
    out: list[str] = []
    todo = list(index.bases.get(qual, ()))
    while todo and len(out) < 20:
        base = _class_named(index, todo.pop(0))
        if base is None or base in out or base == qual:
            continue
        out.append(base)
        todo.extend(index.bases.get(base, ()))
    return out


def _method(index: Index, qual: str, name: str) -> FunctionInfo | None:
    """Return method ``name`` of class ``qual`` or of its project bases."""
    for owner in [qual, *_resolved_bases(index, qual)]:
        found = index.by_qualname.get(f"{owner}.{name}")
        if found is not None:
            return found
    return None
