"""A scanned project's own settings: ``[tool.plumbline]`` and inline ignores.

A project configures Plumbline the way linters are configured: in
``[tool.plumbline]`` of its ``pyproject.toml`` or in a ``.plumbline.toml``
(the same keys at the top level; it wins when both exist)::

    [tool.plumbline]
    exclude = ["tests", "docs"]          # replaces the default excludes
    extend-exclude = ["scripts/old_*"]    # adds to them
    code-exclude = ["migrations"]         # skipped by the code checks only
    disable = ["backup-missing"]
    deploy-lock-timeout = "3s"            # the deploy sets lock_timeout itself
    schema-from-migrations = true         # judge the schema Django's migrations build
    [tool.plumbline.severity]
    query-n-plus-one = "low"

``deploy-lock-timeout`` says the deploy runs migrations with a lock
timeout set outside the migration files (on the role or the database, or
by the migration runner), so ``migration-lock-timeout-missing`` does not
ask each file to set one.

``schema-from-migrations`` judges the schema a project's Django migrations
build with the schema checks, when the project has no DDL and no database
target. It is off by default: on real projects the migrations alone showed
proxy models as tables, missed ``auto_now`` inherited from abstract bases
and took generic relations for missing foreign keys.

One finding is suppressed in the code itself with
``# plumbline: ignore[check-id] reason`` on its line, on the line above it,
or on the ``def`` line of the function that holds it. A suppression must say
why: one without a reason suppresses nothing and becomes a note.
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .issues import Issue, Severity

# Folders and files that hold no production code or schema: tests, docs,
# virtual environments, dependencies and vendored copies of other projects.
DEFAULT_EXCLUDE: tuple[str, ...] = (
    "tests",
    "test",
    "testing",
    "test_*.py",
    "*_test.py",
    "tests.py",
    "conftest.py",
    "docs",
    "doc",
    ".venv",
    "venv",
    "env",
    "node_modules",
    "vendor",
    "vendored",
    "_vendor",
    "third_party",
    "site-packages",
)
# Migration scripts describe the schema's history; they are read for the
# schema but run once, so the code checks leave them alone.
DEFAULT_CODE_EXCLUDE: tuple[str, ...] = ("migrations", "alembic", "migrate")
CONFIG_FILE = ".plumbline.toml"
_KEYS = frozenset(
    {
        "exclude",
        "extend-exclude",
        "code-exclude",
        "disable",
        "severity",
        "deploy-lock-timeout",
        "schema-from-migrations",
    }
)
# A lock timeout: milliseconds, or a number with PostgreSQL's units.
_TIMEOUT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(us|ms|s|min|h|d)?\s*$")
_IGNORE = re.compile(
    r"#\s*plumbline:\s*ignore\[(?P<checks>[A-Za-z0-9_,\s-]+)\](?P<reason>[^#\n]*)"
)


def expand_patterns(patterns: Iterable[str]) -> tuple[str, ...]:
    """Return ``patterns`` with each folder path also matching what it holds."""
    out: list[str] = []
    for pattern in patterns:
        out.append(pattern)
        if "/" in pattern.rstrip("/") and not pattern.endswith("*"):
            out.append(pattern.rstrip("/") + "/*")
    return tuple(dict.fromkeys(out))


class ConfigError(ValueError):
    """The project's Plumbline settings cannot be used; the message says why."""


@dataclass(frozen=True)
class ProjectConfig:
    """What a project asked of the scan, and where that came from."""

    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    code_exclude: tuple[str, ...] = DEFAULT_CODE_EXCLUDE
    disable: frozenset[str] = frozenset()
    severity: tuple[tuple[str, Severity], ...] = ()
    source: str = "defaults"
    # The lock_timeout the deploy sets outside the migrations ('' when none).
    deploy_lock_timeout: str = ""
    # Judge the schema the Django migrations build (see the module's text).
    schema_from_migrations: bool = False

    def as_dict(self) -> dict[str, Any]:
        """Return the settings as plain data, as an audit records them."""
        data: dict[str, Any] = {
            "source": self.source,
            "exclude": list(self.exclude),
            "code_exclude": list(self.code_exclude),
            "disable": sorted(self.disable),
            "severity": {check: sev.value for check, sev in self.severity},
        }
        if self.deploy_lock_timeout:
            data["deploy_lock_timeout"] = self.deploy_lock_timeout
        if self.schema_from_migrations:
            data["schema_from_migrations"] = True
        return data

    def severity_for(self, check: str) -> Severity | None:
        """Return the overriding severity of ``check``, if the project set one."""
        for name, severity in self.severity:
            if name == check:
                return severity
        return None


