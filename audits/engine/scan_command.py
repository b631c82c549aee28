"""``plumbline scan TARGET...``: scan targets and report findings.

A TARGET is a folder (walked for code and DDL, and every SQLite file in it
scanned as its own database), a file (``.sql``/``.md`` DDL, ``.py`` code, a
SQLite database), or a URL (``sqlite:///path``, ``postgresql://...``,
``mysql://...``). Exit status: 0, or 1 with ``--fail-on`` when a finding at
or above that severity is present, or with ``--upload ... --gate`` when the
server's quality gate fails the uploaded audit, or 2 for a usage error,
when every target failed, or when ``--upload`` could not deliver the result.

``--baseline previous.json`` (a ``--format json`` or ``sarif`` report of an
earlier scan) leaves out every finding whose fingerprint that report holds:
the output and ``--fail-on`` then speak only of what is new since, with no
server. Fingerprints survive line moves, so an unchanged problem is never new.
``--migrations DIR``, ``--since REF`` and ``--scratch-db URL`` judge a
migration folder, keep the findings of files changed since a git ref, and
try the migrations on a scratch PostgreSQL (see :mod:`.migration_command`).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from audits.engine import migration_command
from audits.engine.cli import add_repeatable
from audits.engine.config import ConfigError, expand_patterns, load_config
from audits.engine.grading import grade
from audits.engine.issues import Severity
from audits.engine.render import FORMATS, json_out, markdown, sarif, text
from audits.engine.scan import ScanResult, Target, scan
from audits.engine.sources import SourceError

SQLITE_HEADER = b"SQLite format 3\x00"
DDL_SUFFIXES = frozenset({".sql", ".ddl", ".md", ".markdown"})
# Folders that hold tools, caches or dependencies, never the project's data.
SKIPPED_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        "env",
        "node_modules",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".hypothesis",
        ".tox",
        ".nox",
        "site-packages",
    }
)
URL_KINDS = {
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "mysql": "mysql",
    "mariadb": "mysql",
}

EXIT_OK, EXIT_FAIL_ON, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """The command line names something that cannot be scanned."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``scan`` subcommand's arguments to ``parser``."""
    parser.add_argument(
        "targets",
        nargs="*",
        metavar="TARGET",
        help="a folder, a .sql/.md/.py file, a SQLite file, or a database URL",
    )
    parser.add_argument(
        "--format", choices=FORMATS, default="text", help="output format (text)"
    )
    parser.add_argument(
        "--dialect", help="SQL dialect of DDL files (guessed when absent)"
    )
    parser.add_argument("--output", "-o", metavar="F", help="write the report to F")
    parser.add_argument(
        "--fail-on",
        type=str.lower,
        choices=[s.value for s in Severity],
        metavar="SEVERITY",
        help="exit 1 when a finding at or above SEVERITY is present "
        "(critical, high, medium, low, info)",
    )
    parser.add_argument(
        "--progress", action="store_true", help="write progress lines to stderr"
    )
    add_repeatable(
        parser, "--exclude", metavar="GLOB", help="skip files and folders matching GLOB"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="connect and statement timeout for live databases (10)",
    )
    parser.add_argument(
        "--upload",
        metavar="URL",
        help="send the result to the Plumbline server at URL, where it becomes an "
        "audit of --project (token from the PLUMBLINE_TOKEN variable)",
    )
    parser.add_argument(
        "--project", metavar="SLUG", help="the project an --upload goes to"
    )
    parser.add_argument(
        "--gate",
        action="store_true",
        help="with --upload: exit 1 when the server's quality gate fails the "
        "uploaded audit, and list the findings that failed it",
    )
    parser.add_argument(
        "--baseline",
        metavar="FILE",
        help="a JSON or SARIF report of an earlier scan: report (and --fail-on) "
        "only findings whose fingerprint it does not hold",
    )
    migration_command.add_arguments(parser)
    parser.set_defaults(handler=run)


def is_sqlite_file(path: Path) -> bool:
    """Return True when ``path`` starts with the SQLite 3 file header."""
    try:
        with path.open("rb") as handle:
            return handle.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False


def excluded(relative: str, patterns: Sequence[str]) -> bool:
    """Return True when a relative path or its name matches any glob."""
    name = relative.rsplit("/", 1)[-1]
    return any(
        fnmatch.fnmatch(relative, p) or fnmatch.fnmatch(name, p) for p in patterns
    )


