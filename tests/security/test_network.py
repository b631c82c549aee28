"""Database targets behind network guards: private addresses, local files, banners."""

import socket

import psycopg
import pymysql
import pytest
from django.db import connection

from audits import services
from audits.engine import guard
from audits.engine.scan import Target as EngineTarget
from audits.engine.scan import scan_target
from audits.engine.sources import SourceError
from audits.engine.sources import postgres as probe_pg
from audits.models import Audit
from projects.forms import TargetForm
from projects.models import Project, Target, network_policy

from .servers import closed_port, listener

PG = "postgresql://postgres@127.0.0.1:5432/postgres"
MARIADB = "mysql://root@127.0.0.1:3306/mysql"


def answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 1).close()
    except OSError:
        return False
    return True


needs_pg = pytest.mark.skipif(not answers(5432), reason="no PostgreSQL on 5432")
needs_mariadb = pytest.mark.skipif(not answers(3306), reason="no MariaDB on 3306")


@pytest.fixture
def guarded(settings):
    """The defaults of a service open to sign-ups: nothing private allowed."""
    settings.ALLOW_PRIVATE_TARGETS = False
    settings.ALLOWED_TARGET_NETWORKS = []
    return settings


def audit_of(team, kind, location) -> Audit:
    n = Project.objects.count() + 1
    project = Project.objects.create(team=team, name=f"P{n}", slug=f"p{n}")
    Target.objects.create(project=project, kind=kind, location=location)
    return services.execute_audit(services.start_audit(project, enqueue=False).pk)


@needs_pg
def test_loopback_postgresql_is_refused_off_and_allowed_on(team, owner, guarded):
    refused = audit_of(team, Target.Kind.POSTGRESQL, PG)
    assert refused.status == Audit.Status.FAILED
    assert "loopback" in refused.error or "own database" in refused.error
    assert "PLUMBLINE_ALLOW_PRIVATE_TARGETS" in refused.error
    guarded.ALLOW_PRIVATE_TARGETS = True
    allowed = audit_of(team, Target.Kind.POSTGRESQL, PG)
    assert allowed.status == Audit.Status.SUCCEEDED, allowed.error


@needs_mariadb
def test_loopback_mariadb_is_refused_off_and_allowed_by_a_cidr(team, owner, guarded):
    refused = audit_of(team, Target.Kind.MYSQL, MARIADB)
    assert refused.status == Audit.Status.FAILED
    assert "loopback" in refused.error
    guarded.ALLOWED_TARGET_NETWORKS = ["127.0.0.0/8"]
    allowed = audit_of(team, Target.Kind.MYSQL, MARIADB)
    assert allowed.status == Audit.Status.SUCCEEDED, allowed.error


def test_the_apps_own_database_server_is_refused_unless_allowed(db, guarded):
    if connection.vendor == "postgresql":
        # The real thing: the policy names the server this test runs on.
        s = connection.settings_dict
        policy = network_policy()
        url_host, port = s.get("HOST") or "localhost", int(s.get("PORT") or 5432)
    else:
        policy = guard.NetworkPolicy(own_servers=(("localhost", 5432),))
        url_host, port = "127.0.0.1", 5432
    # Even inside an allowed network the own server is named as the reason.
    with pytest.raises(guard.TargetRefused, match="own database"):
        guard.resolve(url_host, port, policy)
    allowed = guard.NetworkPolicy(allow_private=True, own_servers=policy.own_servers)
    assert guard.resolve(url_host, port, allowed)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("172.16.5.5", "private"),
        ("169.254.169.254", "link-local"),
        ("::1", "loopback"),
        ("fd00::1", "unique-local"),
        ("fe80::1", "link-local"),
        ("::ffff:10.0.0.1", "private"),
        ("0.0.0.0", "unspecified"),
    ],
)
def test_private_addresses_are_refused_before_any_connection(address, kind):
    with pytest.raises(guard.TargetRefused, match=kind):
        guard.resolve(address, 5432, guard.NetworkPolicy())
    assert guard.resolve(address, 5432, guard.NetworkPolicy(allow_private=True))


def test_a_private_target_is_refused_by_the_audit_with_the_switch_off(
    team, owner, guarded
):
    refused = audit_of(
        team, Target.Kind.POSTGRESQL, "postgresql://app@10.20.30.40/shop"
    )
    assert refused.status == Audit.Status.FAILED
    assert "private address" in refused.error


