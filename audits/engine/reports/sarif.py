"""Read results out of SARIF 2.1.0 logs written by other tools.

Each run's tool name prefixes its rule ids, so ``LT01`` from sqlfluff becomes
the check ``sqlfluff:LT01``. Malformed parts of a log are skipped with a
warning rather than failing the whole import.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any
from urllib.parse import unquote

from audits.engine.issues import Dimension, Severity, make_fingerprint, normalise

from .types import ItemStatus, ParsedReport, ReportError, ReportItem
from .values import clean_path, severity_in_cell

_LEVELS = {
    "error": Severity.HIGH,
    "warning": Severity.MEDIUM,
    "note": Severity.LOW,
    "none": Severity.INFO,
}
_SEVERITY_PROPERTIES = ("issue_severity", "severity", "problem.severity", "priority")
_PROBLEM_SEVERITY = {"recommendation": Severity.LOW}
_SKIPPED_KINDS = frozenset({"pass", "notApplicable"})
_MAX_TEXT = 4000


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return int(value)


def tool_slug(name: str) -> str:
    """Return a tool name as a check prefix: lower case, spaces as dashes."""
    return re.sub(r"\s+", "-", name.strip().lower()) or "sarif"


def security_severity(value: Any) -> Severity | None:
    """Return the severity a CVSS-like ``security-severity`` score means."""
    try:
        score = float(value)
    except (TypeError, ValueError):
        return None
    if score != score:  # NaN
        return None
    if score >= 9.0:
        return Severity.CRITICAL
    if score >= 7.0:
        return Severity.HIGH
    if score >= 4.0:
        return Severity.MEDIUM
    if score > 0.0:
        return Severity.LOW
    return Severity.INFO


def _property_severity(properties: dict[str, Any]) -> Severity | None:
    for key in _SEVERITY_PROPERTIES:
        value = _str(properties.get(key)).strip().lower()
        if not value:
            continue
        if value in _PROBLEM_SEVERITY:
            return _PROBLEM_SEVERITY[value]
        if value in _LEVELS:
            return _LEVELS[value]
        found = severity_in_cell(value)
        if found is not None:
            return found
    return None


def _message(message: Any, rule: dict[str, Any]) -> str:
    message = _obj(message)
    text = _str(message.get("text")) or _str(message.get("markdown"))
    if not text:
        template = _obj(_obj(rule.get("messageStrings")).get(_str(message.get("id"))))
        text = _str(template.get("text"))
    arguments = _list(message.get("arguments"))

    def substitute(match: re.Match[str]) -> str:
        index = int(match.group(1))
        return str(arguments[index]) if index < len(arguments) else match.group(0)

    return re.sub(r"\{(\d+)\}", substitute, text)[:_MAX_TEXT]


def _text(value: Any) -> str:
    value = _obj(value)
    return (_str(value.get("text")) or _str(value.get("markdown")))[:_MAX_TEXT]


class _Run:
    def __init__(self, run: dict[str, Any], root: str, warnings: list[str]) -> None:
        tool = _obj(run.get("tool"))
        driver = _obj(tool.get("driver"))
        self.name = _str(driver.get("name")) or "sarif"
        self.slug = tool_slug(self.name)
        self.rules = [_obj(r) for r in _list(driver.get("rules"))]
        self.by_id: dict[str, dict[str, Any]] = {}
        for component in [driver, *map(_obj, _list(tool.get("extensions")))]:
            for rule in map(_obj, _list(component.get("rules"))):
                rule_id = _str(rule.get("id"))
                if rule_id:
                    self.by_id.setdefault(rule_id, rule)
        self.artifacts = [_obj(a) for a in _list(run.get("artifacts"))]
        self.logical = [_obj(a) for a in _list(run.get("logicalLocations"))]
        self.bases: dict[str, str] = {}
        for key, base in _obj(run.get("originalUriBaseIds")).items():
            self.bases[key] = _path(_str(_obj(base).get("uri")))
        self.roots = [r for r in (root, *self.bases.values()) if r]
        for invocation in map(_obj, _list(run.get("invocations"))):
            cwd = _path(_str(_obj(invocation.get("workingDirectory")).get("uri")))
            if cwd:
                self.roots.append(cwd)
        self.warnings = warnings

    def rule(self, result: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        rule_id = _str(result.get("ruleId")) or _str(_obj(result.get("rule")).get("id"))
        index = _int(result.get("ruleIndex"))
        if index is None:
            index = _int(_obj(result.get("rule")).get("index"))
        rule: dict[str, Any] = {}
        if index is not None and index < len(self.rules):
            rule = self.rules[index]
        elif rule_id in self.by_id:
            rule = self.by_id[rule_id]
        return rule_id or _str(rule.get("id")), rule

    def location(self, result: dict[str, Any]) -> tuple[str, int | None, str, str]:
        """Return file, line, snippet and logical object of a result."""
        locations = [_obj(loc) for loc in _list(result.get("locations"))]
        first = locations[0] if locations else {}
        physical = _obj(first.get("physicalLocation"))
        artifact = _obj(physical.get("artifactLocation"))
        uri = _str(artifact.get("uri"))
        index = _int(artifact.get("index"))
        if not uri and index is not None and index < len(self.artifacts):
            uri = _str(_obj(self.artifacts[index].get("location")).get("uri"))
        base = self.bases.get(_str(artifact.get("uriBaseId")), "")
        path = self.relative(_path(uri), base)
        region = _obj(physical.get("region"))
        line = _int(region.get("startLine"))
        snippet = _text(region.get("snippet")) or _text(
            _obj(physical.get("contextRegion")).get("snippet")
        )
        obj = ""
        for logical in map(_obj, _list(first.get("logicalLocations"))):
            idx = _int(logical.get("index"))
            if idx is not None and idx < len(self.logical):
                logical = {**self.logical[idx], **logical}
            obj = _str(logical.get("fullyQualifiedName")) or _str(logical.get("name"))
            if obj:
                break
        return path, line, snippet, obj

    def relative(self, path: str, base: str) -> str:
        if not path:
            return ""
        if not path.startswith("/") and base:
            return path
        for root in self.roots:
            prefix = root.rstrip("/") + "/"
            if path.startswith(prefix):
                return path[len(prefix) :]
        return path


def _path(uri: str) -> str:
    return clean_path(unquote(uri)) if uri else ""


def parse_sarif(document: dict[str, Any], *, root: str = "") -> ParsedReport:
    """Return the results of a SARIF 2.1.0 log as report items.

    Identical results (same fingerprint and place) are merged; the same
    rule and text at another place in a file is told apart by its rank.
    Results of kind ``pass`` or ``notApplicable`` are skipped.
    """
    warnings: list[str] = []
    version = _str(document.get("version"))
    if version and version != "2.1.0":
        warnings.append(f"SARIF version {version} is not 2.1.0; read it as 2.1.0.")
    runs = document.get("runs")
    if not isinstance(runs, list):
        raise ReportError("The SARIF file's 'runs' is not a list.")
    items: dict[str, ReportItem] = {}
    places: dict[str, list[tuple[str, int | None]]] = {}
    tools: list[str] = []
    merged = 0
    for number, raw_run in enumerate(runs, start=1):
        if not isinstance(raw_run, dict):
            warnings.append(f"Run {number} is not an object; skipped.")
            continue
        run = _Run(raw_run, root, warnings)
        if run.slug not in tools:
            tools.append(run.slug)
        results = raw_run.get("results")
        if results is not None and not isinstance(results, list):
            warnings.append(f"Run {number} has 'results' that is not a list; skipped.")
            continue
        for position, result in enumerate(_list(results), start=1):
            if not isinstance(result, dict):
                warnings.append(f"Run {number}, result {position} is not an object.")
                continue
            item = _item(run, result)
            if item is None:
                continue
            place = (item.file, item.line)
            seen = places.setdefault(item.fingerprint, [])
            if place in seen:
                merged += 1
                continue
            seen.append(place)
            if len(seen) > 1:
                # The same rule and text elsewhere in the file is a second
                # finding; its rank among them keeps it apart, not its line.
                item = replace(
                    item,
                    fingerprint=make_fingerprint(
                        item.fingerprint, f"occurrence {len(seen)}"
                    ),
                )
            items[item.fingerprint] = item
    if merged:
        warnings.append(f"{merged} duplicate result(s) were merged.")
    if not items:
        warnings.append("No findings: the SARIF log has no results.")
    tool = ", ".join(tools)
    return ParsedReport(
        kind="sarif",
        title=f"SARIF results from {tool}" if tool else "SARIF results",
        items=tuple(items.values()),
        tool=tool,
        warnings=tuple(warnings),
    )


def _item(run: _Run, result: dict[str, Any]) -> ReportItem | None:
    if _str(result.get("kind")) in _SKIPPED_KINDS:
        return None
    rule_id, rule = run.rule(result)
    rule_id = rule_id or "unknown"
    check = f"{run.slug}:{rule_id}"
    properties = _obj(result.get("properties"))
    rule_properties = _obj(rule.get("properties"))
    default_level = _str(_obj(rule.get("defaultConfiguration")).get("level"))
    severity = (
        security_severity(properties.get("security-severity"))
        or security_severity(rule_properties.get("security-severity"))
        or _LEVELS.get(_str(result.get("level")))
        or _property_severity(properties)
        or _LEVELS.get(default_level)
        or _property_severity(rule_properties)
        or Severity.MEDIUM
    )
    path, line, snippet, obj = run.location(result)
    message = _message(result.get("message"), rule)
    short = _text(rule.get("shortDescription"))
    full = _text(rule.get("fullDescription"))
    title = message.strip().split("\n", 1)[0][:300] or short or rule_id
    description = full or short
    if message and message.strip() != title:
        description = f"{message}\n\n{description}".strip()
    remediation = _text(rule.get("help"))
    help_uri = _str(rule.get("helpUri"))
    if help_uri and help_uri not in remediation:
        remediation = f"{remediation}\n\n{help_uri}".strip()
    status: ItemStatus = "open"
    suppressions = [_obj(s) for s in _list(result.get("suppressions"))]
    if any(_str(s.get("status")) in ("", "accepted") for s in suppressions):
        status = "documented"
    elif _str(result.get("baselineState")) == "absent":
        status = "fixed"
    tags = [t for t in _list(rule_properties.get("tags")) if isinstance(t, str)]
    dimension = None
    if "security" in (t.lower() for t in tags) or (
        "security-severity" in properties or "security-severity" in rule_properties
    ):
        dimension = Dimension.SECURITY
    return ReportItem(
        ref=rule_id,
        title=title,
        severity=severity,
        status=status,
        file=path,
        line=line,
        object=obj,
        description=description,
        remediation=remediation,
        check=check,
        dimension=dimension,
        fingerprint=_fingerprint(check, result, path, snippet, message, obj),
    )


def _fingerprint(
    check: str, result: dict[str, Any], path: str, snippet: str, message: str, obj: str
) -> str:
    for key in ("partialFingerprints", "fingerprints"):
        prints = _obj(result.get(key))
        parts = [f"{k}={v}" for k, v in sorted(prints.items()) if isinstance(v, str)]
        if parts:
            return make_fingerprint(check, *parts)
    # Never the line: code moving down a file must not make a new finding.
    return make_fingerprint(check, path, obj, normalise(snippet or message))