def find_sqlite_files(root: Path, exclude: Sequence[str] = ()) -> Iterator[Path]:
    """Yield the SQLite database files under ``root``, in a stable order."""
    for folder, dirs, files in os.walk(root):
        base = Path(folder)
        dirs[:] = sorted(
            d
            for d in dirs
            if d not in SKIPPED_DIRS
            and not excluded((base / d).relative_to(root).as_posix(), exclude)
        )
        for name in sorted(files):
            path = base / name
            if excluded(path.relative_to(root).as_posix(), exclude):
                continue
            if path.is_file() and is_sqlite_file(path):
                yield path


def _sqlite_url_path(url: str) -> str:
    rest = url[len("sqlite://") :]
    if rest.startswith("//"):
        return rest[1:]  # sqlite:////abs/path
    rest = rest.lstrip("/")
    # sqlite:///x means /x when that exists, else x relative to here.
    absolute = "/" + rest
    if Path(absolute).exists() or not Path(rest).exists():
        return absolute
    return rest


def resolve_target(
    spec: str, *, dialect: str | None, exclude: Sequence[str], timeout: float
) -> list[Target]:
    """Return the targets one command-line TARGET stands for.

    Raise :class:`UsageError` when it names nothing scannable.
    """
    excl = tuple(exclude)
    if "://" in spec:
        scheme = spec.split("://", 1)[0].lower()
        if scheme == "sqlite":
            return [Target("sqlite", _sqlite_url_path(spec), timeout=timeout)]
        if scheme in URL_KINDS:
            kind = URL_KINDS[scheme]
            url = kind + spec[len(scheme) :]
            return [Target(kind, url, timeout=timeout)]
        raise UsageError(
            f"{spec.split('://', 1)[0]}:// URLs are not supported; "
            "use sqlite:///, postgresql:// or mysql://"
        )
    path = Path(spec)
    if path.is_dir():
        try:
            config = load_config(path)
        except ConfigError as exc:
            raise UsageError(f"{spec}: {exc}") from None
        found = [
            Target("sqlite", str(p), timeout=timeout, config=config)
            for p in find_sqlite_files(path, expand_patterns(excl + config.exclude))
        ]
        folder = Target("folder", spec, dialect=dialect, exclude=excl, config=config)
        return [folder, *found]
    if not path.exists():
        raise UsageError(f"{spec}: no such file or folder")
    if is_sqlite_file(path):
        return [Target("sqlite", spec, timeout=timeout)]
    suffix = path.suffix.lower()
    if suffix in DDL_SUFFIXES:
        return [Target("ddl", spec, dialect=dialect, exclude=excl)]
    if suffix == ".py":
        return [Target("code", spec, dialect=dialect, exclude=excl)]
    raise UsageError(
        f"{spec}: cannot tell what to scan; expected a folder, a .sql, .md or .py "
        "file, a SQLite database, or a database URL"
    )


def resolve_targets(
    specs: Sequence[str],
    *,
    dialect: str | None = None,
    exclude: Sequence[str] = (),
    timeout: float = 10.0,
) -> list[Target]:
    """Return the targets for every command-line TARGET, without duplicates."""
    targets: list[Target] = []
    seen: set[tuple[str, str]] = set()
    for spec in specs:
        for target in resolve_target(
            spec, dialect=dialect, exclude=exclude, timeout=timeout
        ):
            where = target.location
            if "://" not in where:
                where = str(Path(where).resolve())
            if (target.kind, where) not in seen:
                seen.add((target.kind, where))
                targets.append(target)
    return targets


def render_result(result: ScanResult, fmt: str, *, color: bool = False) -> str:
    """Return ``result`` rendered as ``fmt``."""
    grades = grade(result.issues)
    if fmt == "json":
        return json_out.render(result, grades=grades) + "\n"
    if fmt == "sarif":
        return sarif.render(result) + "\n"
    if fmt == "markdown":
        return markdown.render(result, grades=grades)
    return text.render(result, grades=grades, color=color)


def fails(result: ScanResult, threshold: str | None) -> bool:
    """Return True when a finding at or above ``threshold`` is present."""
    if not threshold:
        return False
    limit = Severity.parse(threshold).rank
    return any(issue.severity.rank >= limit for issue in result.issues)


