"""An audit's report, cut into pages rendered once."""

import re

from django.urls import reverse

from audits.models import Audit, ReportPage
from audits.report_pages import split_report


def big_table(rows: int) -> str:
    lines = ["# Report", "", "## Findings", "", "| ID | Finding |", "|----|---------|"]
    lines += [f"| F-{i} | Finding number {i} |" for i in range(rows)]
    return "\n".join(lines) + "\n"


def test_a_table_cut_across_pages_repeats_its_header():
    pages = split_report(big_table(250), page_lines=100)
    assert len(pages) == 3
    for page in pages[1:]:
        assert page.startswith("| ID | Finding |\n|----|---------|\n| F-")
    rows = [line for page in pages for line in page.splitlines() if "| F-" in line]
    assert len(rows) == 250 and len(set(rows)) == 250


def test_no_page_ends_inside_a_code_fence():
    text = "intro\n```\n" + "\n".join(f"line {i}" for i in range(50)) + "\n```\nend"
    pages = split_report(text, page_lines=10)
    for page in pages:
        assert page.count("```") % 2 == 0
    assert "\n".join(pages) == text


def test_a_short_report_is_one_page():
    assert split_report("# Report\n\nAll good.\n") == ["# Report\n\nAll good.\n"]


def test_report_pages_are_rendered_once_and_paged(
    client, owner, project, django_assert_max_num_queries
):
    audit = Audit.objects.create(
        project=project,
        number=1,
        status=Audit.Status.SUCCEEDED,
        report_markdown=big_table(4000) + "\n![pixel](https://tracker.example/p.gif)\n",
    )
    client.force_login(owner)
    url = reverse("audits:detail", args=[audit.pk])
    first = client.get(url)
    assert first.context["report_pages"] == 3
    assert "Finding number 0<" in first.content.decode()
    assert ReportPage.objects.filter(audit=audit).count() == 1
    audit.refresh_from_db()
    assert audit.report_pages == 3
    last = client.get(url + "?report_page=3").content.decode()
    assert "Finding number 3999<" in last and "Finding number 0<" not in last
    assert "<img" not in last and "[image: pixel]" in last
    assert ReportPage.objects.filter(audit=audit).count() == 2
    # Shown again, the stored HTML is read: no splitting or rendering.
    stored = ReportPage.objects.get(audit=audit, number=3)
    ReportPage.objects.filter(pk=stored.pk).update(html="<p>stored page</p>")
    assert "stored page" in client.get(url + "?report_page=3").content.decode()
    # Out-of-range numbers show the nearest page.
    assert client.get(url + "?report_page=99").context["report_page"] == 3
    assert client.get(url + "?report_page=x").context["report_page"] == 1


def test_the_engine_report_shows_hostile_names_as_written_and_inert(
    client, owner, project
):
    from audits.engine.render import markdown
    from audits.engine.scan import ScanResult
    from tests.engine.render_fixtures import sample_issues

    hostile = "[click](javascript:alert(1)) <img src=x> **b** user_id: a@b.test"
    issue = sample_issues()[1].with_changes(
        title=f"Bad {hostile}", object="t.[c](javascript:y)"
    )
    audit = Audit.objects.create(
        project=project,
        number=1,
        status=Audit.Status.SUCCEEDED,
        report_markdown=markdown.render(
            ScanResult((), (issue,)), project=f"P {hostile}", date="2026-01-01"
        ),
    )
    client.force_login(owner)
    page = client.get(reverse("audits:detail", args=[audit.pk])).content.decode()
    report = page.split('<div class="report">', 1)[1]
    # Read as written: no backslash of the escaping shows.
    shown = "Bad [click](javascript:alert(1)) &lt;img src=x&gt; **b** user_id: a@b.test"
    assert shown in report
    assert "<code>t.[c](javascript:y)</code>" in report
    assert "javascript:" not in "".join(re.findall(r'href="([^"]*)"', report))
    assert "<img" not in report and "<strong>b</strong>" not in report
