"""Every export link of the findings list carries the list's filters."""

import json
from pathlib import Path

import pytest
from django.urls import reverse

from tests.browser.conftest import expect, log_in_as
from tests.findings.test_views import make_finding


@pytest.mark.browser
def test_export_links_follow_the_filters_and_name_their_files_apart(
    chromium, live_server, project, owner
):
    make_finding(
        project,
        1,
        severity="high",
        object="orders.user_id",
        title="Unindexed [reset password](javascript:alert(1)) <img src=x>",
    )
    make_finding(project, 2, severity="low", object="orders.note")
    page = log_in_as(chromium, live_server, owner)
    page.goto(live_server.url + reverse("findings:list", args=[project.pk]))
    page.select_option("#id_severity", "high")
    expect(page.locator("table.findings-table tbody tr")).to_have_count(1)

    # SARIF before any audit: a valid log of the filtered findings, not a 404.
    with page.expect_download() as sarif_download:
        page.get_by_role("link", name="SARIF", exact=True).click()
    sarif = json.loads(Path(sarif_download.value.path()).read_text())
    results = sarif["runs"][0]["results"]
    assert [r["properties"]["severity"] for r in results] == ["high"]
    # A database finding points at its object, not at a malformed file path.
    (location,) = results[0]["locations"]
    assert location["logicalLocations"][0]["fullyQualifiedName"] == "orders.user_id"
    uri = location["physicalLocation"]["artifactLocation"].get("uri", "")
    assert "//" not in uri and uri not in (".", "")
    assert sarif_download.value.suggested_filename == "shop-no-audit.sarif"

    names = []
    for label in ("CSV", "CSV for Excel", "Markdown"):
        link = page.get_by_role("link", name=label, exact=True)
        assert "severity=high" in link.get_attribute("href")
        with page.expect_download() as download:
            link.click()
        names.append(download.value.suggested_filename)
        if label == "Markdown":
            markdown = Path(download.value.path()).read_text()
    assert len(set(names)) == 3
    assert names[1].endswith("-excel.csv")
    # A title cannot turn into a link or HTML in the Markdown report.
    row = next(line for line in markdown.splitlines() if line.startswith("| HIGH-1"))
    assert "\\[reset password\\]\\(javascript\\:alert\\(1\\)\\) \\<img" in row
