"""Read Python source into code facts: SQL, connections, transactions, models.

:func:`load_code` walks a folder of Python files, parses each with :mod:`ast`
and records what the code checks need: every execute-like call with its SQL
(literals, f-strings, ``%``/``.format`` templates, concatenations, names
assigned earlier), the connections the code opens and how it configures them,
commits and rollbacks, loops, a call graph by name, SQLAlchemy and Django
models with their filters. Nothing is imported or executed.

The package, from the outside in: :mod:`.loader` (``load_code``: read, walk,
settle), :mod:`.files` (which files, as text), :mod:`.walker` (one function
body in source order, built from the mixins in :mod:`.state`,
:mod:`.resolve`, :mod:`.recording` and :mod:`.orm`), :mod:`.calls` (a call
site to the function it reaches), :mod:`.facts` (what the checks read), and
the helpers :mod:`.context`, :mod:`.patterns` and :mod:`.syntax`.
"""

from __future__ import annotations

from .facts import (
    CallSite,
    CodeFacts,
    CodeUse,
    ConnectSite,
    FileInfo,
    FunctionInfo,
    Interpolation,
    LoopInfo,
    OrmColumn,
    OrmFilter,
    OrmModel,
    OrmRelationship,
    OrmWrite,
    SqlUse,
    TxnOp,
)
from .loader import load_code

__all__ = [
    "CallSite",
    "CodeFacts",
    "CodeUse",
    "ConnectSite",
    "FileInfo",
    "FunctionInfo",
    "Interpolation",
    "LoopInfo",
    "OrmColumn",
    "OrmFilter",
    "OrmModel",
    "OrmRelationship",
    "OrmWrite",
    "SqlUse",
    "TxnOp",
    "load_code",
]
