"""Measure how many findings are right on real, public code.

Scans every project of ``bench/precision/corpus.toml`` whose checkout is
present in the corpus folder (``--corpus``, else ``PLUMBLINE_CORPUS``, else
``../corpus`` beside this repository), matches each finding to the hand
labels in ``bench/precision/labels.csv``, and writes under the
``## Precision`` heading of ``bench/RESULTS.md``: the corpus table (lines,
scan time, findings per severity, precision at critical/high and at medium,
before and after), precision per check and per severity, and the findings
nobody has judged yet. Checkouts are made by hand (see corpus.toml); the
script says which it skipped.

A label judges one finding: the repository, the check, the file and the
object (the function for code findings, the column or table for schema
ones), optionally one line. Its verdict is ``true`` (right at the severity
it was reported at), ``overrated`` (a real problem that deserves the lower
severity in ``fair``) or ``false``. A finding counts as true at its severity
when it is not false and its severity is no higher than the fair one.

``--record-before`` stores this engine's findings (check, severity, file,
object, line: no code) in ``bench/precision/before.json`` as the baseline the
table compares against.

Run: ``.venv/bin/python bench/bench_precision.py [--corpus DIR] [--record-before]``
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import platform
import re
import sys
import time
import tomllib
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audits.engine.scan import scan  # noqa: E402
from audits.engine.scan_command import SKIPPED_DIRS, resolve_targets  # noqa: E402

HERE = ROOT / "bench" / "precision"
CORPUS = HERE / "corpus.toml"
LABELS = HERE / "labels.csv"
BEFORE = HERE / "before.json"
RESULTS = ROOT / "bench" / "RESULTS.md"
HEADING = "## Precision"
SEVERITIES = ("critical", "high", "medium", "low", "info")
RANK = {s: 4 - i for i, s in enumerate(SEVERITIES)}
VERDICTS = ("true", "false", "overrated")
LABEL_FIELDS = (
    "repository",
    "commit",
    "check",
    "file",
    "object",
    "line",
    "severity",
    "verdict",
    "fair",
    "reason",
)


@dataclass(frozen=True)
class Project:
    checkout: str
    repository: str
    commit: str
    stack: str
    kind: str


@dataclass(frozen=True)
class Label:
    repository: str
    check: str
    file: str
    object: str
    line: int | None
    severity: str
    verdict: str
    fair: str
    reason: str

    def true_at(self, severity: str) -> bool:
        """Return True when a finding at ``severity`` is right at it."""
        if self.verdict == "false":
            return False
        fair = self.fair or self.severity
        return RANK[severity] <= RANK[fair]


def load_projects() -> list[Project]:
    """Return the corpus projects in the order of corpus.toml."""
    data = tomllib.loads(CORPUS.read_text(encoding="utf-8"))
    return [Project(**p) for p in data["project"]]


def load_labels() -> list[Label]:
    """Return the labels, refusing rows that do not follow the format."""
    labels: list[Label] = []
    with LABELS.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != LABEL_FIELDS:
            raise SystemExit(f"{LABELS}: header must be {','.join(LABEL_FIELDS)}")
        for number, row in enumerate(reader, start=2):
            verdict = row["verdict"].strip()
            fair = row["fair"].strip()
            if verdict not in VERDICTS or (fair and fair not in RANK):
                raise SystemExit(f"{LABELS}:{number}: bad verdict or fair severity")
            if row["severity"] not in RANK:
                raise SystemExit(f"{LABELS}:{number}: bad severity")
            line = row["line"].strip()
            labels.append(
                Label(
                    repository=row["repository"],
                    check=row["check"],
                    file=row["file"],
                    object=row["object"],
                    line=int(line) if line else None,
                    severity=row["severity"],
                    verdict=verdict,
                    fair=fair if verdict != "false" else "",
                    reason=row["reason"],
                )
            )
    return labels


class LabelIndex:
    """Find the label that judges a finding: by line first, then by object."""

    def __init__(self, labels: list[Label]):
        self._by_line: dict[tuple[str, str, str, str, int], Label] = {}
        self._by_object: dict[tuple[str, str, str, str], Label] = {}
        for label in labels:
            key = (label.repository, label.check, label.file, label.object)
            if label.line is not None:
                self._by_line[(*key, label.line)] = label
            else:
                self._by_object[key] = label

    def find(self, repository: str, finding: dict[str, Any]) -> Label | None:
        """Return the label for ``finding`` of ``repository``, if any."""
        key = (
            repository,
            finding["check"],
            finding.get("file") or "",
            finding.get("object") or "",
        )
        line = finding.get("line")
        if line is not None and (*key, line) in self._by_line:
            return self._by_line[(*key, line)]
        return self._by_object.get(key)


def corpus_folder(given: str | None) -> Path:
    """Return the folder that holds the checkouts."""
    if given:
        return Path(given)
    if os.environ.get("PLUMBLINE_CORPUS"):
        return Path(os.environ["PLUMBLINE_CORPUS"])
    return ROOT.parent / "corpus"


def python_lines(folder: Path) -> int:
    """Return the lines of Python the code scan reads under ``folder``."""
    total = 0
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if d not in SKIPPED_DIRS]
        for name in filenames:
            if name.endswith(".py"):
                with open(os.path.join(dirpath, name), "rb") as handle:
                    total += sum(1 for _ in handle)
    return total


def _relative(file: str | None, folder: Path) -> str:
    if not file:
        return ""
    path = Path(file)
    if path.is_absolute():
        try:
            return path.relative_to(folder).as_posix()
        except ValueError:
            return path.as_posix()
    return path.as_posix()


def scan_project(folder: Path) -> dict[str, Any]:
    """Scan one checkout and return its figures and findings (no code)."""
    targets = resolve_targets([str(folder)])
    started = time.perf_counter()
    result = scan(targets)
    seconds = time.perf_counter() - started
    findings = []
    for issue in result.issues:
        data = issue.as_dict()
        findings.append(
            {
                "check": data["check"],
                "severity": data["severity"],
                "file": _relative(data["file"], folder),
                "object": data["object"],
                "line": data["line"],
            }
        )
    failed = [f"{t.target.label}: {t.error}" for t in result.targets if not t.ok]
    return {
        "lines": python_lines(folder),
        "seconds": round(seconds, 2),
        "findings": findings,
        "errors": failed,
    }


def judge(
    projects: list[Project], runs: dict[str, dict[str, Any]], index: LabelIndex
) -> dict[str, Any]:
    """Return precision figures for ``runs`` (checkout -> scan figures)."""
    per_project: dict[str, dict[str, Any]] = {}
    per_check: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    per_severity: dict[str, Counter[str]] = defaultdict(Counter)
    unlabelled: list[tuple[str, dict[str, Any]]] = []
    for project in projects:
        run = runs.get(project.checkout)
        if run is None:
            continue
        counts: Counter[str] = Counter()
        bands: dict[str, Counter[str]] = {"ch": Counter(), "medium": Counter()}
        for finding in run["findings"]:
            severity = finding["severity"]
            counts[severity] += 1
            label = index.find(project.repository, finding)
            band = "ch" if severity in ("critical", "high") else severity
            if label is None:
                per_check[(finding["check"], band)]["unlabelled"] += 1
                per_severity[severity]["unlabelled"] += 1
                if severity in ("critical", "high", "medium"):
                    unlabelled.append((project.checkout, finding))
                continue
            right = label.true_at(severity)
            outcome = "true" if right else "wrong"
            per_check[(finding["check"], band)][outcome] += 1
            per_severity[severity][outcome] += 1
            if band in bands:
                bands[band][outcome] += 1
        per_project[project.checkout] = {
            "counts": counts,
            "ch": bands["ch"],
            "medium": bands["medium"],
        }
    return {
        "projects": per_project,
        "checks": per_check,
        "severities": per_severity,
        "unlabelled": unlabelled,
    }


def ratio(counter: Counter[str]) -> str:
    """Return 'true/judged (percent)' or a dash when nothing was judged."""
    judged = counter["true"] + counter["wrong"]
    if not judged:
        return "–"
    text = f"{counter['true']}/{judged} ({100 * counter['true'] / judged:.0f}%)"
    if counter["unlabelled"]:
        text += f", {counter['unlabelled']} unjudged"
    return text


def _band_ratio(band: Counter[str], total: int) -> str:
    judged = band["true"] + band["wrong"]
    unjudged = total - judged
    text = "–"
    if judged:
        text = f"{band['true']}/{judged} ({100 * band['true'] / judged:.0f}%)"
    if unjudged:
        text += f", {unjudged} unjudged"
    return text


def _severity_cells(counts: Counter[str]) -> str:
    return " / ".join(str(counts[s]) for s in SEVERITIES)


def _totals(
    figures: dict[str, Any], runs: dict[str, dict[str, Any]]
) -> tuple[int, float, Counter[str], Counter[str], Counter[str]]:
    lines = sum(run["lines"] for run in runs.values())
    seconds = sum(run["seconds"] for run in runs.values())
    counts: Counter[str] = Counter()
    ch: Counter[str] = Counter()
    medium: Counter[str] = Counter()
    for project in figures["projects"].values():
        counts.update(project["counts"])
        ch.update(project["ch"])
        medium.update(project["medium"])
    return lines, seconds, counts, ch, medium


def corpus_table(
    projects: list[Project],
    before: dict[str, dict[str, Any]],
    after: dict[str, dict[str, Any]],
    before_figures: dict[str, Any],
    after_figures: dict[str, Any],
) -> list[str]:
    """Return the Markdown rows of the before/after corpus table."""
    rows = [
        "| Project | Commit | Stack | Lines | When | Scan (s) | Findings "
        "c / h / m / l / i | Critical+high true | Medium true |",
        "|---|---|---|---:|---|---:|---|---|---|",
    ]
    for project in projects:
        for when, runs, figures in (
            ("before", before, before_figures),
            ("after", after, after_figures),
        ):
            run = runs.get(project.checkout)
            if run is None:
                continue
            mine = figures["projects"][project.checkout]
            ch_total = mine["counts"]["critical"] + mine["counts"]["high"]
            rows.append(
                f"| {project.repository} | {project.commit[:10]} | {project.stack} "
                f"| {run['lines']:,} | {when} | {run['seconds']:.2f} "
                f"| {_severity_cells(mine['counts'])} "
                f"| {_band_ratio(mine['ch'], ch_total)} "
                f"| {_band_ratio(mine['medium'], mine['counts']['medium'])} |"
            )
    for when, runs, figures in (
        ("before", before, before_figures),
        ("after", after, after_figures),
    ):
        if not runs:
            continue
        lines, seconds, counts, ch, medium = _totals(figures, runs)
        rows.append(
            f"| **all** | | | {lines:,} | {when} | {seconds:.2f} "
            f"| {_severity_cells(counts)} "
            f"| {_band_ratio(ch, counts['critical'] + counts['high'])} "
            f"| {_band_ratio(medium, counts['medium'])} |"
        )
    return rows


def check_table(figures: dict[str, Any]) -> list[str]:
    """Return the Markdown rows of precision per check and severity band."""
    checks = sorted({check for check, _band in figures["checks"]})
    rows = [
        "| Check | Critical+high | Medium | Low | Info |",
        "|---|---|---|---|---|",
    ]
    for check in checks:
        cells = [
            ratio(figures["checks"].get((check, band), Counter()))
            for band in ("ch", "medium", "low", "info")
        ]
        rows.append(f"| `{check}` | " + " | ".join(cells) + " |")
    return rows


def severity_table(figures: dict[str, Any]) -> list[str]:
    """Return the Markdown rows of precision per severity."""
    rows = ["| Severity | True at its severity |", "|---|---|"]
    for severity in SEVERITIES:
        rows.append(
            f"| {severity} | {ratio(figures['severities'].get(severity, Counter()))} |"
        )
    return rows


def unlabelled_rows(figures: dict[str, Any]) -> list[str]:
    """Return the unjudged critical, high and medium findings as a list."""
    order = {"critical": 0, "high": 1, "medium": 2}
    items = sorted(
        figures["unlabelled"],
        key=lambda item: (order[item[1]["severity"]], item[0], item[1]["check"]),
    )
    if not items:
        return ["Every critical, high and medium finding has a label."]
    rows = []
    for checkout, finding in items:
        where = finding["file"] or ""
        if finding.get("line"):
            where += f":{finding['line']}"
        rows.append(
            f"- {finding['severity']} `{finding['check']}` {checkout} {where} "
            f"`{finding['object']}`"
        )
    return rows


def write_results(text: str) -> None:
    """Replace the Precision section of RESULTS.md with ``text``."""
    current = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    pattern = re.compile(rf"^{re.escape(HEADING)}\n.*?(?=^## |\Z)", re.M | re.S)
    if pattern.search(current):
        updated = pattern.sub(lambda _m: text, current)
    else:
        updated = current.rstrip("\n") + "\n\n" + text
    RESULTS.write_text(updated, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Scan the corpus, judge the findings and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", help="folder holding the checkouts")
    parser.add_argument(
        "--record-before",
        action="store_true",
        help="store this engine's findings as the baseline (before.json)",
    )
    args = parser.parse_args(argv)
    # sqlglot warns about every statement it reads only in part; the scan
    # already turns what matters into notes.
    logging.getLogger("sqlglot").setLevel(logging.ERROR)

    projects = load_projects()
    index = LabelIndex(load_labels())
    folder = corpus_folder(args.corpus)
    runs: dict[str, dict[str, Any]] = {}
    skipped: list[str] = []
    for project in projects:
        checkout = folder / project.checkout
        if not checkout.is_dir():
            skipped.append(project.checkout)
            print(f"skipped {project.repository}: no checkout at {checkout}")
            continue
        runs[project.checkout] = scan_project(checkout)
        run = runs[project.checkout]
        print(
            f"{project.repository}: {run['lines']:,} lines, {run['seconds']:.2f} s, "
            f"{len(run['findings'])} findings"
        )
        for error in run["errors"]:
            print(f"  error: {error}")
    if not runs:
        print(f"no checkout found under {folder}; nothing written")
        return 0

    if args.record_before:
        BEFORE.write_text(json.dumps(runs, indent=1, sort_keys=True) + "\n")
        print(f"baseline written to {BEFORE}")
    before = json.loads(BEFORE.read_text()) if BEFORE.exists() else {}
    before = {name: run for name, run in before.items() if name in runs}
    after_figures = judge(projects, runs, index)
    before_figures = judge(projects, before, index)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        HEADING,
        "",
        f"`bench/bench_precision.py`: `plumbline scan` of each project of "
        f"`bench/precision/corpus.toml` at its pinned commit, every finding "
        f"matched to the hand labels of `bench/precision/labels.csv` (each "
        f"judged by reading the code). *Before* is the engine of the "
        f"baseline in `bench/precision/before.json`, *after* is this one. "
        f"A finding is true when the problem is real at the severity "
        f"reported. Scan time is one run's wall time on a shared 2-core "
        f"machine (1-minute load average {load:.1f}, Python "
        f"{platform.python_version()}).",
        "",
        *corpus_table(projects, before, runs, before_figures, after_figures),
        "",
    ]
    if skipped:
        lines += [f"Skipped (no checkout): {', '.join(skipped)}.", ""]
    lines += [
        "### Precision per check (after)",
        "",
        *check_table(after_figures),
        "",
        "### Precision per severity (after)",
        "",
        *severity_table(after_figures),
        "",
        "### Findings still to judge (after: critical, high, medium)",
        "",
        *unlabelled_rows(after_figures),
        "",
    ]
    write_results("\n".join(lines))
    print(f"results written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
