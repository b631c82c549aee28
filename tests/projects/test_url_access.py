"""Every URL pattern, walked as an outsider, an anonymous user and a viewer."""

import pytest
from django.urls import get_resolver, reverse

from audits.models import Audit
from findings.models import Finding, FindingEvent
from projects.models import (
    ApiToken,
    Invitation,
    Membership,
    Project,
    ProjectToken,
    Target,
    Webhook,
)

PUBLIC = {"login", "logout", "signup"}
# The user's own account pages: any signed-in user may change their own.
ACCOUNT = {"projects:api-tokens", "projects:notifications"}
NOT_OBJECTS = {
    "projects:list",
    "projects:create",
    "projects:team-create",
    "findings:mine",
    *ACCOUNT,
}
# Anyone may create a team, and leave one, viewers included (tested in
# tests/browser/test_accounts_browser.py).
SELF_SERVICE = {"projects:team-leave", "projects:team-create"}


def url_names():
    names = []
    resolver = get_resolver()
    for ns in ("projects", "audits", "findings"):
        _, sub = resolver.namespace_dict[ns]
        names += [f"{ns}:{name}" for name in sub.reverse_dict if isinstance(name, str)]
    return sorted(set(names))


@pytest.fixture
def world(project, owner, viewer):
    target = project.targets.first()
    audit = Audit.objects.create(
        project=project, number=1, status=Audit.Status.SUCCEEDED
    )
    finding = Finding.objects.create(
        project=project,
        fingerprint="f" * 32,
        check_id="fk-missing",
        severity="medium",
        title="Reference column has no foreign key",
        dimension="schema",
        target=target,
    )
    membership = Membership.objects.get(team=project.team, user=viewer)
    webhook = Webhook.objects.create(project=project, url="https://example.com/hook")
    token, _ = ApiToken.issue(owner, name="ci", scope="write")
    project_token, _ = ProjectToken.issue(project, name="ci")
    invitation = Invitation.objects.create(
        team=project.team, recipient="someone@example.com", token_hash="t" * 64
    )
    return {
        "webhook": webhook,
        "project_token": project_token,
        "token": token,
        "invitation": invitation,
        "project": project,
        "target": target,
        "audit": audit,
        "finding": finding,
        "membership": membership,
    }


def kwargs_for(name, world):
    p, t, a, f = world["project"], world["target"], world["audit"], world["finding"]
    table = {
        "projects:overview": {"pk": p.pk},
        "projects:settings": {"pk": p.pk},
        "projects:delete": {"pk": p.pk},
        "projects:team-leave": {"slug": p.team.slug},
        "projects:invitation-cancel": {
            "slug": p.team.slug,
            "invitation_id": world["invitation"].pk,
        },
        "projects:target-create": {"pk": p.pk},
        "projects:target-edit": {"pk": t.pk},
        "projects:target-delete": {"pk": t.pk},
        "projects:target-test": {"pk": t.pk},
        "projects:token-create": {"pk": p.pk},
        "projects:token-revoke": {"pk": world["project_token"].pk},
        "projects:members": {"slug": p.team.slug},
        "projects:member-update": {
            "slug": p.team.slug,
            "membership_id": world["membership"].pk,
        },
        "audits:list": {"pk": p.pk},
        "audits:run": {"pk": p.pk},
        "audits:detail": {"pk": a.pk},
        "audits:status": {"pk": a.pk},
        "audits:cancel": {"pk": a.pk},
        "audits:report": {"pk": a.pk},
        "audits:import": {"pk": p.pk},
        "findings:list": {"pk": p.pk},
        "findings:detail": {"pk": f.pk},
        "findings:status": {"pk": f.pk},
        "findings:assign": {"pk": f.pk},
        "findings:comment": {"pk": f.pk},
        "findings:severity": {"pk": f.pk},
        "findings:due": {"pk": f.pk},
        "findings:bulk": {"pk": p.pk},
        "findings:export-csv": {"pk": p.pk},
        "findings:export-markdown": {"pk": p.pk},
        "findings:export-sarif": {"pk": p.pk},
        "projects:webhook-create": {"pk": p.pk},
        "projects:webhook-delete": {"pk": world["webhook"].pk},
        "projects:api-token-revoke": {"pk": world["token"].pk},
    }
    for extra_name, builder in EXTRA.items():
        table.setdefault(extra_name, builder(world))
    return table[name]


