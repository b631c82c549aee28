"""Scan targets: run the sources, the checks and the grading.

A target is one thing to read: a SQLite file, a PostgreSQL or MySQL URL, DDL
files, a code folder, or (from the command line) a folder walked for all of
those. Each target is scanned on its own; a target that fails is an error on
that target with a clear message, and the others still count.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import confine
from .config import (
    ConfigError,
    ProjectConfig,
    Suppressed,
    apply_config,
    attach_context,
    expand_patterns,
    load_config,
)
from .guard import NetworkPolicy
from .issues import Evidence, Issue, merge_issues
from .registry import Facts, run_checks
from .schema import Schema
from .sources import SourceError
from .sources.git import GitLimits
from .sources.migrations import MigrationHistory

KINDS = ("sqlite", "postgresql", "mysql", "ddl", "code", "folder", "git", "migrations")
CODE_KINDS = ("code", "folder", "git", "migrations")
PATH_KINDS = ("sqlite", "ddl", "code", "folder", "migrations")

Progress = Callable[[str], None]
_DOC_FOLDERS = frozenset({"docs", "doc"})


@dataclass(frozen=True)
class Target:
    """One thing to scan. ``password`` is kept out of messages."""

    kind: str
    location: str
    dialect: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 10.0  # seconds, for connecting and for each statement
    exclude: tuple[str, ...] = ()
    # Folders file reads are confined to (see confine); None reads anywhere,
    # as the command line does, and an empty tuple reads nothing.
    path_roots: tuple[str, ...] | None = None
    # Where live probes may connect (see guard); None connects anywhere, as
    # the command line does on the customer's own machine.
    network: NetworkPolicy | None = None
    ref: str = ""  # git: the branch, tag or commit (the default branch when empty)
    git: GitLimits | None = None  # git: what one clone may cost
    # The project's settings; None reads them from the folder scanned.
    config: ProjectConfig | None = field(default=None, compare=False)
    # A PostgreSQL URL the migrations found are applied to and rolled back.
    scratch_db: str = field(default="", repr=False)
    # Judge every migration of a folder scan as pending, not only each
    # folder's newest (``--since`` narrows the report to a branch instead).
    whole_history: bool = False
    # The operator's PostgreSQL, where each scan with migrations makes a
    # throwaway database and role for their dry run (a server's setting,
    # never a tenant's); a failure there is a note, not a failed target.
    scratch_server: str = field(default="", repr=False)
    # A live database: the ``space`` fact of its last successful reading,
    # with a ``label`` naming it ("audit #4"), so growth since can be told.
    earlier_space: Mapping[str, Any] | None = field(
        default=None, compare=False, repr=False
    )

    @property
    def label(self) -> str:
        """Return the target as shown to users, without credentials."""
        return f"{self.kind}:{redact(self.location)}"


@dataclass(frozen=True)
class TargetResult:
    target: Target
    ok: bool
    error: str = ""
    issues: tuple[Issue, ...] = ()
    checks_run: frozenset[str] = frozenset()
    notes: tuple[str, ...] = ()
    duration: float = 0.0
    schema: Schema | None = field(default=None, compare=False, repr=False)
    commit: str = ""  # git: the commit that was scanned
    suppressed: tuple[Suppressed, ...] = ()
    config: ProjectConfig | None = field(default=None, compare=False)
    # Whether the migrations found were applied to a scratch database, and
    # why not; '' when the target holds no migrations.
    dry_run: str = ""


@dataclass(frozen=True)
class ScanResult:
    targets: tuple[TargetResult, ...]
    issues: tuple[Issue, ...]

    @property
    def ok(self) -> bool:
        """Return True when every target was scanned."""
        return all(t.ok for t in self.targets)

    @property
    def suppressed(self) -> tuple[Suppressed, ...]:
        """Return the findings the projects' settings suppressed, with why."""
        return tuple(s for t in self.targets for s in t.suppressed)

    @property
    def config(self) -> ProjectConfig | None:
        """Return the settings the first code or folder target used."""
        return next((t.config for t in self.targets if t.config is not None), None)

    @property
    def checks_run(self) -> frozenset[str]:
        """Return the ids of every check that ran on some target."""
        ran: set[str] = set()
        for t in self.targets:
            ran |= t.checks_run
        return frozenset(ran)


