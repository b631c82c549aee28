"""A web audit of a git repository judges its migrations, each finding at the
migration file and line that introduce it."""

from django.urls import reverse

from audits.models import Audit
from findings.models import Finding
from tests.security import test_git
from tests.security.test_git import audit_of, make_repo

BASE = "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);\n"
NICK = (
    "-- a nickname for every user\nALTER TABLE users ADD COLUMN nick text NOT NULL;\n"
)

# Clones go to a folder of their own; repositories are read from tmp_path/repos.
gitenv = test_git.gitenv


def test_a_git_audit_reports_the_migration_that_introduces_the_risk(
    client, team, owner, tmp_path, gitenv
):
    files = {
        "app.py": "x = 1\n",
        "db/migrations/V1__users.sql": BASE,
        "db/migrations/V2__nick.sql": NICK,
    }
    bare, _ = make_repo(tmp_path, files)
    audit = audit_of(team, str(bare))
    assert audit.status == Audit.Status.SUCCEEDED, audit.error
    finding = Finding.objects.get(
        project=audit.project, check_id="migration-column-required-no-default"
    )
    assert (finding.file, finding.line) == ("db/migrations/V2__nick.sql", 2)
    assert finding.severity == "high"
    client.force_login(owner)
    page = client.get(reverse("findings:list", args=[audit.project.pk]))
    assert "V2__nick.sql" in page.content.decode()