@dataclass(frozen=True)
class Suppressed:
    """A finding the project suppressed, and why."""

    issue: Issue
    reason: str
    how: str  # "inline" or "disabled"


@dataclass
class Applied:
    """Findings kept and suppressed after a project's settings were applied."""

    kept: list[Issue] = field(default_factory=list)
    suppressed: list[Suppressed] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _strings(value: object, key: str, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: `{key}` must be a list of strings")
    return tuple(value)


def _known_checks() -> frozenset[str]:
    from .registry import all_checks

    return frozenset(spec.id for spec in all_checks())


def parse_config(data: Mapping[str, Any], where: str) -> ProjectConfig:
    """Return the settings in ``data`` (the ``[tool.plumbline]`` table).

    Raise :class:`ConfigError` naming ``where`` and the key for anything
    that is not understood, so a typo never passes silently.
    """
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)}; "
            f"use {', '.join(sorted(_KEYS))}"
        )
    exclude = DEFAULT_EXCLUDE
    if "exclude" in data:
        exclude = _strings(data["exclude"], "exclude", where)
    exclude += _strings(data.get("extend-exclude", []), "extend-exclude", where)
    code_exclude = DEFAULT_CODE_EXCLUDE
    if "code-exclude" in data:
        code_exclude = _strings(data["code-exclude"], "code-exclude", where)
    disable = frozenset(_strings(data.get("disable", []), "disable", where))
    raw_severity = data.get("severity", {})
    if not isinstance(raw_severity, dict):
        raise ConfigError(f"{where}: `severity` must be a table of check = severity")
    severity: list[tuple[str, Severity]] = []
    for check, value in sorted(raw_severity.items()):
        try:
            severity.append((check, Severity.parse(str(value))))
        except ValueError:
            raise ConfigError(
                f"{where}: severity of {check} must be one of "
                f"{', '.join(s.value for s in Severity)}, not {value!r}"
            ) from None
    known = _known_checks()
    named = sorted((set(disable) | {c for c, _ in severity}) - known)
    if named:
        raise ConfigError(f"{where}: unknown check id(s) {', '.join(named)}")
    return ProjectConfig(
        exclude=exclude,
        code_exclude=code_exclude,
        disable=disable,
        severity=tuple(severity),
        source=where,
        deploy_lock_timeout=_lock_timeout(data.get("deploy-lock-timeout"), where),
        schema_from_migrations=_flag(data, "schema-from-migrations", where),
    )


def _flag(data: Mapping[str, Any], key: str, where: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: `{key}` must be true or false, not {value!r}")
    return value


def _lock_timeout(value: object, where: str) -> str:
    """Return ``deploy-lock-timeout`` as text, refusing what sets no timeout.

    PostgreSQL reads 0 as "wait forever", so a zero would only hide the
    finding it is meant to answer.
    """
    if value is None:
        return ""
    text = str(value) if isinstance(value, int | str) and value is not True else ""
    match = _TIMEOUT.match(text)
    if match is None or float(match.group(1)) <= 0:
        raise ConfigError(
            f"{where}: `deploy-lock-timeout` must be the lock timeout the deploy "
            f'sets, more than zero, e.g. "3s" or 3000 (milliseconds), not {value!r}'
        )
    return text.strip()


def load_config(root: Path) -> ProjectConfig:
    """Return the settings of the project at ``root`` (defaults when none).

    ``.plumbline.toml`` wins over ``[tool.plumbline]`` in ``pyproject.toml``.
    """
    folder = root if root.is_dir() else root.parent
    own = folder / CONFIG_FILE
    if own.is_file():
        return parse_config(_read_toml(own), CONFIG_FILE)
    pyproject = folder / "pyproject.toml"
    if pyproject.is_file():
        table = _read_toml(pyproject).get("tool", {}).get("plumbline")
        if isinstance(table, dict):
            return parse_config(table, "pyproject.toml [tool.plumbline]")
    return ProjectConfig()


def config_from_dict(data: Mapping[str, Any] | None) -> ProjectConfig:
    """Return settings stored as plain data (a project's settings page)."""
    if not data:
        return ProjectConfig()
    keys = {k.replace("_", "-"): v for k, v in data.items() if k != "source"}
    if isinstance(keys.get("severity"), dict) and not keys["severity"]:
        keys.pop("severity")
    return parse_config(keys, str(data.get("source") or "project settings"))


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path.name}: cannot read it: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path.name}: not valid TOML: {exc}") from None


