"""Settings, targets and team members: the happy paths and their guards."""

from django.urls import reverse

from findings.models import Finding
from projects.models import Invitation, Membership, Target


def test_removing_a_target_keeps_its_findings(client, owner, project):
    target = project.targets.get()
    finding = Finding.objects.create(
        project=project,
        fingerprint="a" * 32,
        target=target,
        check_id="fk-missing",
        severity="medium",
        title="t",
    )
    client.force_login(owner)
    response = client.post(reverse("projects:target-delete", args=[target.pk]))
    assert response.status_code == 302
    assert not Target.objects.filter(pk=target.pk).exists()
    finding.refresh_from_db()
    assert finding.target is None


def test_editing_a_target_keeps_the_stored_password_when_left_blank(
    client, owner, project
):
    target = Target.objects.create(
        project=project, kind="postgresql", location="postgresql://app@db/shop"
    )
    target.password = "s3cret"
    target.save()
    client.force_login(owner)
    response = client.post(
        reverse("projects:target-edit", args=[target.pk]),
        {
            "target-name": "Primary",
            "target-kind": "postgresql",
            "target-location": "postgresql://app@db.internal/shop",
            "target-enabled": "on",
        },
    )
    assert response.status_code == 302
    target.refresh_from_db()
    assert target.name == "Primary" and target.password == "s3cret"
    assert "s3cret" not in target.credentials


def test_settings_save_the_schedule_and_sla(client, owner, project):
    client.force_login(owner)
    response = client.post(
        reverse("projects:settings", args=[project.pk]),
        {
            "project-name": "Shop",
            "project-slug": "shop",
            "project-description": "",
            "project-audit_interval_hours": 0,
            "project-sla_critical_days": 3,
            "project-sla_high_days": 14,
            "project-sla_medium_days": 60,
            "project-sla_low_days": 120,
        },
    )
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.sla_critical_days == 3 and project.next_audit_at is None


def test_a_member_sees_the_team_but_cannot_add_anyone(client, member, team, outsider):
    client.force_login(member)
    page = client.get(reverse("projects:members", args=[team.slug]))
    assert page.status_code == 200 and b"Invite a member" not in page.content
    response = client.post(
        reverse("projects:members", args=[team.slug]),
        {"recipient": "oscar", "role": "viewer"},
    )
    assert response.status_code == 403
    assert not Membership.objects.filter(team=team, user=outsider).exists()


def test_an_admin_removes_a_member(client, owner, member, team):
    membership = Membership.objects.get(team=team, user=member)
    client.force_login(owner)
    client.post(
        reverse("projects:member-update", args=[team.slug, membership.pk]),
        {"action": "remove"},
    )
    assert not Membership.objects.filter(pk=membership.pk).exists()


def test_an_admin_cannot_change_an_owner(client, owner, member, viewer, team):
    Membership.objects.filter(team=team, user=member).update(role="admin")
    # A second owner, so that "the last owner stays" is not what refuses it.
    Membership.objects.filter(team=team, user=viewer).update(role="owner")
    owner_membership = Membership.objects.get(team=team, user=owner)
    client.force_login(member)
    response = client.post(
        reverse("projects:member-update", args=[team.slug, owner_membership.pk]),
        {"role": "viewer"},
        follow=True,
    )
    owner_membership.refresh_from_db()
    assert owner_membership.role == "owner"
    assert b"Only an owner can change another owner" in response.content


def test_the_project_list_shows_only_the_users_teams(client, owner, outsider, project):
    client.force_login(outsider)
    assert b"Shop" not in client.get(reverse("projects:list")).content
    client.force_login(owner)
    assert b"Shop" in client.get(reverse("projects:list")).content


def test_an_admin_cannot_make_an_owner(client, owner, member, outsider, team):
    Membership.objects.filter(team=team, user=member).update(role="admin")
    client.force_login(member)
    mine = Membership.objects.get(team=team, user=member)
    response = client.post(
        reverse("projects:member-update", args=[team.slug, mine.pk]),
        {"role": "owner"},
        follow=True,
    )
    assert b"Only an owner can make someone an owner" in response.content
    assert Membership.objects.get(pk=mine.pk).role == "admin"
    page = client.get(reverse("projects:members", args=[team.slug]))
    assert b'value="owner"' not in page.content
    response = client.post(
        reverse("projects:members", args=[team.slug]),
        {"recipient": "oscar", "role": "owner"},
    )
    assert response.status_code == 400
    assert not Invitation.objects.exists()


def test_an_admin_cannot_remove_an_owner(client, owner, member, viewer, team):
    Membership.objects.filter(team=team, user=member).update(role="admin")
    Membership.objects.filter(team=team, user=viewer).update(role="owner")
    target = Membership.objects.get(team=team, user=owner)
    client.force_login(member)
    response = client.post(
        reverse("projects:member-update", args=[team.slug, target.pk]),
        {"action": "remove"},
        follow=True,
    )
    assert b"Only an owner can remove an owner" in response.content
    assert Membership.objects.filter(pk=target.pk).exists()


def test_the_members_page_does_not_show_email_addresses(client, owner, member, team):
    client.force_login(owner)
    page = client.get(reverse("projects:members", args=[team.slug]))
    assert b"max@example.com" not in page.content and b"max" in page.content