def baseline_fingerprints(path: str) -> frozenset[str]:
    """Return the fingerprints of an earlier ``--format json`` or SARIF report.

    Raise :class:`UsageError` saying why when the file is neither.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read the baseline {path}: {exc.strerror}") from None
    except (ValueError, UnicodeDecodeError):
        raise UsageError(
            f"the baseline {path} is not JSON: use a report of "
            "`plumbline scan --format json` (or sarif)"
        ) from None
    found: set[str] = set()
    if isinstance(data, dict) and isinstance(data.get("findings"), list):
        found.update(
            str(f["fingerprint"])
            for f in data["findings"]
            if isinstance(f, dict) and f.get("fingerprint")
        )
    elif isinstance(data, dict) and isinstance(data.get("runs"), list):
        for run_ in data["runs"]:
            for item in (run_ or {}).get("results") or ():
                prints = (item or {}).get("partialFingerprints") or {}
                if prints.get(sarif.FINGERPRINT_KEY):
                    found.add(str(prints[sarif.FINGERPRINT_KEY]))
    else:
        raise UsageError(f"the baseline {path} is not a Plumbline JSON or SARIF report")
    return frozenset(found)


def without_baseline(result: ScanResult, known: frozenset[str]) -> ScanResult:
    """Return ``result`` without the findings whose fingerprint is ``known``."""
    return ScanResult(
        targets=tuple(
            replace(t, issues=tuple(i for i in t.issues if i.fingerprint not in known))
            for t in result.targets
        ),
        issues=tuple(i for i in result.issues if i.fingerprint not in known),
    )


def _write(stream: TextIO, content: str) -> None:
    try:
        stream.write(content)
    except UnicodeEncodeError:
        stream.flush()
        stream.buffer.write(content.encode("utf-8"))
    stream.flush()


def upload_url(server: str, project: str) -> str:
    """Return the endpoint that takes uploaded scans of ``project``."""
    return (
        f"{server.rstrip('/')}/api/v1/projects/"
        f"{urllib.parse.quote(project, safe='')}/uploads"
    )


def upload(
    result: ScanResult, *, server: str, project: str, token: str, timeout: float = 60
) -> dict[str, Any]:
    """Send ``result`` to a Plumbline server; return its answer.

    Raise :class:`UsageError` with the server's message when it refuses.
    """
    body = json_out.render(result).encode("utf-8")
    request = urllib.request.Request(
        upload_url(server, project),
        data=body,
        method="POST",
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            answer: dict[str, Any] = json.loads(response.read().decode("utf-8"))
            return answer
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read().decode("utf-8")).get("error") or ""
        except (ValueError, AttributeError):
            message = ""
        raise UsageError(
            f"the server refused the upload ({exc.code}): {message or exc.reason}"
        ) from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UsageError(f"cannot reach {server}: {reason}") from exc


def _upload(args: argparse.Namespace, result: ScanResult, err: TextIO) -> int:
    token = os.environ.get("PLUMBLINE_TOKEN", "").strip()
    if not args.project:
        print("plumbline scan: error: --upload needs --project SLUG", file=err)
        return EXIT_USAGE
    if not token:
        print(
            "plumbline scan: error: --upload needs a project token in PLUMBLINE_TOKEN",
            file=err,
        )
        return EXIT_USAGE
    try:
        answer = upload(result, server=args.upload, project=args.project, token=token)
    except UsageError as exc:
        print(f"plumbline scan: error: {exc}", file=err)
        return EXIT_USAGE
    print(
        f"plumbline: uploaded as audit #{answer.get('audit')} "
        f"({answer.get('status')}): {answer.get('new', 0)} new, "
        f"{answer.get('fixed', 0)} fixed, {answer.get('open', 0)} open; "
        f"{answer.get('url', '')}",
        file=err,
    )
    return gate_status(answer, err) if args.gate else EXIT_OK


def gate_status(answer: dict[str, Any], err: TextIO) -> int:
    """Print the server's gate verdict on an uploaded audit; return the exit status.

    1 when the gate failed (each finding that failed it is listed), 0 when
    it passed, 2 when the audit has no verdict (it failed outright).
    """
    gate = answer.get("gate")
    if not isinstance(gate, dict):
        print(
            "plumbline scan: error: the server's answer has no quality gate verdict "
            "(a server older than the gate?)",
            file=err,
        )
        return EXIT_USAGE
    passed = gate.get("passed")
    if passed is None:
        print(
            "plumbline: quality gate: no verdict, the audit failed: "
            f"{answer.get('error') or 'no reason given'}",
            file=err,
        )
        return EXIT_USAGE
    rules = "; ".join(gate.get("rules") or []) or "no rules"
    if gate.get("baseline"):
        print(
            f"plumbline: quality gate: {gate['baseline']} finding(s) present when "
            "their target was first audited are the baseline, not new",
            file=err,
        )
    if passed:
        print(f"plumbline: quality gate passed (fails on: {rules})", file=err)
        return EXIT_OK
    failed = gate.get("failed", 0)
    print(
        f"plumbline: quality gate FAILED: {failed} finding(s) (fails on: {rules})",
        file=err,
    )
    listed = gate.get("findings") or []
    for f in listed:
        print(
            f"  {str(f.get('severity', '')).upper():8} {f.get('reason', ''):10} "
            f"{f.get('title', '')} [{f.get('check', '')}] {f.get('location', '')}",
            file=err,
        )
    if failed > len(listed):
        print(f"  ... and {failed - len(listed)} more on the audit page", file=err)
    return EXIT_FAIL_ON


def _usage(args: argparse.Namespace) -> str | None:
    """Return what is wrong with the combination of options, if anything."""
    if args.upload and not args.project:
        return "--upload needs --project SLUG"
    if args.gate and not args.upload:
        return "--gate needs --upload URL: the gate is the server's"
    return None


def _scan(args: argparse.Namespace, targets: list[Target], err: TextIO) -> ScanResult:
    started = time.monotonic()

    def progress(message: str) -> None:
        print(f"plumbline: {message}", file=err, flush=True)

    result = scan(targets, progress=progress if args.progress else None)
    if args.progress:
        progress(
            f"done: {len(result.issues)} finding(s) from {len(targets)} target(s) "
            f"in {time.monotonic() - started:.2f} s"
        )
    for failed in (t for t in result.targets if not t.ok):
        print(f"plumbline: {failed.target.label}: {failed.error}", file=err)
    return result


def run(args: argparse.Namespace) -> int:
    """Scan the targets named on the command line and return the exit status."""
    err: TextIO = sys.stderr
    try:
        problem = _usage(args)
        if problem:
            raise UsageError(problem)
        known = baseline_fingerprints(args.baseline) if args.baseline else None
        targets = resolve_targets(
            args.targets,
            dialect=args.dialect,
            exclude=args.exclude,
            timeout=args.timeout,
        )
        targets = migration_command.targets(args, targets)
        if not targets:
            raise UsageError("name a TARGET or --migrations DIR")
    except (UsageError, ConfigError) as exc:
        print(f"plumbline scan: error: {exc}", file=err)
        return EXIT_USAGE
    full = _scan(args, targets, err)
    # The server reconciles the whole scan; --since and the baseline narrow
    # the report and what --fail-on judges.
    result = full
    if args.since:
        try:
            result = migration_command.only_changed(result, args.since)
        except SourceError as exc:
            print(f"plumbline scan: error: --since: {exc}", file=err)
            return EXIT_USAGE
    if known is not None:
        narrowed = without_baseline(result, known)
        print(
            f"plumbline: {len(result.issues) - len(narrowed.issues)} finding(s) in the "
            f"baseline left out; {len(narrowed.issues)} new",
            file=err,
        )
        result = narrowed
    if args.output:
        content = render_result(result, args.format)
        try:
            Path(args.output).write_text(content, encoding="utf-8")
        except OSError as exc:
            print(f"plumbline scan: error: cannot write {args.output}: {exc}", file=err)
            return EXIT_USAGE
    else:
        color = args.format == "text" and text.use_color(sys.stdout)
        _write(sys.stdout, render_result(result, args.format, color=color))

    if full.targets and not any(t.ok for t in full.targets):
        return EXIT_USAGE
    status = _upload(args, full, err) if args.upload else EXIT_OK
    if status != EXIT_OK:
        return status
    return EXIT_FAIL_ON if fails(result, args.fail_on) else EXIT_OK
