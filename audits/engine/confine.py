"""Keep a scan's file reads inside the folders it may read.

A server that scans files for untrusted tenants confines every read to a few
root folders. The check runs on the real path of each file as it is opened
(symlinks followed, then checked), so a link inside a root that points
outside it is refused like the outside path itself. The command-line scanner
reads what its user names and is not confined.

The roots in force are kept in a context variable set by :func:`confined`
around one target's scan, so the sources need no extra argument.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

_ROOTS: ContextVar[tuple[Path, ...] | None] = ContextVar(
    "plumbline_path_roots", default=None
)

OUTSIDE = "outside the folders this server may read"


class PathRefused(PermissionError):
    """A path resolves outside the roots in force."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(errno.EACCES, OUTSIDE, str(path))


def real_roots(roots: Sequence[str]) -> tuple[Path, ...]:
    """Return the real paths of ``roots``, skipping empty entries."""
    return tuple(Path(r).expanduser().resolve() for r in roots if r.strip())


@contextmanager
def confined(roots: Sequence[str] | None) -> Iterator[None]:
    """Confine the reads of the block to ``roots`` (None: no confinement).

    An empty sequence allows nothing.
    """
    token = _ROOTS.set(None if roots is None else real_roots(roots))
    try:
        yield
    finally:
        _ROOTS.reset(token)


def within(path: str | os.PathLike[str], roots: Sequence[Path]) -> bool:
    """Return True when the real path of ``path`` lies inside one of ``roots``."""
    real = Path(path).expanduser().resolve()
    return any(real == root or real.is_relative_to(root) for root in roots)


def check(path: str | os.PathLike[str]) -> Path:
    """Return the real path of ``path``; raise :class:`PathRefused` if outside.

    Without confinement in force the path is returned as given.
    """
    roots = _ROOTS.get()
    if roots is None:
        return Path(path)
    real = Path(path).expanduser().resolve()
    if not any(real == root or real.is_relative_to(root) for root in roots):
        raise PathRefused(path)
    return real


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """Return the content of ``path`` once its real path passes :func:`check`."""
    return check(path).read_bytes()