@dataclass(frozen=True)
class _Ignore:
    line: int
    checks: frozenset[str]
    reason: str


def _ignores(text: str) -> list[_Ignore]:
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        if "plumbline:" not in line:
            continue
        match = _IGNORE.search(line)
        if match is None:
            continue
        checks = frozenset(
            c.strip() for c in match.group("checks").split(",") if c.strip()
        )
        out.append(_Ignore(number, checks, match.group("reason").strip(" :-—")))
    return out


def _function_lines(text: str) -> list[tuple[int, int, int]]:
    """Return (def line, first line, last line) of every function in ``text``."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([d.lineno for d in node.decorator_list] + [node.lineno])
            out.append((node.lineno, first, node.end_lineno or node.lineno))
    return out


class _FileIgnores:
    """The inline ignores of one file, read once."""

    def __init__(self, text: str):
        self.ignores = _ignores(text)
        self._functions: list[tuple[int, int, int]] | None = None
        self._text = text

    def match(self, check: str, line: int) -> _Ignore | None:
        """Return the ignore that covers ``check`` at ``line``, if any."""
        by_line = {i.line: i for i in self.ignores if check in i.checks}
        if not by_line:
            return None
        for candidate in (line, line - 1):
            if candidate in by_line:
                return by_line[candidate]
        if self._functions is None:
            self._functions = _function_lines(self._text)
        # The innermost function holding the line, judged by its def line.
        holding = [f for f in self._functions if f[1] <= line <= f[2]]
        for def_line, first, _last in sorted(holding, key=lambda f: -f[1]):
            for candidate in range(first - 1, def_line + 1):
                if candidate in by_line:
                    return by_line[candidate]
        return None


def apply_config(
    issues: Iterable[Issue], config: ProjectConfig, root: Path | None
) -> Applied:
    """Apply disabled checks, severity overrides and inline ignores."""
    applied = Applied()
    files: dict[str, _FileIgnores | None] = {}
    noted: set[tuple[str, int]] = set()
    for issue in issues:
        if issue.check in config.disable:
            applied.suppressed.append(
                Suppressed(issue, f"disabled in {config.source}", "disabled")
            )
            continue
        override = config.severity_for(issue.check)
        if override is not None and override != issue.severity:
            issue = issue.with_changes(severity=override)
        ignore = None
        if (
            root is not None
            and issue.file
            and issue.line
            and issue.file.endswith(".py")
        ):
            if issue.file not in files:
                files[issue.file] = _read_ignores(root, issue.file)
            found = files[issue.file]
            if found is not None:
                ignore = found.match(issue.check, issue.line)
        if ignore is not None and not ignore.reason:
            if (issue.file, ignore.line) not in noted:
                noted.add((issue.file, ignore.line))
                applied.notes.append(
                    f"{issue.file}:{ignore.line}: `plumbline: ignore` without a "
                    "reason suppresses nothing; say why after the bracket"
                )
            ignore = None
        if ignore is not None:
            applied.suppressed.append(
                Suppressed(
                    issue,
                    f"{ignore.reason} ({issue.file}:{ignore.line})",
                    "inline",
                )
            )
            continue
        applied.kept.append(issue)
    return applied


def _read_ignores(root: Path, rel: str) -> _FileIgnores | None:
    base = root if root.is_dir() else root.parent
    path = base / rel
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    if "plumbline:" not in text:
        return None
    return _FileIgnores(text)


CONTEXT_LINES = 3  # source lines kept before and after a finding's line


def attach_context(issues: Iterable[Issue], root: Path | None) -> list[Issue]:
    """Return ``issues`` with the source lines around each code finding.

    The lines are read now, at scan time, so the evidence still shows what
    was scanned after the code changes.
    """
    out: list[Issue] = []
    cache: dict[str, list[str] | None] = {}
    base = None if root is None else (root if root.is_dir() else root.parent)
    for issue in issues:
        if base is None or not issue.file or not issue.line or issue.context:
            out.append(issue)
            continue
        if issue.file not in cache:
            try:
                text = (base / issue.file).read_text(encoding="utf-8", errors="replace")
                cache[issue.file] = text.splitlines()
            except OSError:
                cache[issue.file] = None
        lines = cache[issue.file]
        if not lines or issue.line > len(lines):
            out.append(issue)
            continue
        first = max(1, issue.line - CONTEXT_LINES)
        last = min(len(lines), issue.line + CONTEXT_LINES)
        context = tuple((n, lines[n - 1]) for n in range(first, last + 1))
        out.append(issue.with_changes(context=context))
    return out
