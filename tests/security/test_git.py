"""Git repository targets: cloned per audit within limits, scanned, deleted."""

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
from django.urls import reverse

from audits import services
from audits.engine.sources import git as git_source
from audits.models import Audit
from findings.models import Finding, FindingSighting
from projects.forms import TargetForm
from projects.models import Project, Target

from .servers import free_port

APP = (
    "import sqlite3\n\n\n"
    "def find(conn, name):\n"
    "    return conn.execute(\"SELECT * FROM users WHERE name = '%s'\" % name)\n"
)
FEATURE = (
    "def search(conn, term):\n"
    '    return conn.execute("SELECT * FROM items WHERE title LIKE \'%" + term + "%\'")\n'
)
SCHEMA = "CREATE TABLE audit_log (user_id INTEGER, action TEXT);\n"


def git(*args, cwd=None, home=None):
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home or cwd or "/tmp"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
    }
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def make_repo(
    base: Path, files: dict, feature: dict | None = None
) -> tuple[Path, dict]:
    """Create a bare repository with a main branch (and a feature branch)."""
    work = base / "work-tree"
    work.mkdir(parents=True)
    git("init", "-q", "-b", "main", cwd=work)
    for name, content in files.items():
        path = work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif content.startswith("->"):
            path.symlink_to(content[2:])
        else:
            path.write_text(content)
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "first", cwd=work)
    commits = {"main": git("rev-parse", "HEAD", cwd=work)}
    if feature:
        git("checkout", "-q", "-b", "feature", cwd=work)
        for name, content in feature.items():
            (work / name).write_text(content)
        git("add", "-A", cwd=work)
        git("commit", "-q", "-m", "feature", cwd=work)
        commits["feature"] = git("rev-parse", "HEAD", cwd=work)
        git("checkout", "-q", "main", cwd=work)
    bare = base / "repos" / "shop.git"
    bare.parent.mkdir(parents=True, exist_ok=True)
    git("clone", "-q", "--bare", str(work), str(bare), cwd=base)
    return bare, commits


@pytest.fixture
def gitenv(settings, tmp_path):
    work = tmp_path / "clones"
    work.mkdir()
    settings.GIT_WORK_DIR = str(work)
    settings.TARGET_PATH_ROOTS = [str(tmp_path / "repos")]
    return work


