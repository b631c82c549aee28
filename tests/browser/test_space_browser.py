"""The overview shows how a live database grew since the last successful audit."""

from __future__ import annotations

import pytest

from audits import services
from projects.models import Project, Target
from tests.browser.conftest import expect, log_in_as, no_csp_violations
from tests.engine.health_helpers import growing_database, write_events


def run_audit(project: Project):
    return services.execute_audit(services.start_audit(project, enqueue=False).pk)


@pytest.mark.browser
@pytest.mark.postgres
def test_overview_shows_the_space_growth_since_the_previous_audit(
    chromium, live_server, team, owner, private_pg, settings
):
    settings.ALLOW_PRIVATE_TARGETS = True
    with growing_database(private_pg) as (url, conn):
        project = Project.objects.create(team=team, name="Shop", slug="shop")
        Target.objects.create(
            project=project, kind=Target.Kind.POSTGRESQL, location=url
        )
        run_audit(project)
        page = log_in_as(chromium, live_server, owner)
        page.goto(live_server.url + project.get_absolute_url())
        row = page.locator("#space-growth tbody tr")
        expect(row).to_have_count(1)
        expect(row).to_contain_text("PostgreSQL")
        expect(row).to_contain_text("First reading of its size: no growth to show yet")

        write_events(conn, 12_000)
        run_audit(project)
        page.reload()
        expect(row).not_to_contain_text("First reading")
        expect(row).to_contain_text("since audit #1")
        expect(row).to_contain_text("fastest: events +")
        expect(row.locator("td").nth(0)).to_contain_text("MB")
        no_csp_violations(page)