def redact(location: str) -> str:
    """Return ``location`` with any password in a URL replaced by ``***``."""
    if "://" not in location or "@" not in location:
        return location
    scheme, rest = location.split("://", 1)
    userinfo, host = rest.rsplit("@", 1)
    if ":" in userinfo:
        userinfo = userinfo.split(":", 1)[0] + ":***"
    return f"{scheme}://{userinfo}@{host}"


def _probe_notes(schema: Schema) -> list[str]:
    """Return what a live probe could not do, as notes on its target."""
    return [str(note) for note in schema.fact("probe_notes", ()) or ()]


def _server_probe(kind: str) -> Callable[..., Schema]:
    """Return the probe of a database server kind, importing its driver only now."""
    if kind == "postgresql":
        from .sources import postgres

        return postgres.probe
    from .sources import mysql

    return mysql.probe


def _read_schema(
    target: Target, config: ProjectConfig | None = None
) -> tuple[Schema | None, set[Evidence], list[str]]:
    """Return the schema a target describes, its evidence and notes."""
    if target.kind == "sqlite":
        from .sources import sqlite

        schema = sqlite.probe(target.location, timeout=target.timeout)
        return schema, {Evidence.SCHEMA, Evidence.LIVE}, _probe_notes(schema)
    if target.kind in ("postgresql", "mysql"):
        schema = _server_probe(target.kind)(
            target.location,
            password=target.password,
            timeout=target.timeout,
            policy=target.network,
        )
        return schema, {Evidence.SCHEMA, Evidence.LIVE}, _probe_notes(schema)
    if target.kind in ("ddl", "code", "folder"):
        from .sources import ddl

        path = Path(target.location)
        if not path.exists():
            raise SourceError(f"{target.location}: no such file or folder")
        exclude = expand_patterns(target.exclude + (config.exclude if config else ()))
        schema, notes = ddl.load_path(
            path,
            dialect=target.dialect,
            include_python=target.kind in ("code", "folder"),
            exclude=exclude,
        )
        docs = tuple(p for p in exclude if p not in _DOC_FOLDERS)
        if not schema.tables and docs != exclude and path.is_dir():
            # Documentation is a schema source only when it is the only one.
            schema, notes = ddl.load_path(
                path,
                dialect=target.dialect,
                include_python=target.kind in ("code", "folder"),
                exclude=docs,
            )
        if not schema.tables:
            return None, set(), notes
        return schema, {Evidence.SCHEMA, Evidence.DDL}, notes
    if target.kind == "migrations":
        return None, set(), []
    raise SourceError(f"unknown target kind {target.kind!r}; use one of {KINDS}")


def _check_root(target: Target) -> None:
    """Refuse a path target whose real path lies outside the roots in force."""
    location = target.location
    if target.kind == "sqlite":
        from .sources.sqlite import database_path

        location = str(database_path(location))
    try:
        confine.check(location)
    except confine.PathRefused as exc:
        roots = target.path_roots or ()
        why = (
            "this server reads no folders (its operator has set no "
            "PLUMBLINE_TARGET_PATH_ROOTS)"
            if not roots
            else f"it is outside the folders this server may read ({', '.join(roots)})"
        )
        raise SourceError(
            f"{target.location}: refused, {why}; scan it in CI and upload the "
            "result, or use a git repository target"
        ) from exc


def _read_code(
    target: Target, config: ProjectConfig | None = None
) -> tuple[object | None, list[str]]:
    """Return code facts for a code or folder target, and notes."""
    if target.kind not in ("code", "folder"):
        return None, []
    from .sources import code

    exclude = target.exclude
    if config is not None:
        exclude += config.exclude + config.code_exclude
    exclude = expand_patterns(exclude)
    facts = code.load_code(Path(target.location), exclude=exclude)
    return facts, list(facts.notes)


