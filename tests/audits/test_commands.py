"""The operations commands: addproject and runaudit."""

import json
import tempfile
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from projects.models import Project, Target, Team


def run(*args):
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_addproject_creates_a_project_with_its_targets(db, schema_file, tmp_path):
    out = run(
        "addproject",
        "--team",
        "acme",
        "--name",
        "Shop",
        "--target",
        f"ddl:{schema_file}",
        "--target",
        f"code:{tmp_path}",
        "--target",
        "postgresql:postgresql://app:pw@db.internal/shop",
    )
    project = Project.objects.get(team__slug="acme", slug="shop")
    assert "Created project Shop" in out
    kinds = dict(Target.objects.filter(project=project).values_list("kind", "location"))
    assert kinds["ddl"] == str(schema_file)
    assert (
        kinds["postgresql"] == "postgresql://app@db.internal/shop"
    )  # password moved out
    assert Target.objects.get(kind="postgresql").password == "pw"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (f"ddl:{tempfile.gettempdir()}/no/such/file.sql", "No such file or folder"),
        ("postgresql:postgres//db", "starts with postgresql://"),
        ("nonsense", "use KIND:LOCATION"),
    ],
)
def test_addproject_refuses_bad_targets_and_stores_nothing(db, target, message):
    with pytest.raises(CommandError, match=message):
        run("addproject", "--team", "acme", "--name", "Shop", "--target", target)
    assert not Project.objects.exists() and not Target.objects.exists()


def test_addproject_refuses_a_duplicate_slug(db, schema_file):
    run("addproject", "--team", "acme", "--name", "Shop")
    with pytest.raises(CommandError, match="already has a project"):
        run("addproject", "--team", "acme", "--name", "Shop")
    assert Project.objects.count() == 1 and Team.objects.count() == 1


def test_runaudit_prints_a_json_summary(project):
    summary = json.loads(run("runaudit", str(project.pk), "--json"))
    assert summary["status"] == "succeeded"
    assert set(summary) >= {"new", "open", "fixed", "reopened", "grades", "targets"}
    assert summary["new"] == summary["open"] > 0
    again = json.loads(run("runaudit", "acme/shop", "--json"))
    assert (again["new"], again["fixed"], again["reopened"]) == (0, 0, 0)
    assert again["audit"] == summary["audit"] + 1


def test_runaudit_fails_loudly_when_no_target_can_be_read(project):
    Target.objects.filter(project=project).update(location="/no/such/schema.sql")
    with pytest.raises(CommandError, match="The audit failed"):
        run("runaudit", "shop")


def test_runaudit_names_an_unknown_project(db):
    with pytest.raises(CommandError, match="No project"):
        run("runaudit", "nowhere")
