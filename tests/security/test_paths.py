"""Server paths: off by default, confined to the operator's roots on every file read."""

import sqlite3

import pytest

from audits import services
from audits.models import Audit
from findings.models import Finding
from projects.forms import TargetForm
from projects.models import Project, Target

# Both have a table without a primary key, so reading either shows in findings.
SCHEMA = "CREATE TABLE visible (owner_id INTEGER, note TEXT);\n"
SECRET = "CREATE TABLE tenant_b_secret (card_number TEXT, holder TEXT);\n"


@pytest.fixture
def layout(tmp_path, settings):
    """A root the operator allows, and a second tenant's folder beside it."""
    root = tmp_path / "allowed"
    root.mkdir()
    (root / "schema.sql").write_text(SCHEMA)
    other = tmp_path / "tenant-b"
    other.mkdir()
    (other / "schema.sql").write_text(SECRET)
    (other / "app.py").write_text(
        'SQL = "SELECT * FROM tenant_b_secret WHERE id = %s" % 1\n'
    )
    settings.TARGET_PATH_ROOTS = [str(root)]
    return root, other


def audit(project) -> Audit:
    return services.execute_audit(services.start_audit(project, enqueue=False).pk)


def project_with(team, kind, location) -> Project:
    n = Project.objects.count() + 1
    project = Project.objects.create(team=team, name=f"P{n}", slug=f"p{n}")
    Target.objects.create(project=project, kind=kind, location=str(location))
    return project


def form_errors(kind, location) -> str:
    form = TargetForm(data={"kind": kind, "location": str(location), "enabled": True})
    assert not form.is_valid()
    return " ".join(form.errors["location"])


def test_with_no_roots_the_server_reads_no_folder(team, owner, tmp_path, settings):
    settings.TARGET_PATH_ROOTS = []
    (tmp_path / "schema.sql").write_text(SCHEMA)
    assert "reads no folders" in form_errors("ddl", tmp_path)
    result = audit(project_with(team, Target.Kind.DDL, tmp_path))
    assert result.status == Audit.Status.FAILED
    assert "PLUMBLINE_TARGET_PATH_ROOTS" in result.error
    assert not Finding.objects.exists()


def test_a_second_tenants_folder_and_etc_are_refused_by_form_and_audit(
    team, owner, layout
):
    _root, other = layout
    for kind, location in (
        ("ddl", other),
        ("code", other),
        ("ddl", "/etc"),
        ("code", "/etc"),
        ("sqlite", other / "schema.sql"),
    ):
        assert "outside the folders" in form_errors(kind, location)
        result = audit(project_with(team, kind, location))
        assert result.status == Audit.Status.FAILED, (kind, location)
        assert "outside the folders this server may read" in result.error
    assert not Finding.objects.exists()


def test_a_target_saved_before_the_roots_changed_is_refused_at_audit_time(
    team, owner, layout, settings, tmp_path
):
    root, _ = layout
    project = project_with(team, Target.Kind.DDL, root)
    assert audit(project).status == Audit.Status.SUCCEEDED
    settings.TARGET_PATH_ROOTS = [str(tmp_path / "elsewhere")]
    later = audit(project)
    assert later.status == Audit.Status.FAILED
    assert "refused" in later.error and "outside the folders" in later.error
    # Nothing was marked fixed by the refused audit.
    assert not Finding.objects.filter(status=Finding.Status.FIXED).exists()


def test_a_symlinked_file_inside_a_root_is_not_read(team, owner, layout):
    root, other = layout
    (root / "linked.sql").symlink_to(other / "schema.sql")
    (root / "linked.py").symlink_to(other / "app.py")
    (root / "linked-dir").symlink_to(other, target_is_directory=True)
    for kind in (Target.Kind.DDL, Target.Kind.CODE):
        result = audit(project_with(team, kind, root))
        assert result.status == Audit.Status.SUCCEEDED, result.error
        notes = " ".join(n for t in result.summary["targets"] for n in t["notes"])
        assert "linked.sql" in notes and "outside the folders" in notes
    texts = " ".join(
        f"{f.title} {f.object} {f.evidence} {f.file}" for f in Finding.objects.all()
    )
    assert "tenant_b_secret" not in texts and "card_number" not in texts
    assert "visible" in texts


def test_a_symlink_to_a_database_outside_the_roots_is_refused(team, owner, layout):
    root, other = layout
    outside_db = other / "b.sqlite3"
    with sqlite3.connect(outside_db) as conn:
        conn.executescript(SECRET)
    conn.close()
    (root / "db.sqlite3").symlink_to(outside_db)
    assert "outside the folders" in form_errors("sqlite", root / "db.sqlite3")
    result = audit(project_with(team, Target.Kind.SQLITE, root / "db.sqlite3"))
    assert result.status == Audit.Status.FAILED
    assert "outside the folders" in result.error
    assert not Finding.objects.exists()


def test_a_root_reached_through_a_symlink_is_still_allowed(
    team, owner, layout, settings, tmp_path
):
    root, _ = layout
    alias = tmp_path / "alias"
    alias.symlink_to(root, target_is_directory=True)
    settings.TARGET_PATH_ROOTS = [str(alias)]
    result = audit(project_with(team, Target.Kind.DDL, root))
    assert result.status == Audit.Status.SUCCEEDED, result.error
