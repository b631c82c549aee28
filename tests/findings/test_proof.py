"""A finding keeps the proof the scan saw and its page shows it."""

import json
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from audits.engine.scan import Target, scan
from audits.models import Audit
from findings.models import Finding
from findings.reconcile import Detection, Scope, reconcile

from .test_views import make_finding

NO_WAIT = 'import sqlite3\n\n\ndef open_db():\n    return sqlite3.connect("app.db", timeout=0)\n'
PROOF = {
    "context": [
        {"line": 4, "text": "def open_db():"},
        {"line": 5, "text": '    return sqlite3.connect("app.db", timeout=0)'},
    ],
    "trace": [{"file": "app/db.py", "line": 5, "message": "waits 0 ms on a lock"}],
    "related": [{"file": "app/other.py", "line": 9, "message": "the same helper"}],
}


def start_audit(project):
    return Audit.objects.create(
        project=project,
        number=1,
        status=Audit.Status.RUNNING,
        started_at=timezone.now(),
    )


@pytest.mark.django_db
def test_reconcile_stores_the_source_lines_and_reasoning_of_a_scan(
    project, tmp_path: Path
):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "db.py").write_text(NO_WAIT)
    result = scan([Target("folder", str(tmp_path))])
    (issue,) = [i for i in result.issues if i.check == "sqlite-busy-timeout-missing"]
    target = project.targets.first()
    audit = start_audit(project)
    reconcile(
        audit,
        [Detection.from_issue(issue, target_id=target.pk)],
        Scope(origin="engine", checks_by_target={target.pk: frozenset({issue.check})}),
    )
    finding = Finding.objects.get(check_id="sqlite-busy-timeout-missing")
    stored = json.loads(finding.proof)
    assert {"line": 5, "text": '    return sqlite3.connect("app.db", timeout=0)'} in (
        stored["context"]
    )


@pytest.mark.django_db
def test_a_changed_proof_is_refreshed_on_the_next_sighting(project):
    target = project.targets.first()
    base = {
        "fingerprint": "fp-proof",
        "check_id": "fk-missing",
        "severity": "medium",
        "title": "t",
        "target_id": target.pk,
    }
    scope = Scope(
        origin="engine", checks_by_target={target.pk: frozenset({"fk-missing"})}
    )
    reconcile(start_audit(project), [Detection(**base)], scope)
    second = Audit.objects.create(project=project, number=2, status="running")
    reconcile(second, [Detection(**base, proof=json.dumps(PROOF))], scope)
    assert json.loads(Finding.objects.get().proof)["trace"][0]["line"] == 5


def test_finding_page_shows_highlighted_source_reasoning_and_related_places(
    client, project, owner
):
    finding = make_finding(
        project,
        1,
        check_id="sqlite-busy-timeout-missing",
        file="app/db.py",
        line=5,
        proof=json.dumps(PROOF),
    )
    client.force_login(owner)
    response = client.get(reverse("findings:detail", args=[finding.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'class="highlight"' in html and "pygments.css" in html
    assert '<span class="hll">' in html  # the finding's own line stands out
    assert "app.db" in html and "timeout" in html
    assert "app/db.py:5" in html and "waits 0 ms on a lock" in html
    assert "app/other.py:9" in html and "the same helper" in html
    assert "<script" not in html.split("Source and reasoning")[1].split("</section>")[0]


def test_finding_page_without_proof_has_no_source_section(client, project, owner):
    finding = make_finding(project, 2)
    client.force_login(owner)
    html = client.get(reverse("findings:detail", args=[finding.pk])).content.decode()
    assert "Source and reasoning" not in html
    assert "pygments.css" not in html


def test_source_lines_are_escaped_not_rendered(client, project, owner):
    proof = {
        "context": [{"line": 1, "text": "x = '<b>bold</b><script>alert(1)</script>'"}]
    }
    finding = make_finding(project, 3, file="app/x.py", line=1, proof=json.dumps(proof))
    client.force_login(owner)
    html = client.get(reverse("findings:detail", args=[finding.pk])).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html
