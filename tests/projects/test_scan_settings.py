"""A project's scan settings: the options of [tool.plumbline], edited on its settings page."""

import re
from pathlib import Path

import pytest
from django.urls import reverse

from audits.engine.config import DEFAULT_EXCLUDE
from audits.models import Audit
from audits.runs import execute_audit
from projects.models import Target

NO_WAIT = 'import sqlite3\n\n\ndef open_db():\n    return sqlite3.connect("app.db", timeout=0)\n'


def post_settings(client, project, **scan):
    data = {
        "project-name": project.name,
        "project-slug": project.slug,
        "project-description": project.description,
        "project-audit_interval_hours": project.audit_interval_hours,
        "project-sla_critical_days": 7,
        "project-sla_high_days": 30,
        "project-sla_medium_days": 90,
        "project-sla_low_days": 180,
    }
    data.update({f"project-scan_{k}": v for k, v in scan.items()})
    return client.post(reverse("projects:settings", args=[project.pk]), data)


def test_settings_page_saves_scan_settings_the_engine_reads(client, project, owner):
    client.force_login(owner)
    response = post_settings(
        client,
        project,
        exclude="tests\nscripts/old_*",
        disable="backup-missing",
        severity="query-n-plus-one = low",
    )
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.scan_config == {
        "exclude": ["tests", "scripts/old_*"],
        "disable": ["backup-missing"],
        "severity": {"query-n-plus-one": "low"},
    }
    config = project.targets.first().engine_target().config
    assert config.source == "project settings"
    assert config.exclude == ("tests", "scripts/old_*")
    page = client.get(reverse("projects:settings", args=[project.pk])).content.decode()
    assert "scripts/old_*" in page and "query-n-plus-one = low" in page


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("disable", "no-such-check", "unknown check id(s) no-such-check"),
        ("severity", "query-n-plus-one = urgent", "must be one of critical"),
        ("severity", "query-n-plus-one low", "write it as check-id = severity"),
    ],
)
def test_bad_scan_settings_are_refused_where_they_were_typed(
    client, project, owner, field, value, message
):
    client.force_login(owner)
    response = post_settings(client, project, **{field: value})
    assert response.status_code == 200
    assert message in response.content.decode().lower()
    project.refresh_from_db()
    assert project.scan_config == {}


def test_the_migration_settings_are_on_the_page_too(client, project, owner):
    client.force_login(owner)
    response = post_settings(
        client, project, lock_timeout="3s", schema_from_migrations="on"
    )
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.scan_config == {
        "deploy_lock_timeout": "3s",
        "schema_from_migrations": True,
    }
    config = project.targets.first().engine_target().config
    assert (config.deploy_lock_timeout, config.schema_from_migrations) == ("3s", True)
    page = client.get(reverse("projects:settings", args=[project.pk])).content.decode()
    assert 'name="project-scan_lock_timeout" value="3s"' in page
    box = re.search(
        r'<input[^>]*name="project-scan_schema_from_migrations"[^>]*>', page
    )
    assert box is not None and "checked" in box.group(0)


def test_a_lock_timeout_that_sets_none_is_refused_at_its_field(client, project, owner):
    client.force_login(owner)
    response = post_settings(client, project, lock_timeout="0")
    assert response.status_code == 200
    page = response.content.decode()
    error = page.split('id="id_project-scan_lock_timeout_error"')[1][:300]
    assert "more than zero" in error
    project.refresh_from_db()
    assert project.scan_config == {}


def test_empty_scan_settings_leave_the_repository_its_own(project):
    assert project.scan_settings() is None
    assert project.targets.first().engine_target().config is None


@pytest.mark.django_db(transaction=True)
def test_an_audit_records_the_scan_settings_it_ran_with(project, tmp_path: Path):
    (tmp_path / "db.py").write_text(NO_WAIT)
    Target.objects.create(
        project=project, name="code", kind="code", location=str(tmp_path)
    )
    project.scan_config = {"disable": ["backup-missing"]}
    project.save()
    audit = Audit.objects.start(project)
    audit = execute_audit(audit.pk)
    assert audit.scan_config["source"] == "project settings"
    assert audit.scan_config["disable"] == ["backup-missing"]
    assert audit.scan_config["exclude"] == list(DEFAULT_EXCLUDE)
    assert not project.findings.filter(check_id="backup-missing").exists()
