"""The migration options of ``plumbline scan``: ``--migrations``, ``--since``, ``--scratch-db``.

``--migrations DIR`` scans a migration folder on its own (SQL files, Django
migrations, Alembic revisions); ``--scratch-db URL`` also applies what it
finds to a scratch PostgreSQL and rolls it back; ``--since REF`` keeps only
the findings in files changed or added since a git ref, so a pull request
is judged on its own migrations and ``--fail-on`` gates on those alone.

A ``--migrations`` folder is judged with the settings of the project the
command runs in (``.plumbline.toml`` or ``[tool.plumbline]`` of the
``pyproject.toml`` in the current folder), as a CI job runs it from the
repository's root: ``disable``, ``severity`` and ``deploy-lock-timeout``
apply to it as to a folder scan.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from audits.engine.cli import add_repeatable
from audits.engine.config import ConfigError, load_config
from audits.engine.issues import Issue, merge_issues
from audits.engine.scan import ScanResult, Target, TargetResult
from audits.engine.sources.git_changes import changed_files


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the migration options to the ``scan`` subcommand."""
    add_repeatable(
        parser,
        "--migrations",
        metavar="DIR",
        help="a migration folder (SQL, Django or Alembic) to replay and judge "
        "statement by statement",
    )
    parser.add_argument(
        "--since",
        metavar="REF",
        help="report only findings in files changed or added since the git REF "
        "(e.g. origin/main), for judging a pull request",
    )
    parser.add_argument(
        "--scratch-db",
        metavar="URL",
        help="a PostgreSQL URL the migrations are applied to inside a transaction "
        "that is rolled back; what it refuses becomes a finding",
    )


def targets(args: argparse.Namespace, found: list[Target]) -> list[Target]:
    """Return ``found`` with the ``--migrations`` folders and the scratch database.

    With ``--since`` every migration of a folder is judged as pending, so a
    branch's older migrations are not taken for history already applied.
    Raise :class:`ConfigError` when the settings of the current folder are
    unusable.
    """
    if args.since:
        found = [replace(t, whole_history=True) for t in found]
    config = None
    if args.migrations:
        try:
            config = load_config(Path.cwd())
        except ConfigError as exc:
            raise ConfigError(f"{Path.cwd().name}: {exc}") from None
    extra = [
        Target(
            "migrations",
            folder,
            dialect=args.dialect,
            exclude=tuple(args.exclude),
            timeout=args.timeout,
            config=config,
        )
        for folder in args.migrations
    ]
    if not args.scratch_db:
        return found + extra
    return [
        replace(t, scratch_db=args.scratch_db)
        if t.kind in ("folder", "migrations")
        else t
        for t in found + extra
    ]


def only_changed(result: ScanResult, ref: str) -> ScanResult:
    """Return ``result`` with only the findings in files changed since ``ref``.

    Raise :class:`SourceError` when git cannot tell what changed.
    """
    kept: list[TargetResult] = []
    cache: dict[Path, frozenset[Path]] = {}
    for target_result in result.targets:
        location = target_result.target.location
        if "://" in location or not target_result.ok:
            kept.append(replace(target_result, issues=()))
            continue
        root = Path(location).resolve()
        folder = root if root.is_dir() else root.parent
        if folder not in cache:
            cache[folder] = changed_files(folder, ref)
        issues = tuple(
            i for i in target_result.issues if _changed(i, folder, cache[folder])
        )
        kept.append(replace(target_result, issues=issues))
    merged = merge_issues([i for t in kept for i in t.issues])
    return ScanResult(tuple(kept), tuple(merged))


def _changed(issue: Issue, folder: Path, changed: frozenset[Path]) -> bool:
    return bool(issue.file) and (folder / issue.file).resolve() in changed
