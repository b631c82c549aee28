"""Upload a report through the project page in a real browser."""

import os
import re
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from playwright import sync_api

from findings.models import Finding

# Playwright's sync API runs an event loop in this thread.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

FIXTURES = Path(__file__).resolve().parents[1] / "engine" / "fixtures" / "reports"
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


@pytest.fixture
def page(live_server, transactional_db, owner):
    client = Client()
    client.force_login(owner)
    session = client.cookies["sessionid"].value
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        context.add_cookies(
            [{"name": "sessionid", "value": session, "url": live_server.url}]
        )
        page = context.new_page()
        page.set_default_timeout(20_000)
        yield page
        browser.close()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=True)


@pytest.mark.browser
def test_uploading_a_report_shows_its_findings_in_the_list(page, live_server, project):
    page.goto(live_server.url + reverse("projects:overview", args=[project.pk]))
    page.get_by_text("Import a report or SARIF file").click()
    page.set_input_files("#import-file", str(FIXTURES / "sections_links.md"))
    page.click("#import-submit")

    result = page.locator(".import-result")
    sync_api.expect(result).to_contain_text("5 new, 0 fixed")
    sync_api.expect(result).to_contain_text("sections_links.md")
    page.wait_for_load_state("networkidle")  # other panels refresh on the event
    shot(page, "import-overview.png")
    assert Finding.objects.filter(project=project).count() == 5

    result.get_by_role("link", name="View findings →").click()
    page.wait_for_url("**/findings/**")
    table = page.locator("#findings-table")
    # The default tab lists unresolved findings: the three the report left open.
    for title in (
        "Article lookups skip the site filter",
        "Session tokens stored in plain text",
        "Pool has no pre-ping",
    ):
        sync_api.expect(table).to_contain_text(title)
    sync_api.expect(table).not_to_contain_text("Search query built with string")
    shot(page, "import-findings.png")


@pytest.mark.browser
def test_uploading_a_document_without_findings_explains_why(
    page, live_server, project, tmp_path
):
    schema_doc = tmp_path / "schema.md"
    schema_doc.write_text(
        "# Schema\n\nThe `users` table holds accounts.\n\n"
        "| Column | Type |\n|---|---|\n| id | integer |\n| email | text |\n"
    )
    page.goto(live_server.url + reverse("projects:overview", args=[project.pk]))
    page.get_by_text("Import a report or SARIF file").click()
    page.set_input_files("#import-file", str(schema_doc))
    page.click("#import-submit")

    error = page.locator("#import-report .errorlist")
    sync_api.expect(error).to_contain_text("has no findings to import")
    shot(page, "import-refused.png")
    assert not Finding.objects.filter(project=project).exists()


def upload(page, live_server, project, path: Path) -> None:
    """Open the project overview and import ``path`` through its form."""
    page.goto(live_server.url + reverse("projects:overview", args=[project.pk]))
    page.get_by_text("Import a report or SARIF file").click()
    page.set_input_files("#import-file", str(path))
    page.click("#import-submit")


@pytest.mark.browser
def test_a_report_whose_totals_differ_says_so_in_the_banner_and_on_the_audit_page(
    page, live_server, project
):
    upload(page, live_server, project, FIXTURES / "styles" / "category_summary.md")

    banner = page.locator("#import-report")
    sync_api.expect(banner.locator(".import-result")).to_contain_text("4 new")
    alert = banner.get_by_role("alert")
    sync_api.expect(alert).to_contain_text("The report states other totals")
    medium = banner.locator(".totals tr", has_text="Medium")
    sync_api.expect(medium).to_have_text(re.compile(r"Medium\s*2\s*1\s*differs"))
    high = banner.locator(".totals tr", has_text="High")
    sync_api.expect(high).to_have_text(re.compile(r"High\s*2\s*2\s*same"))
    sync_api.expect(alert).to_be_visible()
    shot(page, "import-totals-banner.png")

    banner.get_by_role("link", name=re.compile(r"audit #\d+")).click()
    page.wait_for_url("**/audits/**")
    card = page.locator(
        "section", has=page.get_by_role("heading", name="Totals the report states")
    )
    sync_api.expect(card.get_by_role("alert")).to_be_visible()
    sync_api.expect(card.locator(".totals tr", has_text="Medium")).to_have_text(
        re.compile(r"Medium\s*2\s*1\s*differs")
    )
    sync_api.expect(card.locator(".totals tr", has_text="Low")).to_have_text(
        re.compile(r"Low\s*1\s*1\s*same")
    )
    shot(page, "import-totals-audit.png")


@pytest.mark.browser
def test_a_reported_fix_is_shown_as_reported_not_verified_everywhere(
    page, live_server, project
):
    upload(page, live_server, project, FIXTURES / "styles" / "bracket_category.md")

    result = page.locator(".import-result")
    sync_api.expect(result).to_contain_text(
        "6 new, 0 fixed, 1 reported fixed (not verified), 0 reopened"
    )
    result.get_by_role("link", name=re.compile(r"audit #\d+")).click()
    page.wait_for_url("**/audits/**")
    sync_api.expect(page.get_by_role("heading", name="Fixed (0)")).to_be_visible()
    reported = page.locator("section#reported_fixed")
    sync_api.expect(reported.get_by_role("heading")).to_have_text("Reported fixed (1)")
    sync_api.expect(reported).to_contain_text("nothing has verified it yet")
    shot(page, "import-reported-fixed-audit.png")

    reported.get_by_role(
        "link", name="Bank account numbers stored in plaintext"
    ).click()
    page.wait_for_url("**/findings/**")
    sync_api.expect(page.locator("#unverified-fix")).to_contain_text(
        "Not yet: reported fixed by an imported report"
    )
    sync_api.expect(page.locator("#finding-status")).to_have_text("Fixed")
    sync_api.expect(
        page.get_by_text(
            "Imported from bracket_category.md, line 21, reported as FIXED in release 4.2."
        )
    ).to_be_visible()
    shot(page, "import-reported-fixed-finding.png")
