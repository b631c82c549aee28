"""CSV, Markdown and SARIF exports of the findings list."""

import csv
import io
import json
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from audits.models import Audit
from findings.exports import CSV_COLUMNS
from findings.models import Finding, FindingSighting
from tests.findings.test_views import make_finding


@pytest.fixture
def exported(project, owner, member):
    rows = [
        make_finding(
            project, 1, severity="high", effort="minutes", title='=HYPERLINK("x")'
        ),
        make_finding(project, 2, severity="critical", object="+cmd|' /C calc'!A0"),
        make_finding(
            project,
            3,
            severity="low",
            title='Plain, with "quotes" — ünïcode',
            file="app/db.py",
            line=12,
        ),
        make_finding(project, 4, severity="high", status="fixed", title="@SUM(1)"),
        make_finding(project, 5, severity="medium", title="-2+3", function="\tload"),
    ]
    Finding.objects.filter(pk=rows[0].pk).update(assignee=member)
    return rows


def get_csv(client, project, query=""):
    url = reverse("findings:export-csv", args=[project.pk]) + query
    response = client.get(url)
    assert response.status_code == 200
    assert response.streaming
    return response, b"".join(response.streaming_content)


def test_csv_columns_order_rows_and_filename(client, owner, project, exported):
    client.force_login(owner)
    response, body = get_csv(client, project)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith(
        'attachment; filename="shop-findings-'
    )
    assert response["Content-Disposition"].endswith('.csv"')
    assert not body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8"))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert rows[0][:4] == ["id", "severity", "status", "title"]
    # Unresolved by default, worst first, one row per finding.
    assert [r[1] for r in rows[1:]] == ["critical", "high", "medium", "low"]
    by_title = {r[3]: dict(zip(CSV_COLUMNS, r, strict=True)) for r in rows[1:]}
    plain = by_title['Plain, with "quotes" — ünïcode']
    assert plain["file"] == "app/db.py" and plain["line"] == "12"
    assert plain["url"] == f"http://testserver/findings/{exported[2].pk}/"
    assert by_title['\'=HYPERLINK("x")']["assignee"] == "max"


def test_csv_neutralises_formulas(client, owner, project, exported):
    client.force_login(owner)
    _, body = get_csv(client, project, "?status=all")
    rows = {
        r[0]: dict(zip(CSV_COLUMNS, r, strict=True))
        for r in csv.reader(io.StringIO(body.decode()))
    }
    assert rows[str(exported[0].pk)]["title"] == '\'=HYPERLINK("x")'
    assert rows[str(exported[1].pk)]["object"] == "'+cmd|' /C calc'!A0"
    assert rows[str(exported[3].pk)]["title"] == "'@SUM(1)"
    assert rows[str(exported[4].pk)]["title"] == "'-2+3"
    assert rows[str(exported[4].pk)]["function"] == "'\tload"
    # Dates and ids are not touched.
    assert rows[str(exported[0].pk)]["first_seen"][:2] == "20"


def test_csv_times_are_utc_iso_to_the_second(client, owner, project, exported):
    first = datetime(2025, 3, 9, 23, 59, 58, 999_999, tzinfo=UTC)
    last = datetime(2025, 3, 10, 1, 2, 3, tzinfo=UTC)
    Finding.objects.filter(pk=exported[0].pk).update(first_seen_at=first)
    FindingSighting.objects.update_or_create(
        finding=exported[0], defaults={"audit_number": 1, "seen_at": last}
    )
    client.force_login(owner)
    _, body = get_csv(client, project)
    rows = {
        r[0]: dict(zip(CSV_COLUMNS, r, strict=True))
        for r in csv.reader(io.StringIO(body.decode()))
    }
    row = rows[str(exported[0].pk)]
    # As datetime.isoformat(timespec="seconds") writes them: truncated, UTC.
    assert row["first_seen"] == first.isoformat(timespec="seconds")
    assert row["first_seen"] == "2025-03-09T23:59:58+00:00"
    assert row["last_seen"] == "2025-03-10T01:02:03+00:00"


