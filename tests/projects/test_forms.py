"""Wrong input on every form: a clear message on the form, nothing stored."""

import re
import tempfile
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from findings.models import Finding, FindingEvent
from projects.models import Invitation, Membership, Project, Target

# Paths inside the folders the test settings let targets read.
MISSING = f"{tempfile.gettempdir()}/no/such"
NOT_SQLITE = str(Path(__file__).resolve())


def counts():
    return (
        Project.objects.count(),
        Target.objects.count(),
        Membership.objects.count(),
        get_user_model().objects.count(),
        FindingEvent.objects.count(),
    )


def create(client, **overrides):
    data = {
        "project-team": "",
        "project-name": "Shop",
        "project-slug": "",
        "project-description": "",
        "project-audit_interval_hours": 24,
        "project-sla_critical_days": 7,
        "project-sla_high_days": 30,
        "project-sla_medium_days": 90,
        "project-sla_low_days": 180,
        "target-name": "",
        "target-kind": "",
        "target-location": "",
        "target-dialect": "",
        "target-enabled": "on",
    }
    data.update(overrides)
    return client.post(reverse("projects:create"), data)


@pytest.fixture
def logged_in(client, owner, team):
    client.force_login(owner)
    return client


def test_a_project_with_a_target_is_created(logged_in, team, schema_file):
    response = create(
        logged_in,
        **{
            "project-team": team.pk,
            "target-kind": "ddl",
            "target-location": str(schema_file),
        },
    )
    project = Project.objects.get()
    assert (
        response.status_code == 302
        and response["Location"] == project.get_absolute_url()
    )
    assert project.slug == "shop" and project.targets.get().location == str(schema_file)


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"project-name": "   "}, "name", "This field is required"),
        ({"project-name": "!!!"}, "slug", "no letters or digits"),
        (
            {"target-kind": "ddl", "target-location": f"{MISSING}/schema.sql"},
            "location",
            "No such file or folder",
        ),
        (
            {"target-kind": "postgresql", "target-location": "postgresql//db/shop"},
            "location",
            "starts with postgresql://",
        ),
        (
            {
                "target-kind": "postgresql",
                "target-location": "postgresql://db.internal",
            },
            "location",
            "names no database",
        ),
        (
            {"target-kind": "postgresql", "target-location": "postgresql://:5432/shop"},
            "location",
            "names no host",
        ),
        (
            {"target-kind": "mysql", "target-location": "mysql://db:99999/shop"},
            "location",
            "malformed",
        ),
        (
            {"target-kind": "sqlite", "target-location": NOT_SQLITE},
            "location",
            "not a SQLite database",
        ),
        (
            {"target-kind": "code", "target-location": NOT_SQLITE},
            "location",
            "folder of Python files",
        ),
        (
            {"target-kind": "nonsense", "target-location": "/tmp"},
            "kind",
            "valid choice",
        ),
    ],
)
def test_wrong_project_input_shows_a_message_and_stores_nothing(
    logged_in, team, overrides, field, message
):
    before = counts()
    response = create(logged_in, **{"project-team": team.pk, **overrides})
    assert response.status_code == 200
    assert message in response.content.decode()
    # The message sits on the field it is about.
    errors = {
        **response.context["form"].errors,
        **response.context["target_form"].errors,
    }
    assert any(message in error for error in errors[field])
    assert counts() == before


def test_a_duplicate_slug_in_the_team_is_refused(logged_in, team, project):
    before = counts()
    response = create(logged_in, **{"project-team": team.pk, "project-name": "Shop"})
    assert "already has a project with the slug" in response.content.decode()
    assert counts() == before


def test_a_password_typed_into_a_url_is_moved_to_encrypted_storage(logged_in, project):
    url = reverse("projects:target-create", args=[project.pk])
    logged_in.post(
        url,
        {
            "target-kind": "postgresql",
            "target-enabled": "on",
            "target-location": "postgresql://app:s3cret@db.internal:5432/shop",
        },
    )
    target = Target.objects.get(kind="postgresql")
    assert target.location == "postgresql://app@db.internal:5432/shop"
    assert "s3cret" not in target.credentials and target.password == "s3cret"


def test_a_bad_target_on_the_settings_page_stores_nothing(logged_in, project):
    before = counts()
    response = logged_in.post(
        reverse("projects:target-create", args=[project.pk]),
        {"target-kind": "sqlite", "target-location": f"{MISSING}.db"},
    )
    assert response.status_code == 400
    assert "No such file or folder" in response.content.decode()
    assert counts() == before


def test_a_bad_target_edit_stores_nothing(logged_in, project):
    target = project.targets.get()
    response = logged_in.post(
        reverse("projects:target-edit", args=[target.pk]),
        {"target-kind": "ddl", "target-location": ""},
    )
    assert "This field is required" in response.content.decode()
    target.refresh_from_db()
    assert target.location != ""


def test_settings_refuse_a_blank_name(logged_in, project):
    response = logged_in.post(
        reverse("projects:settings", args=[project.pk]),
        {
            "project-name": "",
            "project-slug": "shop",
            "project-audit_interval_hours": 24,
            "project-sla_critical_days": 7,
            "project-sla_high_days": 30,
            "project-sla_medium_days": 90,
            "project-sla_low_days": 180,
        },
    )
    assert "This field is required" in response.content.decode()
    project.refresh_from_db()
    assert project.name == "Shop"


