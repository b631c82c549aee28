"""The findings pages in a real browser: filter, triage, bulk-assign, export."""

import csv
import io
import json
import os
from pathlib import Path

import pytest
from django.db import connections
from django.urls import reverse
from playwright import sync_api
from playwright.sync_api import expect

from findings.models import Finding, FindingEvent
from tests.conftest import PASSWORD
from tests.findings.test_views import make_finding

# Playwright's sync API runs an event loop in this thread.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


@pytest.fixture
def browser_context(live_server, transactional_db, monkeypatch):
    # Each live-server request runs in its own thread; persistent
    # connections would outlive it and block dropping the test database.
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        context = browser.new_context(
            viewport={"width": 1280, "height": 900}, accept_downloads=True
        )
        context.set_default_timeout(20_000)
        yield context
        browser.close()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=True)


@pytest.mark.browser
def test_filter_triage_bulk_assign_and_export(
    browser_context, live_server, project, owner, member
):
    made = {
        "crit": make_finding(
            project, 1, severity="critical", title="Password stored in clear"
        ),
        "high1": make_finding(
            project, 2, severity="high", title="Foreign key without index"
        ),
        "high2": make_finding(
            project, 3, severity="high", title="Table has no primary key"
        ),
        "med": make_finding(
            project, 4, severity="medium", title="Column named like a keyword"
        ),
        "low": make_finding(
            project,
            5,
            severity="low",
            title="Timestamp without zone",
            file="app/models.py",
            line=40,
        ),
    }
    make_finding(project, 6, severity="high", status="fixed", title="Already fixed")
    list_url = live_server.url + reverse("findings:list", args=[project.pk])
    page = browser_context.new_page()

    # Log in through the form.
    page.goto(live_server.url + reverse("login"))
    page.fill("#id_username", owner.username)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(live_server.url + reverse("projects:list"))

    # The findings list, worst first, with counts per status.
    page.goto(list_url)
    rows = page.locator("table.findings-table tbody tr")
    expect(rows).to_have_count(5)
    expect(rows.first).to_contain_text("Password stored in clear")
    expect(page.locator(".tabs a.active")).to_contain_text("Unresolved 5")
    shot(page, "findings-list.png")

    # Filter by severity through htmx: the URL follows, the page does not reload.
    page.evaluate("window.notReloaded = true")
    page.select_option("#id_severity", "high")
    expect(page).to_have_url(
        f"{list_url}?q=&severity=high&dimension=&effort=&assignee=&target=&check=&status=unresolved"
    )
    expect(rows).to_have_count(2)
    expect(page.locator("#findings-total")).to_have_text("2")
    expect(page.locator(".tabs a", has_text="Fixed")).to_contain_text("1")
    assert page.evaluate("window.notReloaded") is True

    # Open a finding and change its status; the history grows in place.
    page.get_by_role("link", name="Foreign key without index").click()
    expect(page).to_have_url(live_server.url + made["high1"].get_absolute_url())
    page.evaluate("window.notReloaded = true")
    history = page.locator("#history li.event")
    before = history.count()
    page.select_option("#id_status", "in_progress")
    page.get_by_role("button", name="Update status").click()
    expect(history).to_have_count(before + 1)
    expect(history.last).to_contain_text("changed status Open → In progress")
    expect(page.locator("#finding-status")).to_have_text("In progress")
    expect(page.locator("#head-status")).to_have_text("In progress")
    assert page.evaluate("window.notReloaded") is True
    shot(page, "finding-detail.png")
    assert Finding.objects.get(pk=made["high1"].pk).status == "in_progress"

    # Bulk-assign two findings from the list.
    page.goto(list_url)
    page.check(f"#finding-{made['crit'].pk} input.row-select")
    page.check(f"#finding-{made['med'].pk} input.row-select")
    expect(page.locator("#selected-count")).to_have_text("2 selected")
    page.select_option("#bulk-assignee", str(member.pk))
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#bulk-result")).to_contain_text("2 assigned to max.")
    # The table refreshed itself through the findings-changed event.
    expect(page.locator(f"#finding-{made['crit'].pk}")).to_contain_text("max")
    expect(page.locator(f"#finding-{made['med'].pk}")).to_contain_text("max")
    shot(page, "findings-bulk.png")
    assert set(
        Finding.objects.filter(assignee=member).values_list("pk", flat=True)
    ) == {made["crit"].pk, made["med"].pk}
    assert FindingEvent.objects.filter(kind="assigned").count() == 2

    # Export what the list shows (filtered to high) as CSV and read it back.
    page.select_option("#id_severity", "high")
    expect(rows).to_have_count(2)
    with page.expect_download() as download_info:
        page.get_by_role("link", name="CSV", exact=True).click()
    download = download_info.value
    assert download.suggested_filename.startswith("shop-findings-")
    text = Path(download.path()).read_text(encoding="utf-8")
    exported = list(csv.DictReader(io.StringIO(text)))
    assert sorted(r["title"] for r in exported) == [
        "Foreign key without index",
        "Table has no primary key",
    ]
    assert {r["status"] for r in exported} == {"open", "in_progress"}

    # Phone width: the list still reads.
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "findings-list-phone.png")


@pytest.mark.browser
def test_finding_page_shows_the_source_and_reasoning_a_reviewer_judges_by(
    browser_context, live_server, project, owner
):
    proof = {
        "context": [
            {"line": 3, "text": ""},
            {"line": 4, "text": "def open_db():"},
            {"line": 5, "text": '    return sqlite3.connect("app.db", timeout=0)'},
            {"line": 6, "text": ""},
        ],
        "trace": [
            {"file": "app/db.py", "line": 5, "message": "timeout=0: waits 0 ms"},
            {"file": "app/db.py", "line": 4, "message": "every caller shares it"},
        ],
    }
    finding = make_finding(
        project,
        7,
        severity="critical",
        check_id="sqlite-busy-timeout-missing",
        title="SQLite connection never waits on a lock",
        file="app/db.py",
        line=5,
        proof=json.dumps(proof),
    )
    page = browser_context.new_page()
    page.goto(live_server.url + reverse("login"))
    page.fill("#id_username", owner.username)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(live_server.url + reverse("findings:detail", args=[finding.pk]))
    section = page.locator("#proof")
    expect(section.get_by_role("heading", name="Source and reasoning")).to_be_visible()
    code = section.locator(".highlight")
    expect(code).to_contain_text('return sqlite3.connect("app.db", timeout=0)')
    expect(code.locator(".hll")).to_contain_text("timeout=0")
    # Highlighted by the server's stylesheet: keywords take a colour.
    keyword = code.locator(".k").first
    expect(keyword).to_have_text("def")
    assert keyword.evaluate("e => getComputedStyle(e).color") != "rgb(0, 0, 0)"
    steps = section.locator(".proof-trace li")
    expect(steps).to_have_count(2)
    expect(steps.first).to_contain_text("app/db.py:5 timeout=0: waits 0 ms")
    shot(page, "finding-proof.png")
