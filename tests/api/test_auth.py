"""API authentication, token pages, rate limits and the OpenAPI schema."""

import json

from django.core.cache import cache
from openapi_spec_validator import validate

from projects.models import ApiToken

from .conftest import Api, token_for


def test_openapi_schema_is_served_and_valid(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    validate(schema)
    paths = schema["paths"]
    for path in (
        "/api/v1/projects",
        "/api/v1/projects/{project_id}",
        "/api/v1/projects/{project_id}/targets",
        "/api/v1/targets/{target_id}",
        "/api/v1/projects/{project_id}/audits",
        "/api/v1/audits/{audit_id}",
        "/api/v1/projects/{project_id}/imports",
        "/api/v1/projects/{project_id}/findings",
        "/api/v1/findings/{finding_id}",
        "/api/v1/findings/{finding_id}/status",
        "/api/v1/findings/{finding_id}/severity",
        "/api/v1/projects/{project_id}/findings/bulk",
        "/api/v1/projects/{project_id}/findings/export.csv",
        "/api/v1/projects/{slug}/uploads",
    ):
        assert path in paths, path
    names = {
        p["name"]
        for p in paths["/api/v1/projects/{project_id}/findings"]["get"]["parameters"]
    }
    # The page's filters, sort and the cursor.
    assert {
        "status",
        "severity",
        "dimension",
        "check",
        "assignee",
        "target",
        "overdue",
        "effort",
        "q",
        "sort",
        "cursor",
        "limit",
    } <= names
    assert (
        "BearerAuth" in json.dumps(schema["components"]["securitySchemes"])
        or schema["components"]["securitySchemes"]
    )


def test_the_docs_page_is_served(client):
    assert client.get("/api/v1/docs").status_code == 200


def test_a_revoked_token_is_refused(client, owner, project):
    token, secret = ApiToken.issue(owner, name="ci", scope="read")
    api = Api(client, secret)
    assert api.get("/projects").status_code == 200
    token.revoke()
    response = api.get("/projects")
    assert response.status_code == 401


def test_a_wrong_or_malformed_token_is_refused(client, owner, project):
    secret = token_for(owner)
    assert Api(client, secret + "x").get("/projects").status_code == 401
    assert Api(client, "not-a-token").get("/projects").status_code == 401
    response = client.get("/api/v1/projects", HTTP_AUTHORIZATION="Basic Zm9vOmJhcg==")
    assert response.status_code == 401


def test_a_token_of_an_inactive_user_is_refused(client, owner, project):
    secret = token_for(owner)
    owner.is_active = False
    owner.save()
    assert Api(client, secret).get("/projects").status_code == 401


def test_tokens_are_stored_hashed_and_stamped_when_used(client, owner, project):
    token, secret = ApiToken.issue(owner, name="ci", scope="read")
    assert secret.startswith("plb_") and len(secret) > 40
    assert secret not in token.digest and token.hint == secret[:8]
    assert token.last_used_at is None
    Api(client, secret).get("/projects")
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_the_browser_session_works_and_writes_need_csrf(owner, finding):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner)
    assert browser.get(f"/api/v1/findings/{finding.pk}").status_code == 200
    response = browser.post(
        f"/api/v1/findings/{finding.pk}/comments",
        json.dumps({"text": "hi"}),
        content_type="application/json",
    )
    assert response.status_code == 403
    # A token needs no CSRF token: it is not sent by browsers on their own.
    api = Api(browser, token_for(owner))
    assert (
        api.post(
            f"/api/v1/findings/{finding.pk}/comments".removeprefix("/api/v1"),
            {"text": "hi"},
        ).status_code
        == 201
    )


def test_each_token_has_its_own_rate_limit(client, settings, owner, member, project):
    settings.API_RATE_LIMIT = 3
    cache.clear()
    first, second = Api(client, token_for(owner)), Api(client, token_for(member))
    assert [first.get("/projects").status_code for _ in range(3)] == [200] * 3
    limited = first.get("/projects")
    assert limited.status_code == 429
    assert 0 < int(limited["Retry-After"]) <= 60
    assert second.get("/projects").status_code == 200
    cache.clear()


# --- the token page -------------------------------------------------------------


def test_token_page_makes_a_token_shown_once(client, owner):
    client.force_login(owner)
    response = client.post(
        "/account/api-tokens/", {"name": "GitHub Actions", "scope": "write"}
    )
    assert response.status_code == 200
    secret = response.context["secret"]
    assert secret.startswith("plb_")
    assert secret in response.content.decode()
    token = ApiToken.objects.get(user=owner)
    assert (token.name, token.scope) == ("GitHub Actions", "write")
    again = client.get("/account/api-tokens/").content.decode()
    assert secret not in again
    assert "GitHub Actions" in again and token.hint in again


def test_token_page_refuses_a_token_without_a_name(client, owner):
    client.force_login(owner)
    response = client.post("/account/api-tokens/", {"name": "  ", "scope": "read"})
    assert response.status_code == 400
    assert "Name the token" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_revoking_a_token_stops_it(client, owner, project):
    token, secret = ApiToken.issue(owner, name="ci", scope="read")
    client.force_login(owner)
    response = client.post(f"/account/api-tokens/{token.pk}/revoke/")
    assert response.status_code == 302
    client.logout()
    assert Api(client, secret).get("/projects").status_code == 401


def test_nobody_revokes_another_users_token(client, owner, member):
    token, _ = ApiToken.issue(owner, name="ci", scope="read")
    client.force_login(member)
    assert client.post(f"/account/api-tokens/{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.active


def test_token_pages_need_sign_in_and_reject_other_methods(client, owner):
    assert client.get("/account/api-tokens/").status_code == 302
    client.force_login(owner)
    token, _ = ApiToken.issue(owner, name="ci", scope="read")
    assert client.get(f"/account/api-tokens/{token.pk}/revoke/").status_code == 405