# Later views register how to build their URLs here.
EXTRA: dict = {}


def state(world):
    """Return a snapshot of everything a POST could change."""
    p = Project.objects.get(pk=world["project"].pk)
    return (
        tuple(
            Project.objects.values_list(
                "name", "slug", "audit_interval_hours"
            ).order_by("pk")
        ),
        tuple(Target.objects.values_list("pk", "location", "enabled").order_by("pk")),
        tuple(Audit.objects.values_list("pk", "status").order_by("pk")),
        tuple(
            Finding.objects.values_list(
                "pk", "status", "assignee_id", "severity", "due_date"
            ).order_by("pk")
        ),
        FindingEvent.objects.count(),
        tuple(Membership.objects.values_list("pk", "role").order_by("pk")),
        tuple(Webhook.objects.values_list("pk", "url").order_by("pk")),
        tuple(ApiToken.objects.values_list("pk", "revoked_at").order_by("pk")),
        tuple(ProjectToken.objects.values_list("pk", "revoked_at").order_by("pk")),
        tuple(Invitation.objects.values_list("pk", "accepted_at").order_by("pk")),
        p.pk,
    )


def test_every_url_pattern_is_covered(world):
    for name in url_names():
        if name not in NOT_OBJECTS:
            assert kwargs_for(name, world) is not None, name


@pytest.mark.parametrize("name", [n for n in url_names() if n not in NOT_OBJECTS])
def test_outsider_gets_404_on_every_object_url(client, world, outsider, name):
    client.force_login(outsider)
    url = reverse(name, kwargs=kwargs_for(name, world))
    before = state(world)
    for method in (client.get, client.post):
        response = method(url)
        assert response.status_code in (404, 405), (name, method, response.status_code)
    assert client.post(url).status_code == 404 or client.get(url).status_code == 404
    assert state(world) == before


@pytest.mark.parametrize("name", url_names())
def test_anonymous_is_redirected_to_login(client, world, name):
    kwargs = {} if name in NOT_OBJECTS else kwargs_for(name, world)
    url = reverse(name, kwargs=kwargs)
    before = state(world)
    for method in (client.get, client.post):
        response = method(url)
        if response.status_code == 405:
            continue
        assert response.status_code == 302, (name, response.status_code)
        assert response["Location"].startswith(reverse("login"))
    assert state(world) == before


@pytest.mark.parametrize("name", sorted(set(url_names()) - SELF_SERVICE))
def test_viewer_cannot_change_anything(client, world, viewer, name):
    client.force_login(viewer)
    kwargs = {} if name in NOT_OBJECTS else kwargs_for(name, world)
    url = reverse(name, kwargs=kwargs)
    before = state(world)
    data = {
        "name": "Changed",
        "status": "fixed",
        "reason": "x",
        "text": "hello",
        "role": "owner",
        "kind": "ddl",
        "location": "/tmp",
        "project-name": "Changed",
        "project-team": world["project"].team_id,
        "user": "olivia",
    }
    response = client.post(url, data)
    if name == "projects:create":
        # Creating needs a team where the user may write: a viewer has none.
        assert response.status_code in (302, 403)
    elif name in ACCOUNT:
        assert response.status_code in (200, 302, 400)
        ApiToken.objects.filter(user=viewer).delete()
    elif name in NOT_OBJECTS:
        assert response.status_code == 405
    else:
        assert response.status_code in (403, 404, 405), (name, response.status_code)
    assert state(world) == before


def test_viewer_can_read_every_page(client, world, viewer):
    client.force_login(viewer)
    for name in (
        "projects:overview",
        "projects:settings",
        "audits:list",
        "audits:detail",
        "findings:list",
        "findings:detail",
        "projects:members",
        "audits:report",
        "audits:status",
        "findings:export-csv",
        "findings:export-markdown",
        "findings:export-sarif",
    ):
        response = client.get(reverse(name, kwargs=kwargs_for(name, world)))
        assert response.status_code == 200, name
    for name in ("projects:list", "findings:mine"):
        assert client.get(reverse(name)).status_code == 200, name


def test_a_viewer_is_not_offered_the_target_edit_form(client, world, viewer):
    client.force_login(viewer)
    url = reverse(
        "projects:target-edit", kwargs=kwargs_for("projects:target-edit", world)
    )
    assert client.get(url).status_code == 403