def _read_migrations(
    target: Target, config: ProjectConfig | None = None
) -> tuple[MigrationHistory | None, list[str], str]:
    """Return the migration history a folder holds (dry-run when asked), notes,
    and whether the dry run ran."""
    if target.kind not in ("code", "folder", "migrations"):
        return None, [], ""
    if target.kind != "migrations" and not Path(target.location).is_dir():
        return None, [], ""
    from .sources import migrations

    exclude = target.exclude + (config.exclude if config else ())
    history = migrations.load_history(
        Path(target.location), dialect=target.dialect, exclude=expand_patterns(exclude)
    )
    if history is None:
        if target.kind == "migrations":
            raise SourceError(f"{target.location}: no migration files found")
        return None, [], ""
    if config is not None and config.deploy_lock_timeout:
        history = replace(
            history,
            lock_timeout=f"{config.source}: deploy-lock-timeout = "
            f"{config.deploy_lock_timeout}",
        )
    history, status = _dry_run(target, history)
    if target.kind != "migrations" and not target.whole_history:
        # Git's dates are read on the customer's machine only (a server's
        # clones are one commit deep, and its folders are not theirs).
        pending = (
            migrations.pending_migrations(history)
            if target.path_roots is None
            else migrations.newest_per_folder(history.files)
        )
        history = replace(history, pending=pending)
    return history, list(history.notes), status


def _dry_run(target: Target, history: MigrationHistory) -> tuple[MigrationHistory, str]:
    """Return ``history`` applied to the target's scratch database, and what happened."""
    from .sources import migration_dryrun, scratch_server

    if (
        history.dialect != "postgres"
        and target.scratch_server
        and not target.scratch_db
    ):
        return history, (
            f"not run: the migrations are {history.dialect}'s and the scratch "
            "database is PostgreSQL"
        )
    if target.scratch_db:
        history = migration_dryrun.dry_run(
            history, target.scratch_db, timeout=target.timeout, policy=target.network
        )
    elif target.scratch_server:
        try:
            with scratch_server.throwaway(
                target.scratch_server, timeout=target.timeout
            ) as url:
                history = migration_dryrun.dry_run(
                    history,
                    url,
                    timeout=target.timeout,
                    read_settings=False,
                    label="a throwaway PostgreSQL database",
                )
        except SourceError as exc:
            return history, f"did not run: {exc}"
        where = "a throwaway database, dropped after"
        return history, _ran(history, where)
    else:
        return history, (
            "not run: no scratch PostgreSQL is configured (the command line's "
            "--scratch-db, a server's PLUMBLINE_SCRATCH_DATABASE_URL)"
        )
    return history, _ran(history, history.dry_run)


def _ran(history: MigrationHistory, where: str) -> str:
    refused = len(history.rejected)
    said = f"{refused} statement{'s' if refused != 1 else ''} refused"
    return (
        f"ran on {where}: {len(history.statements)} statements of "
        f"{len(history.files)} migration files applied and rolled back, {said}"
    )


def target_config(target: Target) -> ProjectConfig | None:
    """Return the settings that apply to ``target``.

    Raise :class:`ConfigError` when the project's settings are unusable.
    """
    if target.config is not None:
        return target.config
    if target.kind in ("code", "folder"):
        return load_config(Path(target.location))
    return None


