"""Every API endpoint under the pages' rules, for each kind of caller.

Owner: allowed. Member: may write but not manage. Viewer: reads, and gets
403 on any change. Outsider (another team): 404 on everything of this
team. Anonymous: 401. A read-only token: 403 on any change.
"""

from dataclasses import dataclass

import pytest

from .conftest import SARIF


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str  # formatted with p (project), t (target), a (audit), f (finding)
    need: str = "read"  # read, write or manage
    ok: int = 200
    body: dict | None = None


ENDPOINTS = [
    Endpoint("project detail", "get", "/projects/{p}"),
    Endpoint(
        "project gate",
        "patch",
        "/projects/{p}/gate",
        "manage",
        body={"regressions": False},
    ),
    Endpoint("target list", "get", "/projects/{p}/targets"),
    Endpoint("target detail", "get", "/targets/{t}"),
    Endpoint(
        "target create", "post", "/projects/{p}/targets", "manage", 201, {"kind": "ddl"}
    ),
    Endpoint("target change", "patch", "/targets/{t}", "manage", body={"name": "DDL"}),
    Endpoint("audit list", "get", "/projects/{p}/audits"),
    Endpoint("audit detail", "get", "/audits/{a}"),
    Endpoint("audit start", "post", "/projects/{p}/audits", "write", 202),
    Endpoint("audit import", "upload", "/projects/{p}/imports", "write", 201),
    Endpoint("audit report", "get", "/audits/{a}/report.md"),
    Endpoint("finding list", "get", "/projects/{p}/findings"),
    Endpoint("finding detail", "get", "/findings/{f}"),
    Endpoint(
        "finding status",
        "post",
        "/findings/{f}/status",
        "write",
        body={"status": "in_progress"},
    ),
    Endpoint(
        "finding assign",
        "post",
        "/findings/{f}/assign",
        "write",
        body={"assignee": "olivia"},
    ),
    Endpoint(
        "finding severity",
        "post",
        "/findings/{f}/severity",
        "write",
        body={"severity": "low", "reason": "Internal only"},
    ),
    Endpoint(
        "finding due date",
        "post",
        "/findings/{f}/due",
        "write",
        body={"due_date": "2031-01-31", "reason": "Agreed with the owner"},
    ),
    Endpoint(
        "finding comment",
        "post",
        "/findings/{f}/comments",
        "write",
        201,
        {"text": "Looking at it."},
    ),
    Endpoint(
        "finding bulk",
        "post",
        "/projects/{p}/findings/bulk",
        "write",
        body={"ids": ["{f}"], "status": "in_progress"},
    ),
    Endpoint("export csv", "get", "/projects/{p}/findings/export.csv"),
    Endpoint("export markdown", "get", "/projects/{p}/findings/export.md"),
    Endpoint("export sarif", "get", "/projects/{p}/findings/export.sarif"),
]
IDS = [e.name for e in ENDPOINTS]


def call(api, endpoint: Endpoint, objects):
    path = endpoint.path.format(**objects)
    body = endpoint.body
    if body is not None:
        body = {
            k: [int(x.format(**objects)) for x in v] if isinstance(v, list) else v
            for k, v in body.items()
        }
        if endpoint.name == "target create":
            body["location"] = objects["schema"]
    if endpoint.method == "get":
        return api.get(path)
    if endpoint.method == "upload":
        return api.upload(path, "lint.sarif", SARIF)
    return getattr(api, endpoint.method)(path, body)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_owner_is_allowed(api_as, owner, objects, endpoint):
    response = call(api_as(owner), endpoint, objects)
    assert response.status_code == endpoint.ok, response.content


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_member_writes_but_does_not_manage(api_as, member, objects, endpoint):
    response = call(api_as(member), endpoint, objects)
    if endpoint.need == "manage":
        assert response.status_code == 403
        assert "owners and admins" in response.json()["detail"]
    else:
        assert response.status_code == endpoint.ok, response.content


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_viewer_reads_but_cannot_write(api_as, viewer, objects, endpoint):
    response = call(api_as(viewer), endpoint, objects)
    if endpoint.need == "read":
        assert response.status_code == endpoint.ok, response.content
    else:
        assert response.status_code == 403
        assert response.json()["detail"]


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_outsider_gets_404(api_as, outsider, objects, endpoint):
    response = call(api_as(outsider), endpoint, objects)
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_anonymous_gets_401(api_as, objects, endpoint):
    response = call(api_as(None), endpoint, objects)
    assert response.status_code == 401
    assert "Authentication required" in response.json()["detail"]


@pytest.mark.parametrize(
    "endpoint", [e for e in ENDPOINTS if e.need != "read"], ids=lambda e: e.name
)
def test_read_token_cannot_write(api_as, owner, objects, endpoint):
    response = call(api_as(owner, scope="read"), endpoint, objects)
    assert response.status_code == 403
    assert "write scope" in response.json()["detail"]


def test_project_list_shows_only_the_callers_teams(api_as, owner, outsider, objects):
    mine = api_as(owner).get("/projects")
    assert mine.status_code == 200
    assert [p["slug"] for p in mine.json()["items"]] == ["shop"]
    theirs = api_as(outsider).get("/projects")
    assert theirs.status_code == 200
    assert theirs.json()["items"] == []
    assert api_as(None).get("/projects").status_code == 401


def project_token_api(client, project):
    from projects.models import ProjectToken

    from .conftest import Api

    return Api(client, ProjectToken.issue(project, name="ci")[1])


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_a_project_token_reads_its_project_only(client, objects, endpoint, project):
    response = call(project_token_api(client, project), endpoint, objects)
    if endpoint.need == "read":
        assert response.status_code == endpoint.ok, response.content
    else:
        assert response.status_code == 403
        assert "project token reads its project" in response.json()["detail"]


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=IDS)
def test_another_projects_token_gets_404(client, objects, endpoint, team):
    other = team.projects.create(name="Other", slug="other")
    response = call(project_token_api(client, other), endpoint, objects)
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_a_project_token_lists_its_project_only(client, team, objects):
    other = team.projects.create(name="Other", slug="other")
    listed = project_token_api(client, other).get("/projects")
    assert listed.status_code == 200
    assert [(p["slug"], p["role"]) for p in listed.json()["items"]] == [
        ("other", "viewer")
    ]
    mine = project_token_api(client, other).get(
        "/projects/{p}/findings".format(**objects)
    )
    assert mine.status_code == 404
    # Nothing is assigned to a token: "mine" is empty, never an error.
    theirs = project_token_api(client, other).get(
        f"/projects/{other.pk}/findings", assignee="me"
    )
    assert theirs.status_code == 200
    assert theirs.json()["items"] == []


def test_every_endpoint_of_the_schema_is_tested_here(client):
    """A new endpoint must join ENDPOINTS (and so every test above)."""
    import re

    schema = client.get("/api/v1/openapi.json").json()
    served = {
        (method, re.sub(r"\{[a-z_]+\}", "{}", path.removeprefix("/api/v1")))
        for path, methods in schema["paths"].items()
        for method in methods
    }
    tested = {
        (
            "post" if e.method == "upload" else e.method,
            re.sub(r"\{[a-z]\}", "{}", e.path),
        )
        for e in ENDPOINTS
    }
    # The project list answers everyone signed in (tested above, with its 401);
    # CI uploads take a project token only (tests/security/test_upload.py).
    assert served - tested == {("get", "/projects"), ("post", "/projects/{}/uploads")}
    assert tested <= served
