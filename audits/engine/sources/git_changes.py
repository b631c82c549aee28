"""Which files of a working copy changed since a git ref.

CI judges a pull request on its own migrations: ``changed_files`` lists
what ``git diff --name-only REF`` lists (committed and uncommitted changes
to tracked files) plus the files git does not track yet, as absolute paths.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from audits.engine.sources import SourceError

GIT_TIMEOUT = 30.0  # seconds for each git command


def _git(folder: Path, *args: str) -> str:
    try:
        done = subprocess.run(  # noqa: S603 - fixed arguments, no shell
            ["git", "-C", str(folder), *args],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SourceError(f"cannot run git in {folder}: {exc}") from exc
    if done.returncode != 0:
        message = (done.stderr.strip().splitlines() or ["git failed"])[-1]
        raise SourceError(f"git {' '.join(args[:2])} in {folder}: {message}")
    return done.stdout


def changed_files(folder: Path, ref: str) -> frozenset[Path]:
    """Return the files changed or added since ``ref`` in the repository of ``folder``.

    Raise :class:`SourceError` when ``folder`` is not in a git repository or
    ``ref`` names nothing.
    """
    if ref.startswith("-"):
        raise SourceError(f"{ref!r} is not a git ref")
    start = folder if folder.is_dir() else folder.parent
    top = Path(_git(start, "rev-parse", "--show-toplevel").strip())
    try:
        _git(top, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except SourceError:
        raise SourceError(f"{ref!r} names no commit in {top}") from None
    # -z: names as they are, not quoted when they hold unusual characters.
    names = _git(top, "diff", "--name-only", "-z", "--no-renames", ref, "--")
    names += _git(top, "ls-files", "-z", "--others", "--exclude-standard")
    return frozenset((top / name).resolve() for name in names.split("\0") if name)


def added_times(folder: Path, files: list[Path]) -> tuple[dict[Path, int], int] | None:
    """Return when each of ``files`` was first committed under its name, and HEAD.

    Times are seconds since the epoch, from the commit dates; a file git
    has no commit for is left out. Return None when ``folder`` is not in a
    git working copy with commits.
    """
    start = folder if folder.is_dir() else folder.parent
    try:
        top = Path(_git(start, "rev-parse", "--show-toplevel").strip())
        head = int(_git(top, "log", "-1", "--format=%ct").strip() or 0)
        folders = sorted({p.parent.relative_to(top).as_posix() for p in files})
        out = _git(top, "-c", "core.quotePath=false", "log", "--format=%x01%ct",
                   "--name-only", "--no-renames", "--", *folders)  # fmt: skip
    except (SourceError, ValueError):
        return None
    added: dict[Path, int] = {}
    when = 0
    for line in out.splitlines():
        if line.startswith("\x01"):
            when = int(line[1:])
        elif line:
            # Newest first: the last commit seen touching a path is the
            # first under that name (a move starts it again).
            added[(top / line).resolve()] = when
    return added, head