def test_csv_streams_in_chunks_without_losing_rows(
    client, owner, project, exported, monkeypatch
):
    monkeypatch.setattr("findings.exports.CHUNK", 2)
    client.force_login(owner)
    response = client.get(
        reverse("findings:export-csv", args=[project.pk]) + "?status=all&bom=1"
    )
    pieces = list(response.streaming_content)
    # The header with the first two rows, then two rows per piece.
    assert len(pieces) == 3
    rows = list(csv.reader(io.StringIO(b"".join(pieces).decode("utf-8-sig"))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert sorted(int(r[0]) for r in rows[1:]) == sorted(f.pk for f in exported)


def test_csv_bom_option_for_excel(client, owner, project, exported):
    client.force_login(owner)
    response, body = get_csv(client, project, "?bom=1")
    assert body.startswith(b"\xef\xbb\xbfid,severity,")
    # Its own file name, so both variants can be kept side by side.
    assert response["Content-Disposition"].endswith('-excel.csv"')
    assert "ünïcode" in body.decode("utf-8-sig")


def test_csv_applies_the_list_filters(client, owner, member, project, exported):
    client.force_login(owner)
    _, body = get_csv(client, project, "?severity=high&status=all")
    rows = list(csv.reader(io.StringIO(body.decode())))[1:]
    assert sorted(int(r[0]) for r in rows) == sorted([exported[0].pk, exported[3].pk])
    _, body = get_csv(client, project, f"?assignee={member.pk}")
    assert [int(r[0]) for r in list(csv.reader(io.StringIO(body.decode())))[1:]] == [
        exported[0].pk
    ]
    _, body = get_csv(client, project, "?q=db.py")
    assert len(list(csv.reader(io.StringIO(body.decode())))) == 2


def test_markdown_export_has_a_table_per_severity(client, owner, project, exported):
    client.force_login(owner)
    response = client.get(
        reverse("findings:export-markdown", args=[project.pk]) + "?status=all"
    )
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert response["Content-Disposition"].endswith('.md"')
    text = b"".join(response.streaming_content).decode()
    assert text.startswith("# Findings — Shop\n")
    assert "**Findings:** 5" in text and "**Scope:** Status: All" in text
    headings = [line for line in text.splitlines() if line.startswith("### ")]
    assert headings == [
        "### Critical (1)",
        "### High (2)",
        "### Medium (1)",
        "### Low (1)",
    ]
    assert "| ID | Finding | Location | Effort | Status | Assignee |" in text
    assert "| CRIT-1 | " in text and "| HIGH-2 | " in text and "| LOW-1 | " in text
    row = next(line for line in text.splitlines() if line.startswith("| LOW-1 "))
    assert "`app/db.py:12`" in row and "| Open |" in row
    # A pipe inside a cell cannot break the table.
    crit = next(line for line in text.splitlines() if line.startswith("| CRIT-1 "))
    assert "\\|" in crit and crit.count(" | ") == 5


def test_markdown_export_filters_and_empty(client, owner, project, exported):
    client.force_login(owner)
    url = reverse("findings:export-markdown", args=[project.pk])
    text = b"".join(client.get(url + "?severity=info").streaming_content).decode()
    assert "**Findings:** 0" in text and "No findings." in text
    assert "Severity: Info" in text


def test_sarif_export_of_the_filtered_findings(client, owner, project, exported):
    client.force_login(owner)
    url = reverse("findings:export-sarif", args=[project.pk])
    # Before any audit the log is valid, named as such.
    before = client.get(url)
    assert before.status_code == 200
    assert "no-audit" in before["Content-Disposition"]
    assert json.loads(before.content)["version"] == "2.1.0"
    Audit.objects.create(project=project, number=1, status=Audit.Status.SUCCEEDED)
    Audit.objects.create(project=project, number=2, status=Audit.Status.FAILED)
    target = project.targets.first()
    Finding.objects.filter(pk=exported[2].pk).update(target=target)
    response = client.get(url)
    assert response.status_code == 200
    assert (
        response["Content-Disposition"] == 'attachment; filename="shop-audit-1.sarif"'
    )
    data = json.loads(response.content)
    assert data["version"] == "2.1.0"
    run = data["runs"][0]
    assert run["tool"]["driver"]["name"] == "plumbline"
    rule_ids = {r["id"] for r in run["tool"]["driver"]["rules"]}
    assert "fk-missing" in rule_ids
    assert run["automationDetails"]["id"] == "plumbline/shop/audit-1"
    results = run["results"]
    # The fixed finding is not open.
    assert len(results) == 4
    fingerprints = {r["partialFingerprints"]["plumbline/v1"] for r in results}
    assert fingerprints == {f.fingerprint for f in exported if f.status != "fixed"}
    assert [r["level"] for r in results] == ["error", "error", "warning", "note"]
    code = next(r for r in results if r["properties"]["severity"] == "low")
    location = code["locations"][0]["physicalLocation"]
    assert location["region"]["startLine"] == 12
    assert location["artifactLocation"]["uri"] == "app/db.py"
    for result in results:
        assert result["ruleId"] == "fk-missing" and "ruleIndex" in result
    # The list's filters apply.
    high = json.loads(client.get(url + "?severity=high").content)["runs"][0]
    assert [r["properties"]["severity"] for r in high["results"]] == ["high"]


def test_exports_refuse_outsiders_anonymous_and_post(
    client, outsider, project, exported
):
    for name in (
        "findings:export-csv",
        "findings:export-markdown",
        "findings:export-sarif",
    ):
        url = reverse(name, args=[project.pk])
        assert client.get(url)["Location"].startswith(reverse("login"))
        client.force_login(outsider)
        assert client.get(url).status_code == 404
        client.logout()
    client.force_login(project.team.memberships.get(role="owner").user)
    assert (
        client.post(reverse("findings:export-csv", args=[project.pk])).status_code
        == 405
    )


def test_viewer_may_export(client, viewer, project, exported):
    client.force_login(viewer)
    _, body = get_csv(client, project)
    assert len(body.splitlines()) == 5


def test_markdown_export_makes_no_link_or_markup_from_user_text(client, owner, project):
    make_finding(
        project,
        9,
        severity="high",
        title="[click me](javascript:alert(1)) <img src=x> **bold** ![p](https://t/p)",
        object="users`.`email",
    )
    client.force_login(owner)
    url = reverse("findings:export-markdown", args=[project.pk])
    text = b"".join(client.get(url).streaming_content).decode()
    row = next(line for line in text.splitlines() if line.startswith("| HIGH-1 "))
    import markdown

    html = markdown.markdown(text, extensions=["tables"])
    # The only link in the rendered export is the finding's own.
    assert html.count("<a ") == 1 and 'href="http://testserver/findings/' in html
    assert "javascript:" not in html.split('href="')[1].split('"')[0]
    assert "<img" not in html and "<strong>bold" not in html
    assert "\\[click me\\]\\(javascript\\:alert\\(1\\)\\)" in row
    # A backtick in an object cannot close its code span early.
    assert "`` users`.`email ``" in row


def test_sarif_points_database_findings_at_their_object(
    client, owner, project, tmp_path
):
    import sqlite3

    db = tmp_path / "app.sqlite3"
    sqlite3.connect(db).close()
    target = project.targets.create(kind="sqlite", location=str(db))
    make_finding(project, 7, severity="high", object="orders.user_id", target=target)
    make_finding(project, 8, severity="low", object="orders", target=target)
    client.force_login(owner)
    url = reverse("findings:export-sarif", args=[project.pk])
    results = json.loads(client.get(url).content)["runs"][0]["results"]
    assert len(results) == 2
    for result in results:
        location = result["locations"][0]
        uri = location["physicalLocation"]["artifactLocation"]["uri"]
        assert uri == db.resolve().as_uri()
        assert "sqlite//" not in uri and uri != "."
    by_object = {
        r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]: r["locations"][
            0
        ]["logicalLocations"][0]
        for r in results
    }
    assert by_object["orders.user_id"]["kind"] == "member"
    assert by_object["orders.user_id"]["name"] == "user_id"
    assert by_object["orders"]["kind"] == "type"
