"""Scans pushed from CI with project tokens: scoping, revocation, reconciling."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from audits import services
from audits.engine.render import json_out
from audits.engine.scan import Target as EngineTarget
from audits.engine.scan import scan
from audits.models import Audit
from findings.models import Finding
from projects.models import Project, ProjectToken, Target

ROOT = Path(settings.BASE_DIR)

SCHEMA = """
CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, password TEXT);
CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id),
    status TEXT, total REAL);
CREATE TABLE order_items (order_id INTEGER, product_id INTEGER, qty INTEGER);
"""
# The second version drops a defective table and adds another one.
SCHEMA_2 = """
CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, password TEXT);
CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id),
    status TEXT, total REAL);
CREATE TABLE events (id INTEGER PRIMARY KEY, user_id INTEGER, api_key TEXT);
"""


def upload_url(project) -> str:
    return reverse("api-upload-create", args=[project.slug])


def scan_json(path: Path) -> dict:
    result = scan([EngineTarget("ddl", str(path))])
    return json_out.as_data(result)


def post(client, project, raw_token, data):
    return client.post(
        upload_url(project),
        data=json.dumps(data),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw_token}",
    )


@pytest.fixture
def schema_path(tmp_path):
    path = tmp_path / "schema.sql"
    path.write_text(SCHEMA)
    return path


def test_an_upload_becomes_an_audit_of_the_tokens_project(
    client, team, owner, schema_path
):
    project = Project.objects.create(team=team, name="Shop", slug="shop")
    token, raw = ProjectToken.issue(project, name="ci", user=owner)
    response = post(client, project, raw, scan_json(schema_path))
    assert response.status_code == 201, response.content
    body = response.json()
    audit = Audit.objects.get(project=project)
    assert body["audit"] == audit.number
    assert audit.trigger == Audit.Trigger.UPLOAD
    assert audit.status == Audit.Status.SUCCEEDED
    assert body["new"] == Finding.objects.filter(project=project).count() > 0
    target = Target.objects.get(project=project)
    assert (target.kind, target.uploaded, target.enabled) == ("ddl", True, False)
    assert target.location == str(schema_path)
    token.refresh_from_db()
    assert token.last_used_at is not None
    # The gate's verdict rides along: the first upload sets the baseline.
    gate = body["gate"]
    assert (gate["passed"], gate["failed"], gate["findings"]) == (True, 0, [])
    assert gate["baseline"] > 0
    assert gate["rules"] == ["a new finding at high or above", "a regression"]


def test_a_token_for_project_a_cannot_upload_to_project_b(
    client, team, owner, outsider, schema_path
):
    a = Project.objects.create(team=team, name="A", slug="a")
    b = Project.objects.create(team=team, name="B", slug="b")
    _, raw = ProjectToken.issue(a, name="ci")
    response = post(client, b, raw, scan_json(schema_path))
    assert response.status_code == 404
    # The same for a project of another team whose slug matches nothing of A's.
    other = Project.objects.create(
        team=outsider.memberships.get().team, name="A elsewhere", slug="a-else"
    )
    assert post(client, other, raw, scan_json(schema_path)).status_code == 404
    assert not Audit.objects.exists()


def test_a_revoked_or_unknown_token_is_refused(client, team, owner, schema_path):
    project = Project.objects.create(team=team, name="Shop", slug="shop")
    token, raw = ProjectToken.issue(project, name="ci")
    token.revoke()
    response = post(client, project, raw, scan_json(schema_path))
    assert response.status_code == 401
    assert "token" in response.json()["error"]
    assert post(client, project, raw + "x", scan_json(schema_path)).status_code == 401
    assert (
        client.post(
            upload_url(project), data="{}", content_type="application/json"
        ).status_code
        == 401
    )
    assert not Audit.objects.exists()


def test_a_session_login_is_not_a_token(client, team, owner, schema_path):
    project = Project.objects.create(team=team, name="Shop", slug="shop")
    client.force_login(owner)
    response = client.post(
        upload_url(project),
        data=json.dumps(scan_json(schema_path)),
        content_type="application/json",
    )
    assert response.status_code == 401


def test_an_upload_that_is_not_a_scan_gets_a_clear_400(client, team, owner):
    project = Project.objects.create(team=team, name="Shop", slug="shop")
    _, raw = ProjectToken.issue(project, name="ci")
    response = client.post(
        upload_url(project),
        data="not json",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert response.status_code == 400
    assert "not JSON" in response.json()["error"]
    bad = {
        "targets": [{"target": "ddl:x.sql", "kind": "ddl", "ok": True}],
        "findings": [{"check": "x", "severity": "dreadful"}],
    }
    response = post(client, project, raw, bad)
    assert response.status_code == 400
    assert "finding 1" in response.json()["error"]
    assert not Audit.objects.exists()


def test_the_upload_endpoint_takes_only_post(client, team, owner):
    project = Project.objects.create(team=team, name="Shop", slug="shop")
    _, raw = ProjectToken.issue(project, name="ci")
    response = client.get(upload_url(project), HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 405


def counts(audit) -> tuple:
    s = audit.summary
    return (audit.status, s["new"], s["fixed"], s["reopened"], s["still_open"])


def test_an_uploaded_scan_reconciles_exactly_like_a_workers_scan(
    client, team, owner, tmp_path, settings
):
    settings.TARGET_PATH_ROOTS = [str(tmp_path)]
    path = tmp_path / "schema.sql"
    path.write_text(SCHEMA)
    worked = Project.objects.create(team=team, name="Worker", slug="worker")
    Target.objects.create(project=worked, kind=Target.Kind.DDL, location=str(path))
    pushed = Project.objects.create(team=team, name="Pushed", slug="pushed")
    _, raw = ProjectToken.issue(pushed, name="ci")

    rounds = []
    for text in (SCHEMA, SCHEMA_2, SCHEMA):
        path.write_text(text)
        audit = services.start_audit(worked, enqueue=False)
        by_worker = services.execute_audit(audit.pk)
        response = post(client, pushed, raw, scan_json(path))
        assert response.status_code == 201
        by_upload = Audit.objects.get(project=pushed, number=response.json()["audit"])
        rounds.append((counts(by_worker), counts(by_upload)))
    for by_worker, by_upload in rounds:
        assert by_worker == by_upload
    # The rounds really exercised new, fixed and reopened findings.
    assert rounds[1][0][2] > 0 and rounds[2][0][3] > 0

    def states(project):
        return sorted(
            Finding.objects.filter(project=project).values_list(
                "fingerprint", "status", "regression"
            )
        )

    assert states(worked) == states(pushed)


def test_a_ci_push_of_code_never_fixes_live_database_findings(
    client, team, owner, tmp_path, settings
):
    import sqlite3

    settings.TARGET_PATH_ROOTS = [str(tmp_path)]
    db = tmp_path / "live.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.executescript(SCHEMA)
    conn.close()
    project = Project.objects.create(team=team, name="Shop", slug="shop")
    Target.objects.create(project=project, kind=Target.Kind.SQLITE, location=str(db))
    audit = services.execute_audit(services.start_audit(project, enqueue=False).pk)
    live = set(
        Finding.objects.filter(project=project, status="open").values_list(
            "pk", flat=True
        )
    )
    assert audit.status == Audit.Status.SUCCEEDED and live

    code = tmp_path / "app"
    code.mkdir()
    (code / "models.py").write_text("x = 1\n")
    _, raw = ProjectToken.issue(project, name="ci")
    data = json_out.as_data(scan([EngineTarget("folder", str(code))]))
    response = post(client, project, raw, data)
    assert response.status_code == 201, response.content
    assert response.json()["fixed"] == 0
    still = set(
        Finding.objects.filter(project=project, status="open").values_list(
            "pk", flat=True
        )
    )
    assert live <= still


@pytest.mark.django_db(transaction=True)
def test_plumbline_scan_upload_sends_the_scan_to_a_running_server(
    live_server, team, owner, schema_path
):
    project = Project.objects.create(team=team, name="Shop", slug="shop")
    _, raw = ProjectToken.issue(project, name="ci")
    command = [
        sys.executable,
        "-m",
        "audits.engine.cli",
        "scan",
        str(schema_path),
        "--format",
        "json",
        "--output",
        str(schema_path.parent / "out.json"),
        "--upload",
        live_server.url,
        "--project",
        project.slug,
    ]
    env = {**os.environ, "PLUMBLINE_TOKEN": raw}
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    audit = Audit.objects.get(project=project)
    assert f"uploaded as audit #{audit.number}" in done.stderr
    assert audit.summary["new"] == Finding.objects.filter(project=project).count() > 0

    env["PLUMBLINE_TOKEN"] = "plb_not-a-token"
    refused = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert refused.returncode == 2
    assert "refused the upload (401)" in refused.stderr
    assert Audit.objects.filter(project=project).count() == 1