def scan_target(
    target: Target,
    *,
    borrowed_schema: Schema | None = None,
    explain_on: Target | None = None,
    progress: Progress | None = None,
) -> TargetResult:
    """Scan one target and return its issues, or its error.

    ``borrowed_schema`` gives a code target the schema of its project's
    database, so the checks that join code and schema can run;
    ``explain_on`` is the project's live PostgreSQL or MySQL, where the
    code's statements are planned.
    """
    if target.kind == "git":
        return _scan_git(target, borrowed_schema, explain_on, progress)
    started = time.monotonic()
    if progress:
        progress(f"reading {target.label}")
    try:
        with confine.confined(target.path_roots):
            if target.kind in PATH_KINDS and target.path_roots is not None:
                _check_root(target)
            config = target_config(target)
            schema, evidence, notes = _read_schema(target, config)
            schema = _with_growth(schema, target.earlier_space)
            code_facts, code_notes = _read_code(target, config)
            history, history_notes, dry_run = _read_migrations(target, config)
    except (SourceError, ConfigError) as exc:
        return TargetResult(
            target, ok=False, error=str(exc), duration=time.monotonic() - started
        )
    except Exception as exc:  # noqa: BLE001 - a source bug fails one target only
        return TargetResult(
            target,
            ok=False,
            error=f"could not read the target: {type(exc).__name__}: {exc}",
            duration=time.monotonic() - started,
        )
    notes += code_notes + history_notes
    if history is not None:
        schema = _with_history(
            target, history, (schema, borrowed_schema), evidence, config
        )
    if code_facts is not None:
        schema = _code_schema(
            code_facts, schema, borrowed_schema, explain_on, (evidence, notes), progress
        )
    facts = Facts(
        schema=schema,
        code=code_facts,
        evidence=frozenset(evidence),
        root=target.location if target.kind in CODE_KINDS else "",
        notes=notes,
        migrations=history,
    )
    if progress:
        progress(f"checking {target.label}")
    issues, ran, errors = run_checks(facts)
    source = target.label
    issues = [i if i.sources else i.with_changes(sources=(source,)) for i in issues]
    suppressed: tuple[Suppressed, ...] = ()
    root = Path(target.location) if target.kind in ("code", "folder") else None
    issues = attach_context(issues, root)
    if config is not None:
        applied = apply_config(issues, config, root)
        issues, suppressed = applied.kept, tuple(applied.suppressed)
        errors = [*errors, *applied.notes]
    return TargetResult(
        target,
        ok=True,
        issues=tuple(merge_issues(issues)),
        checks_run=frozenset(ran),
        notes=tuple(facts.notes + errors),
        duration=time.monotonic() - started,
        schema=schema,
        suppressed=suppressed,
        config=config,
        dry_run=dry_run,
    )


def _with_history(
    target: Target,
    history: MigrationHistory,
    schemas: tuple[Schema | None, Schema | None],
    evidence: set[Evidence],
    config: ProjectConfig | None,
) -> Schema | None:
    """Add a migration history's evidence; return the target's schema.

    ``schemas`` is the target's own schema and the one it may borrow. With
    neither, a code or folder target whose Django migrations build one gets
    that (SQL migrations are already read as DDL; Alembic histories are not
    trusted for it yet, see the README).
    """
    from .sources.migrations import replayed_schema

    evidence.add(Evidence.MIGRATIONS)
    if history.dry_run:
        evidence.add(Evidence.DRY_RUN)
    own, borrowed = schemas
    if own is not None or borrowed is not None or target.kind not in ("code", "folder"):
        return own
    if config is None or not config.schema_from_migrations:
        return None  # off by default: see config.py
    # Django's migrations only: Django enforces on_delete and hashes its
    # users' passwords, which the schema says (django_migrations); an
    # Alembic history often keeps both dialects' branches and leaves
    # hashing to code the schema cannot show (measured on the corpus).
    if not any(s.origin == "django" for s in history.statements):
        return None
    schema = replayed_schema(history)
    if not schema.tables:
        return None
    evidence.update({Evidence.SCHEMA, Evidence.DDL})
    return schema


def _with_growth(
    schema: Schema | None, earlier: Mapping[str, Any] | None
) -> Schema | None:
    """Return a probed ``schema`` with its growth since the ``earlier`` reading."""
    space = schema.fact("space") if schema is not None and earlier else None
    if schema is None or earlier is None or space is None:
        return schema
    from .sources._health import space_growth

    growth = space_growth(earlier, space)
    if growth is None:
        return schema
    return replace(schema, facts=(*schema.facts, ("space_growth", growth)))


