"""Refusals are never silent: what the browser shows when an action is refused."""

import logging

import pytest
from django.urls import reverse

from findings.models import Finding
from projects.models import Membership
from tests.browser.conftest import expect, log_in_as, no_csp_violations, toast
from tests.findings.test_views import make_finding


@pytest.mark.browser
def test_a_status_that_needs_a_reason_says_so_under_the_reason_box(
    chromium, live_server, project, owner
):
    finding = make_finding(project, 1, severity="high", title="Unindexed key")
    page = log_in_as(chromium, live_server, owner)
    page.goto(live_server.url + finding.get_absolute_url())
    page.select_option("#id_status", "documented")
    page.get_by_role("button", name="Update status").click()
    error = page.locator("#triage-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("needs a reason")
    # The eye and the keyboard land on the box to fill; the choice is kept.
    expect(page.locator("#id_reason")).to_be_focused()
    expect(page.locator("#id_reason")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#id_status")).to_have_value("documented")
    expect(page.locator("#finding-status")).to_have_text("Open")
    assert Finding.objects.get(pk=finding.pk).status == "open"

    # With a reason it goes through, and the error is gone.
    page.fill("#id_reason", "Accepted: the table is append-only.")
    page.get_by_role("button", name="Update status").click()
    expect(page.locator("#finding-status")).to_have_text("Documented")
    expect(page.locator("#triage-error")).to_have_count(0)
    no_csp_violations(page)


@pytest.mark.browser
def test_a_refused_bulk_action_shows_a_toast(chromium, live_server, project, owner):
    first = make_finding(project, 1, severity="high")
    make_finding(project, 2, severity="low")
    page = log_in_as(chromium, live_server, owner)
    page.goto(live_server.url + reverse("findings:list", args=[project.pk]))
    page.check(f"#finding-{first.pk} input.row-select")
    page.select_option("#bulk-status", "false_positive")
    page.get_by_role("button", name="Apply").click()
    expect(toast(page)).to_be_visible()
    expect(toast(page)).to_contain_text("needs a reason")
    expect(toast(page)).to_have_attribute("role", "alert")
    assert Finding.objects.get(pk=first.pk).status == "open"
    # The toast closes when asked.
    toast(page).get_by_role("button", name="Dismiss").click()
    expect(toast(page)).to_have_count(0)
    # Selecting nothing is refused the same way.
    page.uncheck(f"#finding-{first.pk} input.row-select")
    page.select_option("#bulk-status", "in_progress")
    page.get_by_role("button", name="Apply").click()
    expect(toast(page)).to_contain_text("Select at least one finding")
    no_csp_violations(page)


@pytest.mark.browser
def test_a_refusal_from_a_stale_page_shows_a_toast_and_logs_one_line(
    chromium, live_server, project, member, team, caplog
):
    finding = make_finding(project, 1, severity="high")
    page = log_in_as(chromium, live_server, member)
    page.goto(live_server.url + finding.get_absolute_url())
    # While the page is open the member becomes a viewer.
    Membership.objects.filter(team=team, user=member).update(role="viewer")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="django.request"):
        page.select_option("#id_status", "in_progress")
        page.get_by_role("button", name="Update status").click()
        expect(toast(page)).to_contain_text("Viewers can read but not change")
    assert Finding.objects.get(pk=finding.pk).status == "open"
    refused = [r for r in caplog.records if getattr(r, "status_code", 0) == 403]
    assert len(refused) == 1
    assert refused[0].exc_info is None and refused[0].exc_text is None
    assert "\n" not in refused[0].getMessage()


@pytest.mark.browser
def test_a_nul_byte_in_a_filter_is_a_clear_400(chromium, live_server, project, owner):
    page = log_in_as(chromium, live_server, owner)
    url = live_server.url + reverse("findings:list", args=[project.pk])
    response = page.goto(url + "?q=abc%00def")
    assert response.status == 400
    expect(page.get_by_role("heading", name="Bad request")).to_be_visible()
    expect(page.locator("main")).to_contain_text("NUL character")
    # Typed into the search box, it refuses the same way, as a toast.
    page.goto(url)
    page.evaluate(
        "document.getElementById('id_q').value = 'a\\u0000b';"
        "document.getElementById('id_q').dispatchEvent(new Event('input', {bubbles: true}))"
    )
    expect(toast(page)).to_contain_text("NUL character")


@pytest.mark.browser
def test_pages_run_under_a_strict_content_security_policy(
    chromium, live_server, project, owner
):
    from audits import services

    audit = services.start_audit(project, user=owner, enqueue=False)
    services.execute_audit(audit.pk)
    finding = project.findings.first()
    page = log_in_as(chromium, live_server, owner)
    response = page.goto(live_server.url + project.get_absolute_url())
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "img-src 'self' data:" in policy
    assert "unsafe-inline" not in policy
    expect(page.locator("#grades")).to_be_visible()
    # The progress bar is drawn by the static script, not an inline style.
    expect(page.locator("#audit-progress .progress > span")).to_have_attribute(
        "style", "width: 100%;"
    )
    no_csp_violations(page)
    for url in (
        reverse("findings:list", args=[project.pk]),
        finding.get_absolute_url(),
        audit.get_absolute_url(),
        reverse("projects:settings", args=[project.pk]),
    ):
        page.goto(live_server.url + url)
        page.wait_for_load_state("load")
        no_csp_violations(page)


@pytest.mark.browser
@pytest.mark.parametrize(
    ("kind", "location", "message"),
    [
        ("ddl", "/tmp/" + "a" * 300, "cannot be used (File name too long)"),
        ("sqlite", "/proc/self/mem", "special file"),
        ("ddl", "/proc/self/mem", "special file"),
    ],
)
def test_unusable_target_paths_are_refused_at_the_field(
    chromium, live_server, project, owner, kind, location, message, settings
):
    # An operator who lets targets read the whole machine still gets these
    # refused.
    settings.TARGET_PATH_ROOTS = ["/"]
    page = log_in_as(chromium, live_server, owner)
    page.goto(live_server.url + reverse("projects:settings", args=[project.pk]))
    page.select_option("#id_target-kind", kind)
    page.fill("#id_target-location", location)
    page.get_by_role("button", name="Add target").click()
    field = page.locator(".field.has-error", has=page.locator("#id_target-location"))
    expect(field).to_contain_text(message)
    expect(page.locator("#id_target-location")).to_have_value(location)
    assert project.targets.count() == 1


@pytest.mark.browser
def test_a_long_path_segment_in_the_address_is_a_404(chromium, live_server, owner):
    page = log_in_as(chromium, live_server, owner)
    for path in ("/static/" + "a" * 300, "/teams/" + "a" * 300 + "/members/"):
        response = page.goto(live_server.url + path)
        assert response.status == 404, path
        expect(page.get_by_role("heading", name="Not found")).to_be_visible()
