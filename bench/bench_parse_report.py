"""Benchmark parsing 1,000-finding Markdown reports in three styles.

Generates each report in memory (sections with ids plus a restating appendix
and checklist; ``Issue #N`` sections with Impact lines plus a recommendation
list of cross-references; Location/Impact/Recommendation tables under
severity headings plus a restating tech-debt table), parses it seven times
after one warm-up, and writes the median (min-max) wall and CPU time under
the ``## Report parsing`` heading of ``bench/RESULTS.md``. Target: under
0.5 s each. The engine alone runs, so no database is involved.

Run: ``.venv/bin/python bench/bench_parse_report.py [--runs N]``
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audits.engine.reports import parse_report  # noqa: E402
from audits.engine.reports.markdown.text import clear_caches  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS.md"
N = 1000
SEVERITIES = ("Critical", "High", "Medium", "Low")
TABLES = ("orders", "invoices", "parcels", "tenants", "routes", "claims", "labels")


def _title(i: int) -> str:
    table = f"{TABLES[i % len(TABLES)]}_{i}"
    shapes = (
        f"Column `{table}.owner_id` has no foreign key",
        f"Writes to `{table}` span two transactions",
        f"Listing `{table}` by date scans the whole table",
        f"Table `{table}` grows with no retention window",
    )
    return shapes[i % len(shapes)]


def sections_with_ids(n: int) -> str:
    """Return ``[Area] ID: title`` sections, an appendix table and a checklist."""
    parts = ["# Generated audit\n\n## Findings\n"]
    for i in range(1, n + 1):
        parts.append(
            f"\n### [Schema] GEN-{i:04d}: {_title(i)}\n\n"
            f"**Severity:** {SEVERITIES[i % 4]}\n"
            f"**Location:** `app/models_{i % 50}.py:{i}`\n\n"
            f"Found while reading the model.\n\n**Risk:** Low\n"
        )
    parts.append(
        "\n## Appendix: all findings\n\n| ID | Severity | Finding |\n|---|---|---|\n"
    )
    parts += [
        f"| GEN-{i:04d} | {SEVERITIES[i % 4]} | {_title(i)} |\n"
        for i in range(1, n + 1)
    ]
    parts.append("\n## Remediation checklist\n\n")
    parts += [f"- [ ] GEN-{i:04d} {_title(i)}\n" for i in range(1, n + 1)]
    return "".join(parts)


def numbered_issues(n: int) -> str:
    """Return ``Issue #N`` sections and a recommendation list pointing at them."""
    parts = ["# Generated review\n"]
    for i in range(1, n + 1):
        parts.append(
            f"\n## Issue #{i}: {_title(i)}\n\n"
            f"**Location:** app/models_{i % 50}.py:{i}\n"
            f"**Impact:** {SEVERITIES[i % 4]} - rows can go wrong.\n"
        )
    parts.append("\n## Recommendations\n\n")
    parts += [f"{i}. Fix the table named in #{i}.\n" for i in range(1, n + 1)]
    return "".join(parts)


def impact_tables(n: int) -> str:
    """Return findings tables under severity headings and a tech-debt table."""
    parts = ["# Generated data layer review\n"]
    per = n // 4
    for k, severity in enumerate(SEVERITIES):
        parts.append(
            f"\n## {severity} severity\n\n"
            "| # | Issue | Location | Impact | Recommendation |\n|---|---|---|---|---|\n"
        )
        for i in range(k * per + 1, (k + 1) * per + 1):
            parts.append(
                f"| {i} | {_title(i)} | `app/m_{i % 50}.py:{i}` | Data can drift | Fix it |\n"
            )
    parts.append("\n## Technical debt register\n\n| Item | Effort |\n|---|---|\n")
    parts += [f"| {_title(i)} | 2h |\n" for i in range(1, n + 1)]
    return "".join(parts)


def _time(data: bytes, runs: int) -> tuple[list[float], list[float], int]:
    parse_report(data, "bench.md")
    walls, cpus, items = [], [], 0
    for _ in range(runs):
        clear_caches()  # each run starts cold, as a real upload does
        wall, cpu = time.perf_counter(), time.process_time()
        items = len(parse_report(data, "bench.md").items)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return walls, cpus, items


def _fmt(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f}–{max(values):.3f})"


def write_results(section: str) -> None:
    """Replace the ``## Report parsing`` section of RESULTS.md, keeping the rest."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(r"## Report parsing\n.*?(?=\n## |\Z)", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section.rstrip("\n") + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    styles: list[tuple[str, Callable[[int], str]]] = [
        ("sections with ids, appendix and checklist", sections_with_ids),
        ("Issue #N sections and cross-referencing list", numbered_issues),
        ("Location/Impact tables and tech-debt table", impact_tables),
    ]
    load_before = os.getloadavg()[0]
    rows = []
    for label, make in styles:
        data = make(N).encode()
        walls, cpus, items = _time(data, args.runs)
        assert items == N, f"{label}: {items} findings, expected {N}"
        rows.append(
            f"| {label} | {len(data) / 1024:.0f} KB | {items} | {_fmt(walls)} "
            f"| {_fmt(cpus)} |"
        )
        print(rows[-1])
    load_after = os.getloadavg()[0]
    section = (
        "## Report parsing\n\n"
        "`bench/bench_parse_report.py`: `parse_report()` of generated 1,000-finding "
        "Markdown reports in three styles, each restating every finding once more "
        "(appendix, checklist, recommendations or tech-debt table) so merging is "
        f"timed too. Median (min–max) of {args.runs} runs after one warm-up, in "
        "seconds, wall and CPU (`time.process_time()`). Shared 2-core machine, "
        f"{os.cpu_count()} CPUs seen, 1-minute load average {load_before:.1f} before "
        f"and {load_after:.1f} after (Python {platform.python_version()}). "
        "Target: under 0.5 s each. The parse is single-threaded and reads no "
        "file or network, so CPU time is what it costs; wall time here is "
        "stretched by the other load on the machine.\n\n"
        "| report | size | findings | wall (s) | CPU (s) |\n|---|---:|---:|---:|---:|\n"
        + "\n".join(rows)
        + "\n"
    )
    write_results(section)


if __name__ == "__main__":
    main()
