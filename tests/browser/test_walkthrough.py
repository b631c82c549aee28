"""The main path through Plumbline in a real browser (headless chromium).

Log in through the form, create a project with a target, run an audit and
watch its progress bar finish, read the grades, then follow a cell of the
priority matrix to the filtered findings list.
"""

import os
import re

import pytest
from django.urls import reverse
from playwright import sync_api
from playwright.sync_api import expect

from audits.models import Audit
from findings.models import Finding
from projects.models import Project
from tests.conftest import PASSWORD

# Playwright's sync API runs an event loop in this thread.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]

# A schema with known defects: a table without a primary key, plaintext
# secrets, foreign keys missing or unindexed, unchecked numbers.
DEFECTIVE_SCHEMA = """
CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, password TEXT, api_key TEXT);
CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id),
    total REAL, status TEXT, payload TEXT);
CREATE TABLE order_items (order_id INTEGER, product_id INTEGER, qty INTEGER);
CREATE TABLE audit_log (id INTEGER PRIMARY KEY, user_id INTEGER, action TEXT,
    created_at TEXT);
"""


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


def log_in(page, live_server, user) -> None:
    page.goto(live_server.url + reverse("login"))
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(live_server.url + reverse("projects:list"))


@pytest.mark.browser
def test_walk_from_login_to_a_filtered_findings_list(
    browser_page, live_server, owner, tmp_path
):
    page = browser_page
    schema = tmp_path / "shop.sql"
    schema.write_text(DEFECTIVE_SCHEMA)

    log_in(page, live_server, owner)
    expect(page.get_by_text("No projects yet")).to_be_visible()

    # Create a project with a DDL target through the form.
    page.get_by_role("link", name="Create your first project").click()
    page.fill("#id_project-name", "Web shop")
    page.fill("#id_project-description", "The shop's order database.")
    page.select_option("#id_target-kind", "ddl")
    page.fill("#id_target-location", str(schema))
    page.get_by_role("button", name="Create project").click()
    project = Project.objects.get(name="Web shop")
    expect(page).to_have_url(
        live_server.url + reverse("projects:overview", args=[project.pk])
    )
    assert project.targets.get().location == str(schema)
    expect(page.get_by_text("No audit yet")).to_be_visible()

    # It is listed on the project list.
    page.get_by_role("link", name="Projects", exact=True).click()
    card = page.locator(".project-card", has_text="Web shop")
    expect(card).to_be_visible()
    expect(card).to_contain_text("Not audited yet")
    card.get_by_role("link", name="Web shop").click()

    # Run an audit and watch the bar reach 100 % with the status Succeeded.
    page.get_by_role("button", name="Run audit").click()
    progress = page.locator("#audit-progress")
    expect(progress.locator("#audit-status")).to_have_text("Succeeded")
    expect(progress.get_by_role("progressbar")).to_have_attribute(
        "aria-valuenow", "100"
    )
    expect(progress.locator(".progress > span")).to_have_attribute(
        "style", re.compile(r"width: 100%")
    )

    # The executive summary appears without a reload, with the audit's grades.
    audit = Audit.objects.get(project=project)
    grades = audit.summary["grades"]
    table = page.locator("#grades")
    expect(table).to_be_visible()
    shown = {}
    for row in table.locator("tbody tr").all():
        shown[row.get_attribute("data-dimension")] = (
            row.locator(".grade").inner_text().strip()
        )
    assert shown == {k: v for k, v in grades.items() if k != "overall"}
    expect(page.locator(".overall-grade .grade")).to_have_text(grades["overall"])
    assert grades["schema"] != "A+" and grades["security"] != "A+"

    # Expanding a grade lists the findings that set it.
    schema_row = table.locator('tr[data-dimension="security"]')
    schema_row.locator("summary").click()
    expect(schema_row.locator(".finding-mini li")).to_have_count(
        audit.summary["by_dimension"]["security"][
            audit.summary["grade_worst"]["security"]
        ]
    )

    # The quick-win cell (high severity, hours of work) leads to the list
    # filtered on it, and the rows shown are exactly those findings.
    cell = page.locator(
        '#priority-matrix td[data-severity="high"][data-effort="hours"] a'
    )
    expected = Finding.objects.filter(
        project=project, severity="high", effort="hours", status="open"
    )
    count = expected.count()
    assert count >= 2
    expect(cell).to_have_text(str(count))
    expect(
        page.locator(
            '#priority-matrix td.quick-win[data-severity="high"][data-effort="hours"]'
        )
    ).to_be_visible()
    cell.click()
    page.wait_for_url(re.compile(r"/findings/\?"))
    for part in ("severity=high", "effort=hours", "status=unresolved"):
        assert part in page.url
    body = page.locator("main").inner_text()
    for finding in expected:
        assert finding.title in body
    others = Finding.objects.filter(project=project).exclude(
        pk__in=expected.values("pk")
    )
    other_titles = {f.title for f in others} - {f.title for f in expected}
    assert other_titles
    for title in other_titles:
        assert title not in body
    links = page.locator("main a[href^='/findings/']").evaluate_all(
        "els => [...new Set(els.map(e => e.getAttribute('href')))]"
        ".filter(h => /^\\/findings\\/\\d+\\/$/.test(h))"
    )
    assert sorted(links) == sorted(f.get_absolute_url() for f in expected)