def _code_schema(
    code: object,
    schema: Schema | None,
    borrowed: Schema | None,
    explain_on: Target | None,
    found: tuple[set[Evidence], list[str]],
    progress: Progress | None,
) -> Schema | None:
    """Return the schema a code target's checks read, and add its evidence.

    Its own schema, else the one borrowed from the project's database, with
    the plans of its statements when a live PostgreSQL or MySQL is given.
    """
    evidence, _notes = found
    evidence.add(Evidence.CODE)
    if schema is None and borrowed is not None:
        schema = borrowed
        evidence.add(Evidence.SCHEMA)
    if explain_on is not None:
        schema = _join_plans(code, schema, explain_on, found, progress)
    return schema


def _join_plans(
    code: object,
    schema: Schema | None,
    live: Target,
    found: tuple[set[Evidence], list[str]],
    progress: Progress | None,
) -> Schema | None:
    """Return ``schema`` with the plans of the code's statements on ``live``.

    ``found`` is the target's evidence and notes, both added to.
    """
    from .sources import mysql_plans, pg_plans

    evidence, notes = found
    if progress:
        progress(f"planning the code's statements on {live.label}")
    planner = mysql_plans if live.kind == "mysql" else pg_plans
    plans, plan_notes = planner.explain_code(
        code,
        schema,
        live.location,
        password=live.password,
        timeout=live.timeout,
        policy=live.network,
    )
    notes.extend(plan_notes)
    if not plans:
        return schema
    evidence.add(Evidence.PLAN)
    base = schema if schema is not None else Schema()
    return replace(base, facts=(*base.facts, ("query_plans", plans)))


def _scan_git(
    target: Target,
    borrowed_schema: Schema | None,
    explain_on: Target | None,
    progress: Progress | None,
) -> TargetResult:
    """Clone one commit of a repository, scan it as code, and delete it."""
    from .sources import git

    started = time.monotonic()
    if progress:
        progress(f"cloning {target.label}")
    try:
        with git.checkout(
            target.location,
            ref=target.ref,
            secret=target.password,
            limits=target.git,
            policy=target.network,
            path_roots=target.path_roots,
        ) as (folder, commit):
            inner = replace(
                target,
                kind="code",
                location=str(folder),
                password=None,
                path_roots=(str(folder),),
                ref="",
            )
            result = scan_target(
                inner,
                borrowed_schema=borrowed_schema,
                explain_on=explain_on,
                progress=progress,
            )
    except SourceError as exc:
        return TargetResult(
            target, ok=False, error=str(exc), duration=time.monotonic() - started
        )
    # Issues name the repository, never the temporary folder it was read from.
    issues = tuple(
        issue.with_changes(
            sources=tuple(
                target.label if s == inner.label else s for s in issue.sources
            )
        )
        for issue in result.issues
    )
    return replace(
        result,
        target=target,
        issues=issues,
        commit=commit,
        duration=time.monotonic() - started,
    )


def scan_each(
    targets: Sequence[Target], *, progress: Progress | None = None
) -> Iterator[tuple[Target, TargetResult]]:
    """Scan the targets one by one, yielding each with its result.

    Code targets go last and borrow the schema of the first database or DDL
    target that was read, so the checks joining code and schema can run;
    their statements are planned on the first PostgreSQL or MySQL target read.
    """
    ordered = sorted(targets, key=lambda t: t.kind in CODE_KINDS)
    borrowed: Schema | None = None
    live: Target | None = None
    for target in ordered:
        result = scan_target(
            target, borrowed_schema=borrowed, explain_on=live, progress=progress
        )
        if borrowed is None and target.kind not in CODE_KINDS:
            borrowed = result.schema
        if live is None and target.kind in ("postgresql", "mysql") and result.ok:
            live = target
        yield target, result


def scan(targets: Sequence[Target], *, progress: Progress | None = None) -> ScanResult:
    """Scan every target; code targets borrow the schema of the others."""
    results = [result for _, result in scan_each(targets, progress=progress)]
    return ScanResult(tuple(results), tuple(merge_issues(_all_issues(results))))


def _all_issues(results: Iterable[TargetResult]) -> list[Issue]:
    return [issue for result in results for issue in result.issues]
