"""Accounts and teams in a real browser: throttling, passwords, invitations, teams."""

import re

import pytest
from django.core import mail
from django.urls import reverse

from findings.models import Finding
from projects.models import Membership, Project, Team
from tests.browser.conftest import (
    expect,
    log_in_as,
    log_in_through_the_form,
    no_csp_violations,
    watch_csp,
)
from tests.conftest import PASSWORD
from tests.findings.test_views import make_finding


@pytest.mark.browser
def test_wrong_passwords_lock_the_login_even_for_the_right_one(
    chromium, live_server, owner, settings
):
    page = chromium.new_page()
    for n in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in_through_the_form(page, live_server, owner.username, f"wrong-{n}")
        expect(page.locator(".error-summary")).to_contain_text(
            "enter a correct username and password"
        )
    log_in_through_the_form(page, live_server, owner.username, "wrong-last")
    expect(page.get_by_role("heading", name="Too many failed log-ins")).to_be_visible()
    log_in_through_the_form(page, live_server, owner.username, PASSWORD)
    expect(page.get_by_role("heading", name="Too many failed log-ins")).to_be_visible()
    page.goto(live_server.url + reverse("projects:list"))
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    # An unknown username is locked the same way: nothing tells them apart.
    for n in range(settings.AXES_FAILURE_LIMIT):
        log_in_through_the_form(page, live_server, "nobody-here", f"wrong-{n}")
    expect(page.get_by_role("heading", name="Too many failed log-ins")).to_be_visible()
    no_csp_violations(page)


@pytest.mark.browser
def test_signup_refuses_a_trivial_password_where_it_was_typed(chromium, live_server):
    page = chromium.new_page()
    page.goto(live_server.url + reverse("signup"))
    page.fill("#id_username", "nina")
    page.fill("#id_password1", "password1")
    page.fill("#id_password2", "password1")
    page.get_by_role("button", name="Sign up").click()
    summary = page.locator(".error-summary")
    expect(summary).to_contain_text("too common")
    expect(summary).to_contain_text("at least 10 characters")
    expect(page.locator("#id_password2")).to_be_focused()
    page.fill("#id_password1", "a long enough passphrase")
    page.fill("#id_password2", "a long enough passphrase")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="New project")).to_be_visible()


@pytest.mark.browser
def test_password_reset_answers_alike_and_the_link_sets_a_validated_password(
    chromium, live_server, owner
):
    page = chromium.new_page()
    page.goto(live_server.url + reverse("login"))
    page.get_by_role("link", name="Forgot your password?").click()
    page.fill("#id_email", "nobody@example.com")
    page.get_by_role("button", name="Send the reset link").click()
    unknown = page.locator("main").inner_text()
    assert len(mail.outbox) == 0
    page.goto(live_server.url + reverse("password_reset"))
    page.fill("#id_email", owner.email)
    page.get_by_role("button", name="Send the reset link").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    assert page.locator("main").inner_text() == unknown
    assert len(mail.outbox) == 1
    link = re.search(r"http://\S+", mail.outbox[0].body).group(0)

    page.goto(link)
    page.fill("#id_new_password1", "12345678")
    page.fill("#id_new_password2", "12345678")
    page.get_by_role("button", name="Set password").click()
    expect(page.locator(".error-summary")).to_contain_text("entirely numeric")
    page.fill("#id_new_password1", "another long passphrase")
    page.fill("#id_new_password2", "another long passphrase")
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("heading", name="Password set")).to_be_visible()
    log_in_through_the_form(
        page, live_server, owner.username, "another long passphrase"
    )
    expect(page).to_have_url(live_server.url + reverse("projects:list"))


