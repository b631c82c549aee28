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
