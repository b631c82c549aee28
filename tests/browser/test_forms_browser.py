"""The new project form: errors where the eye is, the target judged as a whole."""

import pytest
from django.urls import reverse

from projects.models import Project
from tests.browser.conftest import expect, log_in_as, no_csp_violations


@pytest.fixture
def form_page(chromium, live_server, owner, team):
    page = log_in_as(chromium, live_server, owner)
    page.goto(live_server.url + reverse("projects:create"))
    return page


@pytest.mark.browser
def test_a_blank_name_is_summarised_at_the_top_and_focused(form_page):
    page = form_page
    page.get_by_role("button", name="Create project").click()
    summary = page.locator(".error-summary")
    expect(summary).to_be_in_viewport()
    expect(summary).to_contain_text("Name: This field is required")
    expect(page.locator("#id_project-name")).to_be_focused()
    # The optional target, left blank, is not marked at all.
    expect(page.locator(".field.has-error")).to_have_count(1)
    expect(summary.locator("li")).to_have_count(1)
    # The summary's entry leads to the field.
    summary.get_by_role("link").click()
    expect(page).to_have_url(page.url.split("#")[0] + "#id_project-name")
    assert not Project.objects.exists()
    no_csp_violations(page)


@pytest.mark.browser
def test_a_target_kind_without_a_location_is_an_error_not_dropped(form_page):
    page = form_page
    page.fill("#id_project-name", "Billing")
    page.select_option("#id_target-kind", "postgresql")
    page.get_by_role("button", name="Create project").click()
    summary = page.locator(".error-summary")
    expect(summary).to_be_in_viewport()
    expect(summary).to_contain_text("Target Location: This field is required")
    expect(page.locator("#id_target-location")).to_be_focused()
    # What was typed is still there.
    expect(page.locator("#id_project-name")).to_have_value("Billing")
    expect(page.locator("#id_target-kind")).to_have_value("postgresql")
    assert not Project.objects.exists()

    page.fill("#id_target-location", "postgresql://app@db.internal:5432/billing")
    page.get_by_role("button", name="Create project").click()
    expect(page.locator(".messages")).to_contain_text("Project “Billing” created.")
    project = Project.objects.get()
    assert project.targets.get().location == "postgresql://app@db.internal:5432/billing"


@pytest.mark.browser
def test_the_location_box_fits_a_database_url(form_page):
    page = form_page
    url = "postgresql://reporting_user@db-primary.eu-west-1.internal:5432/warehouse"
    page.fill("#id_target-location", url)
    box = page.locator("#id_target-location").bounding_box()
    assert box["width"] >= 600
    # The whole URL shows without scrolling inside the box.
    fits = page.locator("#id_target-location").evaluate(
        "el => el.scrollWidth <= el.clientWidth"
    )
    assert fits