@pytest.fixture
def daemon(tmp_path):
    """Serve tmp_path/repos over git:// on 127.0.0.1 (a free port)."""
    (tmp_path / "repos").mkdir(exist_ok=True)
    port = free_port()
    proc = subprocess.Popen(
        [
            "git",
            "daemon",
            "--reuseaddr",
            "--export-all",
            "--informative-errors",
            f"--base-path={tmp_path / 'repos'}",
            "--listen=127.0.0.1",
            f"--port={port}",
            str(tmp_path / "repos"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    yield port
    proc.terminate()
    proc.wait(10)


def audit_of(team, location, ref="") -> Audit:
    n = Project.objects.count() + 1
    project = Project.objects.create(team=team, name=f"P{n}", slug=f"p{n}")
    Target.objects.create(
        project=project, kind=Target.Kind.GIT, location=location, ref=ref
    )
    return services.execute_audit(services.start_audit(project, enqueue=False).pk)


def files_of(audit) -> set[str]:
    return set(
        Finding.objects.filter(project=audit.project).values_list("file", flat=True)
    )


def test_a_bare_repository_by_path_is_cloned_scanned_and_deleted(
    client, team, owner, tmp_path, gitenv
):
    bare, commits = make_repo(tmp_path, {"app.py": APP, "schema.sql": SCHEMA})
    audit = audit_of(team, str(bare))
    assert audit.status == Audit.Status.SUCCEEDED, audit.error
    (outcome,) = audit.summary["targets"]
    assert outcome["commit"] == commits["main"]
    assert "app.py" in files_of(audit)
    assert list(gitenv.iterdir()) == []  # the clone is gone
    client.force_login(owner)
    page = client.get(reverse("audits:detail", args=[audit.pk])).content.decode()
    assert commits["main"][:12] in page


def test_git_daemon_over_git_protocol_with_branch_selection(
    team, owner, tmp_path, gitenv, daemon
):
    make_repo(tmp_path, {"app.py": APP}, feature={"search.py": FEATURE})
    url = f"git://127.0.0.1:{daemon}/shop.git"
    main = audit_of(team, url)
    assert main.status == Audit.Status.SUCCEEDED, main.error
    feature = audit_of(team, url, ref="feature")
    assert feature.status == Audit.Status.SUCCEEDED, feature.error
    assert (
        main.summary["targets"][0]["commit"] != feature.summary["targets"][0]["commit"]
    )
    assert "search.py" not in files_of(main)
    assert "search.py" in files_of(feature)
    missing = audit_of(team, url, ref="no-such-branch")
    assert missing.status == Audit.Status.FAILED
    assert "no branch, tag or commit named 'no-such-branch'" in missing.error
    assert list(gitenv.iterdir()) == []


def test_a_git_host_on_loopback_is_refused_with_the_switch_off(
    team, owner, tmp_path, gitenv, daemon, settings
):
    make_repo(tmp_path, {"app.py": APP})
    settings.ALLOW_PRIVATE_TARGETS = False
    refused = audit_of(team, f"git://127.0.0.1:{daemon}/shop.git")
    assert refused.status == Audit.Status.FAILED
    assert "loopback" in refused.error


def test_an_over_size_repository_is_refused_with_a_clear_message(
    team, owner, tmp_path, gitenv, settings
):
    bare, _ = make_repo(tmp_path, {"app.py": APP, "blob.bin": os.urandom(400_000)})
    settings.GIT_MAX_BYTES = 100_000
    audit = audit_of(team, str(bare))
    assert audit.status == Audit.Status.FAILED
    assert "larger than 97.6562 KB" in audit.error or "larger than" in audit.error
    assert "upload" in audit.error
    assert list(gitenv.iterdir()) == []


def test_a_repository_with_too_many_files_is_refused(
    team, owner, tmp_path, gitenv, settings
):
    bare, _ = make_repo(tmp_path, {f"m{i}.py": "x = 1\n" for i in range(6)})
    settings.GIT_MAX_FILES = 3
    audit = audit_of(team, str(bare))
    assert audit.status == Audit.Status.FAILED
    assert "has 6 files, more than the limit of 3" in audit.error


def test_a_symlink_in_a_repository_is_never_followed(team, owner, tmp_path, gitenv):
    outside = tmp_path / "outside.sql"
    outside.write_text(
        "CREATE TABLE tenant_b_secret (card_number TEXT, holder TEXT);\n"
    )
    bare, _ = make_repo(tmp_path, {"app.py": APP, "schema.sql": f"->{outside}"})
    audit = audit_of(team, str(bare))
    assert audit.status == Audit.Status.SUCCEEDED, audit.error
    texts = " ".join(
        f"{f.title} {f.object} {f.evidence}"
        for f in Finding.objects.filter(project=audit.project)
    )
    assert "tenant_b_secret" not in texts


def test_repositories_by_path_are_off_without_roots(team, owner, tmp_path, settings):
    bare, _ = make_repo(tmp_path, {"app.py": APP})
    settings.TARGET_PATH_ROOTS = []
    form = TargetForm(data={"kind": "git", "location": str(bare), "enabled": True})
    assert not form.is_valid()
    assert "repositories by path are off" in " ".join(form.errors["location"])
    audit = audit_of(team, str(bare))
    assert audit.status == Audit.Status.FAILED
    assert "by path are off" in audit.error


@pytest.mark.parametrize(
    ("location", "ref", "field"),
    [
        ("https://github.com/acme/shop.git", "--upload-pack=touch /tmp/x", "ref"),
        ("-oProxyCommand=touch /tmp/x", "", "location"),
        ("ext::sh -c touch% /tmp/x", "", "location"),
        ("https://user:secret@github.com/acme/shop.git", "", "location"),
        ("ftp://example.com/shop.git", "", "location"),
    ],
)
def test_unsafe_git_locations_and_refs_are_refused(db, location, ref, field):
    form = TargetForm(
        data={"kind": "git", "location": location, "ref": ref, "enabled": True}
    )
    assert not form.is_valid()
    assert field in form.errors


def test_links_point_at_the_file_and_line_at_the_scanned_commit():
    sha = "0123456789abcdef0123456789abcdef01234567"
    assert (
        git_source.blob_url("https://github.com/acme/shop.git", sha, "app/db.py", 12)
        == f"https://github.com/acme/shop/blob/{sha}/app/db.py#L12"
    )
    assert (
        git_source.blob_url("git@gitlab.com:acme/shop.git", sha, "db.py", 3)
        == f"https://gitlab.com/acme/shop/-/blob/{sha}/db.py#L3"
    )
    assert (
        git_source.blob_url("https://git.example.com/acme/shop.git", sha, "a.py") == ""
    )
    assert git_source.blob_url("https://github.com/acme/shop", "HEAD", "a.py") == ""


def test_finding_and_audit_pages_link_github_code_at_the_commit(
    client, team, owner, project
):
    sha = "fedcba9876543210fedcba9876543210fedcba98"
    target = Target.objects.create(
        project=project,
        kind=Target.Kind.GIT,
        location="https://github.com/acme/shop.git",
    )
    audit = Audit.objects.create(
        project=project,
        number=1,
        status=Audit.Status.SUCCEEDED,
        summary={
            "targets": [
                {
                    "target": target.pk,
                    "label": str(target),
                    "kind": "git",
                    "ok": True,
                    "commit": sha,
                    "location": target.location,
                }
            ],
            "new": 1,
        },
    )
    finding = Finding.objects.create(
        project=project,
        fingerprint="a" * 32,
        check_id="sql-injection",
        severity="high",
        title="SQL built from input",
        file="shop/db.py",
        line=42,
        target=target,
        first_seen_audit=audit,
    )
    FindingSighting.objects.create(
        finding=finding, audit_number=1, seen_at=audit.created_at
    )
    client.force_login(owner)
    link = f"https://github.com/acme/shop/blob/{sha}/shop/db.py#L42"
    detail = client.get(reverse("findings:detail", args=[finding.pk])).content.decode()
    assert link in detail
    page = client.get(reverse("audits:detail", args=[audit.pk])).content.decode()
    assert f"https://github.com/acme/shop/commit/{sha}" in page
    assert link in page
