import pytest
from django.contrib.auth import get_user_model

from projects.models import Membership, Project, Target, Team

PASSWORD = "correct horse battery staple"


def make_user(username: str):
    return get_user_model().objects.create_user(
        username=username, email=f"{username}@example.com", password=PASSWORD
    )


@pytest.fixture
def team(db):
    return Team.objects.create(name="Acme", slug="acme")


@pytest.fixture
def owner(team):
    user = make_user("olivia")
    Membership.objects.create(team=team, user=user, role=Membership.Role.OWNER)
    return user


@pytest.fixture
def member(team):
    user = make_user("max")
    Membership.objects.create(team=team, user=user, role=Membership.Role.MEMBER)
    return user


@pytest.fixture
def viewer(team):
    user = make_user("vera")
    Membership.objects.create(team=team, user=user, role=Membership.Role.VIEWER)
    return user


@pytest.fixture
def outsider(db):
    user = make_user("oscar")
    other = Team.objects.create(name="Elsewhere", slug="elsewhere")
    Membership.objects.create(team=other, user=user, role=Membership.Role.OWNER)
    return user


@pytest.fixture
def schema_file(tmp_path):
    path = tmp_path / "schema.sql"
    path.write_text(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL);\n"
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id),"
        " body TEXT);\n"
    )
    return path


@pytest.fixture
def project(team, owner, schema_file):
    project = Project.objects.create(team=team, name="Shop", slug="shop")
    Target.objects.create(
        project=project, kind=Target.Kind.DDL, location=str(schema_file)
    )
    return project


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Real hashing costs a second per user on a busy machine; tests only
    # need passwords to round-trip.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session", autouse=True)
def close_stray_sessions(django_db_setup, django_db_blocker):
    """Close sessions other threads or processes left open on the test database.

    Live-server threads and worker processes can outlive their last query;
    PostgreSQL then refuses to drop the test database at the end of the run.
    """
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cur:
        cur.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture(scope="session")
def private_pg():
    """Start a private PostgreSQL with pg_stat_statements loaded, for the session.

    Skips with a message where initdb is not installed.
    """
    from tests.engine.private_postgres import find_binaries, private_server

    binaries = find_binaries()
    if binaries is None:
        pytest.skip("initdb is not installed: no private PostgreSQL server to start")
    with private_server(binaries) as server:
        yield server