@pytest.mark.browser
def test_a_user_changes_their_password(chromium, live_server, owner):
    page = log_in_as(chromium, live_server, owner)
    page.goto(live_server.url + reverse("projects:list"))
    page.get_by_role("link", name=owner.username).click()
    page.fill("#id_old_password", "not it")
    page.fill("#id_new_password1", "a brand new passphrase")
    page.fill("#id_new_password2", "a brand new passphrase")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator(".error-summary")).to_contain_text("old password")
    expect(page.locator("#id_old_password")).to_be_focused()
    page.fill("#id_old_password", PASSWORD)
    page.fill("#id_new_password1", "a brand new passphrase")
    page.fill("#id_new_password2", "a brand new passphrase")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("heading", name="Password changed")).to_be_visible()
    owner.refresh_from_db()
    assert owner.check_password("a brand new passphrase")


@pytest.mark.browser
def test_an_invitee_joins_only_by_accepting(
    chromium, live_server, owner, outsider, project, team
):
    page = log_in_as(chromium, live_server, owner)
    page.goto(live_server.url + reverse("projects:members", args=[team.slug]))
    page.fill("#id_recipient", outsider.username)
    page.select_option("#id_role", "member")
    page.get_by_role("button", name="Invite").click()
    expect(page.locator(".messages")).to_contain_text("Invitation for “oscar”")
    # An unknown name gets the very same kind of answer.
    page.fill("#id_recipient", "not-registered@example.com")
    page.get_by_role("button", name="Invite").click()
    expect(page.locator(".messages")).to_contain_text(
        "Invitation for “not-registered@example.com”"
    )
    assert not Membership.objects.filter(team=team, user=outsider).exists()

    other = watch_csp(chromium.browser.new_context())
    invitee = log_in_as(other, live_server, outsider)
    invitee.goto(live_server.url + reverse("projects:list"))
    expect(invitee.locator("main")).not_to_contain_text("Shop")
    invitee.get_by_role("link", name="Invitations").click()
    card = invitee.locator(".invitation", has_text="Acme")
    expect(card).to_contain_text("olivia invites you to Acme as member")
    card.get_by_role("button", name="Join Acme").click()
    expect(invitee.locator(".messages")).to_contain_text("You joined Acme")
    expect(invitee.locator(".project-card", has_text="Shop")).to_be_visible()
    assert Membership.objects.get(team=team, user=outsider).role == "member"
    no_csp_violations(invitee)


@pytest.mark.browser
def test_create_a_team_and_leave_one(chromium, live_server, owner, member, project):
    page = log_in_as(chromium, live_server, member)
    page.goto(live_server.url + reverse("projects:list"))
    page.get_by_role("link", name="New team").click()
    page.get_by_role("button", name="Create team").click()
    expect(page.locator(".error-summary")).to_contain_text("required")
    page.fill("#id_name", "Platform")
    page.get_by_role("button", name="Create team").click()
    expect(page.get_by_role("heading", name="Platform")).to_be_visible()
    team = Team.objects.get(name="Platform")
    assert Membership.objects.get(team=team, user=member).role == "owner"

    # The only owner of a team cannot leave it...
    page.get_by_role("button", name="Leave this team").click()
    expect(page.locator(".messages")).to_contain_text("only owner")
    # ...a member of another can.
    page.goto(live_server.url + reverse("projects:members", args=[project.team.slug]))
    page.get_by_role("button", name="Leave this team").click()
    expect(page.locator(".messages")).to_contain_text("You left Acme")
    expect(page.locator(".project-card", has_text="Shop")).to_have_count(0)


@pytest.mark.browser
def test_deleting_a_project_takes_its_typed_name(chromium, live_server, owner, project):
    for n in range(3):
        make_finding(project, n)
    page = log_in_as(chromium, live_server, owner)
    page.goto(live_server.url + reverse("projects:settings", args=[project.pk]))
    button = page.get_by_role("button", name="Delete project and findings")
    expect(button).to_be_disabled()
    page.fill("#id_confirm", "shop")
    expect(button).to_be_disabled()
    page.fill("#id_confirm", "Shop")
    expect(button).to_be_enabled()
    button.click()
    expect(page.locator(".messages")).to_contain_text(
        "Project “Shop” and its findings were deleted."
    )
    assert not Project.objects.filter(pk=project.pk).exists()
    assert not Finding.objects.exists()
    no_csp_violations(page)