def test_an_invitation_without_a_recipient_stores_nothing(logged_in, team):
    before = counts()
    response = logged_in.post(
        reverse("projects:members", args=[team.slug]),
        {"recipient": " ", "role": "member"},
    )
    assert response.status_code == 400
    assert "This field is required" in response.content.decode()
    assert counts() == before
    assert not Invitation.objects.exists()


def test_an_invitation_adds_nobody_until_the_invitee_accepts(
    logged_in, client, team, outsider
):
    logged_in.post(
        reverse("projects:members", args=[team.slug]),
        {"recipient": "OSCAR@example.com", "role": "viewer"},
    )
    assert not Membership.objects.filter(team=team, user=outsider).exists()
    invitation = Invitation.objects.get(team=team)
    assert invitation.recipient == "oscar@example.com"
    client.force_login(outsider)
    page = client.get(reverse("invitations"))
    assert "Acme" in page.content.decode()
    invitation = page.context["invitations"][0]
    client.post(
        reverse("invitation-respond", args=[invitation.pk]), {"action": "accept"}
    )
    assert Membership.objects.get(team=team, user=outsider).role == "viewer"


def test_inviting_answers_alike_for_registered_and_unknown_emails(logged_in, team):
    def answer(recipient):
        response = logged_in.post(
            reverse("projects:members", args=[team.slug]),
            {"recipient": recipient, "role": "member"},
            follow=True,
        )
        text = [str(m) for m in response.context["messages"]][0]
        return re.sub(r"/invitations/[^/]+/", "/invitations/T/", text).replace(
            recipient, "X"
        )

    assert answer("oscar@example.com") == answer("nobody@example.com")


def test_an_invalid_role_is_refused(logged_in, team, member):
    membership = Membership.objects.get(team=team, user=member)
    logged_in.post(
        reverse("projects:member-update", args=[team.slug, membership.pk]),
        {"role": "emperor"},
        follow=True,
    )
    membership.refresh_from_db()
    assert membership.role == "member"


def test_the_last_owner_cannot_be_demoted(logged_in, team, owner):
    membership = Membership.objects.get(team=team, user=owner)
    response = logged_in.post(
        reverse("projects:member-update", args=[team.slug, membership.pk]),
        {"role": "viewer"},
        follow=True,
    )
    assert "at least one owner" in response.content.decode()
    membership.refresh_from_db()
    assert membership.role == "owner"


def test_signup_with_wrong_input_creates_nothing(client, db):
    before = counts()
    response = client.post(
        reverse("signup"), {"username": "", "password1": "a", "password2": "b"}
    )
    assert response.status_code == 200
    assert "This field is required" in response.content.decode()
    assert counts() == before


def test_signup_creates_a_personal_team_owned_by_the_new_user(client, db):
    client.post(
        reverse("signup"),
        {
            "username": "nina",
            "email": "nina@example.com",
            "password1": "a long enough passphrase",
            "password2": "a long enough passphrase",
        },
    )
    membership = Membership.objects.get(user__username="nina")
    assert membership.role == "owner" and membership.team.personal


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"status": "documented", "reason": "  "}, "needs a reason"),
        ({"status": "open"}, "already open"),
        ({"status": "gone"}, "Choose a status"),
    ],
)
def test_a_wrong_status_change_explains_itself_and_changes_nothing(
    logged_in, project, data, message
):
    finding = Finding.objects.create(
        project=project,
        fingerprint="x" * 32,
        check_id="fk-missing",
        severity="medium",
        title="A finding",
    )
    response = logged_in.post(
        reverse("findings:status", args=[finding.pk]), data, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    finding.refresh_from_db()
    assert finding.status == "open" and not finding.events.exists()


def test_an_empty_comment_is_refused(logged_in, project):
    finding = Finding.objects.create(
        project=project,
        fingerprint="y" * 32,
        check_id="fk-missing",
        severity="low",
        title="Another finding",
    )
    response = logged_in.post(
        reverse("findings:comment", args=[finding.pk]),
        {"text": "   "},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 400
    assert not finding.events.exists()


def test_an_emailed_invitation_link_lets_its_holder_join(
    logged_in, client, team, outsider, django_capture_on_commit_callbacks
):
    from django.core import mail

    with django_capture_on_commit_callbacks(execute=True):
        logged_in.post(
            reverse("projects:members", args=[team.slug]),
            {"recipient": "new.person@example.com", "role": "member"},
        )
    assert mail.outbox[0].to == ["new.person@example.com"]
    link = re.search(r"http://\S+/invitations/\S+/", mail.outbox[0].body).group(0)
    path = link.split("testserver", 1)[1]
    # The link's secret is not stored: only its hash is.
    secret = path.rstrip("/").rsplit("/", 1)[1]
    assert not Invitation.objects.filter(token_hash=secret).exists()
    client.force_login(outsider)
    assert "Join Acme?" in client.get(path).content.decode()
    client.post(path, {"action": "accept"})
    assert Membership.objects.get(team=team, user=outsider).role == "member"
    assert client.get(path).status_code == 404
