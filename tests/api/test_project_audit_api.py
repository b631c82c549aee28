"""Projects, targets and audits through the API."""

import pytest

from audits.models import Audit
from projects.models import Project

from .conftest import SARIF


def test_project_detail_carries_the_latest_audit_and_gate(
    api_as, owner, project, audit
):
    body = api_as(owner).get(f"/projects/{project.pk}").json()
    assert body["role"] == "owner"
    assert body["gate"] == {
        "new_severity": "high",
        "regressions": True,
        "overdue_critical": False,
    }
    assert body["latest_audit"]["number"] == 1
    assert body["latest_audit"]["gate_passed"] is False
    assert body["latest_audit"]["grades"] == {"overall": "C"}


def test_the_gate_is_changed_by_managers(api_as, owner, project):
    response = api_as(owner).patch(
        f"/projects/{project.pk}/gate",
        {"new_severity": "critical", "overdue_critical": True},
    )
    assert response.status_code == 200
    assert response.json()["gate"] == {
        "new_severity": "critical",
        "regressions": True,
        "overdue_critical": True,
    }
    response = api_as(owner).patch(
        f"/projects/{project.pk}/gate", {"new_severity": "huge"}
    )
    assert response.status_code == 400
    assert "new_severity" in response.json()["detail"]


def test_project_list_query_count_does_not_grow(
    api_as, owner, team, audit, django_assert_num_queries
):
    api = api_as(owner)
    api.get("/projects")
    for start in (0, 20):
        for n in range(start, start + 20):
            p = Project.objects.create(team=team, name=f"P{n}", slug=f"p{n}")
            Audit.objects.create(
                project=p, number=1, status="succeeded", summary={"open": n}
            )
        with django_assert_num_queries(3):
            body = api.get("/projects").json()
        assert len(body["items"]) == start + 21


def test_project_list_pages_by_cursor(api_as, owner, team, project):
    for n in range(120):
        Project.objects.create(team=team, name=f"P{n}", slug=f"p{n}")
    api = api_as(owner)
    first = api.get("/projects").json()
    assert len(first["items"]) == 100
    second = api.get("/projects", cursor=first["next"]).json()
    assert len(second["items"]) == 21 and second["next"] is None


def test_target_create_is_checked_like_the_form(api_as, owner, project, tmp_path):
    api = api_as(owner)
    response = api.post(
        f"/projects/{project.pk}/targets",
        {"kind": "sqlite", "location": str(tmp_path / "nope.db")},
    )
    assert response.status_code == 400
    assert "No such file or folder" in response.json()["detail"]
    response = api.post(
        f"/projects/{project.pk}/targets",
        {"kind": "postgresql", "location": "postgresql://app:s3cret@db.example/shop"},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["location"] == "postgresql://app@db.example/shop"
    assert body["has_password"] is True
    assert "s3cret" not in response.content.decode()


def test_target_change_keeps_what_is_not_sent(api_as, owner, project):
    target = project.targets.get()
    response = api_as(owner).patch(f"/targets/{target.pk}", {"enabled": False})
    assert response.status_code == 200
    assert response.json()["enabled"] is False
    assert response.json()["location"] == target.location
    response = api_as(owner).patch(f"/targets/{target.pk}", {"kind": "mysql"})
    assert response.status_code == 400


def test_audit_list_and_detail(
    api_as, owner, project, audit, django_assert_num_queries
):
    api = api_as(owner)
    api.get("/projects")
    with django_assert_num_queries(3):
        body = api.get(f"/projects/{project.pk}/audits").json()
    assert [a["number"] for a in body["items"]] == [1]
    for n in range(2, 80):
        Audit.objects.create(project=project, number=n, status="succeeded")
    with django_assert_num_queries(3):
        body = api.get(f"/projects/{project.pk}/audits").json()
    assert len(body["items"]) == 50
    more = api.get(f"/projects/{project.pk}/audits", cursor=body["next"]).json()
    assert [a["number"] for a in more["items"]] == list(range(29, 0, -1))
    detail = api.get(f"/audits/{audit.pk}").json()
    assert detail["gate"]["passed"] is False
    assert detail["gate"]["rules"] == ["no new finding at high or above"]


def test_starting_an_audit_queues_it_and_refuses_a_second(
    api_as, owner, project, django_capture_on_commit_callbacks
):
    api = api_as(owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/projects/{project.pk}/audits")
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued"
    # Without a broker the audit ran once the request's transaction committed.
    ran = api.get(f"/audits/{body['id']}").json()
    assert ran["status"] == "succeeded"
    assert ran["gate"]["passed"] is True
    Audit.objects.filter(pk=body["id"]).update(status="running")
    response = api.post(f"/projects/{project.pk}/audits")
    assert response.status_code == 409
    assert "already under way" in response.json()["detail"]


def test_starting_an_audit_without_targets_says_what_to_do(api_as, owner, project):
    project.targets.all().delete()
    response = api_as(owner).post(f"/projects/{project.pk}/audits")
    assert response.status_code == 400
    assert "no enabled target" in response.json()["detail"]


def test_import_makes_an_audit_and_bad_files_say_why(api_as, owner, project, settings):
    api = api_as(owner)
    response = api.upload(f"/projects/{project.pk}/imports", "lint.sarif", SARIF)
    assert response.status_code == 201
    assert response.json()["origin"] == "sarif"
    assert response.json()["new"] == 1
    response = api.upload(f"/projects/{project.pk}/imports", "notes.md", b"# Hello\n")
    assert response.status_code == 400
    assert "no findings" in response.json()["detail"]
    settings.IMPORT_MAX_BYTES = 100
    response = api.upload(f"/projects/{project.pk}/imports", "big.sarif", SARIF)
    assert response.status_code == 400
    assert "over the size limit" in response.json()["detail"]
    response = api.post(f"/projects/{project.pk}/imports", {})
    assert response.status_code == 400


@pytest.mark.parametrize("path", ["/audits/{a}/report.md"])
def test_audit_report_downloads(api_as, owner, audit, path):
    response = api_as(owner).get(path.format(a=audit.pk))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/markdown")
    assert response.content.startswith(b"# Shop")