@pytest.mark.browser
def test_overview_is_readable_on_a_phone(browser_page, live_server, owner, project):
    from audits import services

    for _ in range(3):
        audit = services.start_audit(project, user=owner, enqueue=False)
        services.execute_audit(audit.pk)
    page = browser_page
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server, owner)
    page.goto(live_server.url + reverse("projects:overview", args=[project.pk]))
    expect(page.locator("#grades")).to_be_visible()
    expect(page.locator("svg.chart").first).to_be_visible()
    # Nothing makes the page scroll sideways.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390


@pytest.mark.browser
def test_progress_bar_polls_until_the_audit_ends_then_grades_refresh(
    browser_page, live_server, owner, project
):
    from django.utils import timezone

    from audits import services

    first = services.start_audit(project, user=owner, enqueue=False)
    first = services.execute_audit(first.pk)
    running = Audit.objects.create(
        project=project,
        number=2,
        status=Audit.Status.RUNNING,
        started_at=timezone.now(),
        progress_done=1,
        progress_total=3,
        progress_step="Scanning schema.sql",
    )
    page = browser_page
    log_in(page, live_server, owner)
    page.goto(live_server.url + reverse("projects:overview", args=[project.pk]))
    bar = page.locator("#audit-progress").get_by_role("progressbar")
    expect(page.locator("#audit-status")).to_have_text("Running")
    expect(bar).to_have_attribute("aria-valuenow", "33")
    expect(page.locator(".overall-grade .grade")).to_have_text(
        first.summary["grades"]["overall"]
    )

    # A worker elsewhere moves on, then finishes with a different result.
    Audit.objects.filter(pk=running.pk).update(
        progress_done=2, progress_step="Reconciling findings"
    )
    expect(bar).to_have_attribute("aria-valuenow", "66")
    expect(page.locator("#audit-progress")).to_contain_text("Reconciling findings")
    summary = {**first.summary, "grades": {**first.summary["grades"], "overall": "F"}}
    Audit.objects.filter(pk=running.pk).update(
        status=Audit.Status.SUCCEEDED, finished_at=timezone.now(), summary=summary
    )
    expect(page.locator("#audit-status")).to_have_text("Succeeded")
    expect(bar).to_have_attribute("aria-valuenow", "100")
    # The summary refreshed itself on the audit-finished event.
    expect(page.locator(".overall-grade .grade")).to_have_text("F")
    # Polling stopped: the finished bar carries no hx-get any more.
    assert page.locator("#audit-progress[hx-get]").count() == 0
