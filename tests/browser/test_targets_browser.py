"""Project tokens and refused targets, as the user sees them in a browser."""

import os

import pytest
from django.urls import reverse
from playwright import sync_api
from playwright.sync_api import expect

from projects.models import ProjectToken

from .test_walkthrough import CHROMIUM_ARGS, log_in

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = pytest.mark.browser


@pytest.fixture
def browser_page(live_server, transactional_db):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(20_000)
        yield page
        browser.close()


def test_a_token_is_shown_once_then_only_its_hint_and_it_can_be_revoked(
    browser_page,
    live_server,
    owner,
    project,
):
    page = browser_page
    log_in(page, live_server, owner)
    page.goto(live_server.url + reverse("projects:settings", args=[project.pk]))
    page.fill("#token-name", "GitHub Actions")
    page.get_by_role("button", name="Create token").click()
    shown = page.locator("#new-token")
    expect(shown).to_be_visible()
    expect(
        page.get_by_text("Copy this token now: it is shown only once.")
    ).to_be_visible()
    raw = shown.inner_text().strip()
    assert raw.startswith("plbp_")
    token = ProjectToken.objects.get(project=project)
    assert token.digest == ProjectToken.digest_of(raw)

    page.goto(live_server.url + reverse("projects:settings", args=[project.pk]))
    expect(page.locator("#new-token")).to_have_count(0)
    row = page.locator(f"#token-{token.pk}")
    expect(row).to_contain_text("GitHub Actions")
    expect(row).to_contain_text(token.hint)
    expect(row).to_contain_text("last used never")
    assert raw not in page.content()

    row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("Token “GitHub Actions” revoked")).to_be_visible()
    expect(page.locator(f"#token-{token.pk}")).to_contain_text("revoked")


def test_a_server_path_is_refused_where_the_user_types_it(
    browser_page,
    live_server,
    owner,
    project,
    settings,
    tmp_path,
):
    settings.TARGET_PATH_ROOTS = []
    page = browser_page
    log_in(page, live_server, owner)
    page.goto(live_server.url + reverse("projects:settings", args=[project.pk]))
    page.select_option("#id_target-kind", "code")
    page.fill("#id_target-location", str(tmp_path))
    page.get_by_role("button", name="Add target").click()
    expect(page.get_by_text("The target was not added")).to_be_visible()
    expect(page.locator("#id_target-location_error")).to_contain_text(
        "This server reads no folders of its own"
    )