def test_the_probe_connects_to_the_address_it_checked():
    # The name is looked up once; libpq gets that address (hostaddr) and
    # keeps the name only for TLS and messages, so no second lookup happens.
    policy = guard.NetworkPolicy(allow_private=True)
    params = probe_pg._params("postgresql://u@localhost:5432/db", None, 5, policy)
    assert params["hostaddr"] in ("127.0.0.1", "::1")
    assert params["host"] == "localhost"
    assert params["passfile"].startswith("/nonexistent")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u@db.example.com/shop?host=/var/run/postgresql",
        "postgresql://u@db.example.com/shop?passfile=/root/.pgpass",
        "postgresql://u@db.example.com/shop?sslkey=/etc/ssl/private/key.pem",
        "postgresql://u@db.example.com/shop?sslcert=/etc/ssl/cert.pem",
        "postgresql://u@db.example.com/shop?sslrootcert=/etc/ssl/ca.pem",
        "postgresql://u@db.example.com/shop?service=prod",
        "postgresql://u@db.example.com/shop?hostaddr=127.0.0.1",
        "postgresql://u@%2Fvar%2Frun%2Fpostgresql/shop",
        "mysql://u@db.example.com/shop?unix_socket=/run/mysqld/mysqld.sock",
        "mysql://u@db.example.com/shop?local_infile=1",
        "mysql://u@db.example.com/shop?read_default_file=/etc/mysql/my.cnf",
    ],
)
def test_options_reading_local_files_or_sockets_are_refused(db, url):
    kind = "postgresql" if url.startswith("postgresql") else "mysql"
    form = TargetForm(data={"kind": kind, "location": url, "enabled": True})
    assert not form.is_valid()
    assert "not allowed" in " ".join(form.errors["location"])
    result = scan_target(
        EngineTarget(kind, url, timeout=2, network=guard.NetworkPolicy())
    )
    assert not result.ok
    assert "not allowed" in result.error or "only a TCP host" in result.error


def test_a_refused_port_is_reported_as_refused(db):
    port = closed_port()
    policy = guard.NetworkPolicy(allow_private=True)
    result = scan_target(
        EngineTarget(
            "postgresql",
            f"postgresql://u@127.0.0.1:{port}/x",
            timeout=2,
            network=policy,
        )
    )
    assert not result.ok and result.error.endswith(guard.REFUSED)


@pytest.mark.parametrize("kind", ["postgresql", "mysql"])
def test_another_kind_of_server_is_named_only_by_category_never_its_banner(kind):
    banner = b"SSH-2.0-OpenSSH_9.9 internal-build-host-7 secret-banner\r\n"
    policy = guard.NetworkPolicy(allow_private=True)
    with listener(banner=banner) as port:
        result = scan_target(
            EngineTarget(
                kind, f"{kind}://u@127.0.0.1:{port}/x", timeout=2, network=policy
            )
        )
    assert not result.ok
    assert "secret-banner" not in result.error and "OpenSSH" not in result.error
    assert result.error.endswith(
        guard.NOT_THIS_KIND.format(
            kind="PostgreSQL" if kind == "postgresql" else "MySQL"
        )
    ) or result.error.endswith(guard.TIMED_OUT)


@needs_mariadb
def test_a_wrong_password_is_reported_as_authentication_failed():
    policy = guard.NetworkPolicy(allow_private=True)
    result = scan_target(
        EngineTarget(
            "mysql",
            "mysql://nobody-here@127.0.0.1:3306/mysql",
            password="wrong",
            timeout=3,
            network=policy,
        )
    )
    assert not result.ok and result.error.endswith(guard.AUTH_FAILED)


def test_the_command_line_is_not_guarded():
    # No policy: the customer's own machine, their own databases.
    result = scan_target(
        EngineTarget(
            "postgresql", f"postgresql://u@127.0.0.1:{closed_port()}/x", timeout=2
        )
    )
    assert not result.ok
    assert "refused, the host resolves" not in result.error
    assert "accepting TCP/IP connections" in result.error


def test_credentials_in_the_url_move_to_the_encrypted_field_decoded(db):
    form = TargetForm(
        data={
            "kind": "postgresql",
            "location": "postgresql://app:p%40ss%3Aw0rd@db.example.com:5432/shop",
            "enabled": True,
        }
    )
    assert form.is_valid(), form.errors
    target = form.save(commit=False)
    assert target.location == "postgresql://app@db.example.com:5432/shop"
    assert target.password == "p@ss:w0rd"
    form = TargetForm(
        data={
            "kind": "postgresql",
            "location": "postgresql://app@db.example.com/shop?password=s%20ecret&sslmode=require",
            "enabled": True,
        }
    )
    assert form.is_valid(), form.errors
    target = form.save(commit=False)
    assert target.password == "s ecret"
    assert "password" not in target.location and "secret" not in target.location
    assert target.location.endswith("?sslmode=require")
    assert "s ecret" not in target.credentials


def test_the_form_refuses_a_private_host_where_the_user_types_it(db, guarded):
    form = TargetForm(
        data={
            "kind": "mysql",
            "location": "mysql://app@127.0.0.1/shop",
            "enabled": True,
        }
    )
    assert not form.is_valid()
    assert "loopback" in " ".join(form.errors["location"])


def test_decoded_passwords_reach_the_server(db):
    # psycopg reads percent-encoding in URLs; the stored password is used as is.
    params = probe_pg._params("postgresql://app@h.example/db", "p@ss:w0rd", 5)
    assert params["password"] == "p@ss:w0rd"
    assert psycopg and pymysql and SourceError  # imported for the probes above
