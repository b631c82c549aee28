"""The whole CI flow against a running server: token, scan, upload, gate.

A pull request fails on what it introduced and only on that: the first
upload of a project sets the baseline, a change that adds a high finding
exits 1 and names it, and the fix exits 0.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from audits.models import Audit
from projects.models import Project, ProjectToken, token_digest

ROOT = Path(settings.BASE_DIR)

BEFORE = (
    "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL);\n"
    # Already there before CI: a high finding the first upload takes as baseline.
    "CREATE TABLE legacy_log (id INTEGER, line TEXT NOT NULL);\n"
)
# The pull request adds a table with no primary key: a new high finding.
INTRODUCED = BEFORE + "CREATE TABLE events (id INTEGER, kind TEXT NOT NULL);\n"
FIXED = BEFORE + "CREATE TABLE events (id INTEGER PRIMARY KEY, kind TEXT NOT NULL);\n"


def scan_upload_gate(schema: Path, server: str, slug: str, token: str):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "audits.engine.cli",
            "scan",
            str(schema),
            "--format",
            "json",
            "--output",
            str(schema.parent / "report.json"),
            "--upload",
            server,
            "--project",
            slug,
            "--gate",
        ],
        cwd=ROOT,
        env={**os.environ, "PLUMBLINE_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.django_db(transaction=True)
def test_the_gate_fails_a_pull_request_on_what_it_introduced(
    live_server, client, team, owner, tmp_path
):
    project = Project.objects.create(team=team, name="Shop", slug="shop")
    # The owner makes a CI token on the settings page; it is shown once.
    client.force_login(owner)
    page = client.post(f"/projects/{project.pk}/tokens/", {"name": "ci"})
    match = re.search(r'<code id="new-token">([^<]+)</code>', page.content.decode())
    raw = match.group(1)
    assert ProjectToken.objects.get(project=project).digest == token_digest(raw)
    schema = tmp_path / "schema.sql"

    schema.write_text(BEFORE)
    first = scan_upload_gate(schema, live_server.url, project.slug, raw)
    assert first.returncode == 0, first.stderr
    assert "1 finding(s) present when their target was first audited" in first.stderr
    assert "quality gate passed" in first.stderr

    schema.write_text(INTRODUCED)
    pull = scan_upload_gate(schema, live_server.url, project.slug, raw)
    assert pull.returncode == 1, pull.stderr
    assert "quality gate FAILED: 1 finding(s)" in pull.stderr
    [line] = [x for x in pull.stderr.splitlines() if x.startswith("  HIGH")]
    assert "new" in line and "table-no-primary-key" in line and "schema.sql:3" in line
    assert "legacy_log" not in pull.stderr
    audit = Audit.objects.get(project=project, number=2)
    assert audit.gate_passed is False

    schema.write_text(FIXED)
    fixed = scan_upload_gate(schema, live_server.url, project.slug, raw)
    assert fixed.returncode == 0, fixed.stderr
    assert "quality gate passed" in fixed.stderr
    assert Audit.objects.get(project=project, number=3).gate_passed is True
