"""Severity colours reach the page from the engine's vocabulary."""

import pytest
from django.urls import reverse

from audits.engine.levels import Severity
from tests.browser.test_findings_browser import browser_context  # noqa: F401
from tests.conftest import PASSWORD
from tests.findings.test_views import make_finding


def _rgb(hex_colour: str) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


@pytest.mark.browser
def test_severity_badges_are_painted_in_the_engine_colours(
    browser_context,  # noqa: F811
    live_server,
    project,
    owner,
):
    for n, severity in enumerate(Severity, start=1):
        make_finding(project, n, severity=severity.value, title=f"A {severity} one")
    page = browser_context.new_page()
    page.goto(live_server.url + reverse("login"))
    page.fill("input[name=username]", owner.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(live_server.url + reverse("findings:list", args=[project.pk]))
    for severity in Severity:
        badge = page.locator(f"#findings-table .sev-{severity.value}").first
        colour = badge.evaluate("e => getComputedStyle(e).backgroundColor")
        assert colour == _rgb(severity.colour), severity
