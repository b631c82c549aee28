"""The schema a Django or Alembic history leaves, as the tools would build it.

Foreign keys with the type of the key they point at, table constraints of
Alembic's create_table, PostgreSQL's default constraint names (so a later
drop finds them), Django migrations in dependency order across apps; and,
for a project whose only schema is its Django migrations, the schema checks
run on what they build, applied for real on PostgreSQL and MariaDB.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from audits.engine.scan import Target, scan
from audits.engine.sources.migrations import load_history, replayed_schema

from .migration_helpers import found, write

ACCOUNTS = """\
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="User",
            fields=[
                ("id", models.AutoField(primary_key=True, serialize=False)),
                ("password", models.CharField(max_length=128)),
                ("last_login", models.DateTimeField(null=True)),
                ("api_key", models.CharField(max_length=64)),
            ],
        ),
    ]
"""
# "billing" sorts before "people", but depends on it.
BILLING = """\
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = [migrations.swappable_dependency(settings.AUTH_USER_MODEL),
                    ("people", "0001_initial")]
    operations = [
        migrations.CreateModel(
            name="Invoice",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("payer", models.ForeignKey(on_delete=models.CASCADE,
                                            to=settings.AUTH_USER_MODEL)),
                ("total", models.IntegerField()),
            ],
        ),
    ]
"""


def _django(tmp_path: Path) -> Path:
    return write(
        tmp_path / "app",
        {
            "billing/migrations/__init__.py": "",
            "billing/migrations/0001_initial.py": BILLING,
            "people/migrations/__init__.py": "",
            "people/migrations/0001_initial.py": ACCOUNTS,
        },
    )


def test_django_apps_run_in_dependency_order(tmp_path: Path) -> None:
    history = load_history(_django(tmp_path))
    assert history is not None
    assert history.files == (
        "people/migrations/0001_initial.py",
        "billing/migrations/0001_initial.py",
    )


def test_a_foreign_key_gets_the_key_type_of_the_user_model_it_points_at(
    tmp_path: Path,
) -> None:
    history = load_history(_django(tmp_path))
    assert history is not None
    schema = replayed_schema(history)
    invoice = schema.table("billing_invoice")
    assert invoice is not None
    payer = invoice.column("payer_id")
    assert payer is not None and payer.type.upper() == "INT"
    (fk,) = invoice.foreign_keys
    assert (fk.columns, fk.ref_table, fk.ref_columns) == (
        ("payer_id",),
        "people_user",
        ("id",),
    )
    assert schema.table("django_migrations") is not None


def test_a_django_only_project_gets_the_schema_checks_when_it_asks(
    tmp_path: Path,
) -> None:
    folder = _django(tmp_path)
    # Off by default: the migrations alone show proxy models as tables and
    # miss what abstract bases maintain.
    quiet = scan([Target("folder", str(folder))])
    assert quiet.ok and found(list(quiet.issues), "secret-stored-plaintext") == []
    (folder / ".plumbline.toml").write_text("schema-from-migrations = true\n")
    result = scan([Target("folder", str(folder))])
    assert result.ok, [t.error for t in result.targets]
    issues = list(result.issues)
    # The API key is a secret in plain text, reported where the model is made.
    assert found(issues, "secret-stored-plaintext") == [
        ("people/migrations/0001_initial.py", 8)
    ]
    # A Django user model's password goes through Django's hashers.
    assert not [i for i in issues if i.object == "people_user.password"]
    # Django carries out on_delete itself: no finding asks the schema for it.
    assert found(issues, "fk-no-on-delete") == []
    assert found(issues, "fk-type-mismatch") == []


def test_a_project_with_its_own_schema_file_does_not_get_a_second_one(
    tmp_path: Path,
) -> None:
    folder = _django(tmp_path)
    write(folder, {"schema.sql": "CREATE TABLE notes (id bigint PRIMARY KEY);\n"})
    result = scan([Target("folder", str(folder))])
    assert found(list(result.issues), "secret-stored-plaintext") == []


# ------------------------------------------------------------ Alembic

ALEMBIC_BASE = '''\
"""users and posts"""
import sqlalchemy as sa
from alembic import op

revision = "a1"
down_revision = None


def upgrade():
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(120), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email", name="users_email_key"),
        sa.CheckConstraint("length(email) > 3", name="users_email_long"),
    )
    op.create_table(
        "posts",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
    )
    op.add_column("posts", sa.Column("editor_id", sa.Integer(), nullable=True))
    op.create_foreign_key(None, "posts", "users", ["editor_id"], ["id"])
    with op.batch_alter_table("posts") as batch_op:
        batch_op.create_index(batch_op.f("ix_posts_user_id"), ["user_id"])
'''
ALEMBIC_CASCADE = '''\
"""delete a user's posts with the user"""
from alembic import op

revision = "b2"
down_revision = "a1"


def upgrade():
    op.drop_constraint("posts_user_id_fkey", "posts", type_="foreignkey")
    op.create_foreign_key(
        "posts_user_id_fkey", "posts", "users", ["user_id"], ["id"], ondelete="CASCADE"
    )
    op.drop_constraint("posts_editor_id_fkey", "posts", type_="foreignkey")
'''


def _alembic(tmp_path: Path) -> Path:
    return write(
        tmp_path / "app",
        {
            "alembic/versions/a1_base.py": ALEMBIC_BASE,
            "alembic/versions/b2_cascade.py": ALEMBIC_CASCADE,
        },
    )


def test_alembic_table_constraints_and_default_names_are_read(tmp_path: Path) -> None:
    history = load_history(_alembic(tmp_path))
    assert history is not None
    schema = replayed_schema(history)
    users, posts = schema.table("users"), schema.table("posts")
    assert users is not None and posts is not None
    assert users.primary_key == ("id",)
    assert [c.name for c in users.checks] == ["users_email_long"]
    assert any(i.unique and i.column_names == ("email",) for i in users.indexes)
    # The unnamed keys got PostgreSQL's names, so the later drops found them:
    # one key left, with the ON DELETE its re-creation asked for.
    assert [(fk.name, fk.on_delete) for fk in posts.foreign_keys] == [
        ("posts_user_id_fkey", "CASCADE")
    ]
    assert [i.name for i in posts.indexes if not i.unique] == ["ix_posts_user_id"]


def test_an_alembic_only_project_is_left_to_the_migration_rules(
    tmp_path: Path,
) -> None:
    # Alembic histories often hold both dialects' branches, and code the
    # schema cannot show hashes passwords: their schema is not judged yet.
    result = scan([Target("folder", str(_alembic(tmp_path)))])
    assert result.ok
    assert {i.check for i in result.issues} <= {
        c for c in result.checks_run if c.startswith("migration-")
    } | {"backup-missing", "maintenance-missing"}


def test_the_loader_forgets_a_dropped_constraint() -> None:
    from audits.engine.sources.ddl_loader import _Loader
    from audits.engine.sources.ddl_model import _Model

    model = _Model(dialect="postgres")
    loader = _Loader(model, file="x.sql")
    loader.apply("CREATE TABLE u (id int PRIMARY KEY)", 1)
    loader.apply(
        "CREATE TABLE t (id int PRIMARY KEY, u_id int CONSTRAINT t_u_fk REFERENCES u,"
        " n int CONSTRAINT t_n_pos CHECK (n > 0), CONSTRAINT t_n_key UNIQUE (n))",
        2,
    )
    for name in ("t_u_fk", "t_n_pos", "t_n_key"):
        loader.apply(f"ALTER TABLE t DROP CONSTRAINT {name}", 3)
    state = model.table("t")
    assert state is not None
    assert (state.foreign_keys, state.checks) == ([], [])
    # Only the primary key's index is left.
    assert [i.name for i in model.indexes.values() if i.table == "t"] == ["t_pkey"]


# ------------------------------------------------------------ on real databases


@pytest.mark.postgres
def test_postgresql_accepts_the_history_and_builds_the_same_keys(
    pg: Any, tmp_path: Path
) -> None:
    history = load_history(_django(tmp_path / "d"), dialect="postgres")
    assert history is not None
    for statement in history.statements:
        pg.execute(statement.sql)
    rows = pg.execute(
        "SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE contype = 'f'"
    ).fetchall()
    assert rows == [
        (
            "billing_invoice",
            "FOREIGN KEY (payer_id) REFERENCES people_user(id) DEFERRABLE INITIALLY DEFERRED",
        )
    ]
    alembic = load_history(_alembic(tmp_path / "a"), dialect="postgres")
    assert alembic is not None
    for statement in alembic.statements:
        pg.execute(statement.sql)
    keys = pg.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = 'posts'::regclass AND contype = 'f'"
    ).fetchall()
    assert keys == [
        (
            "posts_user_id_fkey",
            "FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE",
        )
    ]


@pytest.mark.mysql
def test_mariadb_accepts_the_django_history_with_its_keys(
    maria: Any, tmp_path: Path
) -> None:
    history = load_history(_django(tmp_path), dialect="mysql")
    assert history is not None
    for statement in history.statements:
        maria.execute(statement.sql)
    maria.execute(
        "SELECT table_name, column_name, referenced_table_name"
        " FROM information_schema.key_column_usage"
        " WHERE table_schema = database() AND referenced_table_name IS NOT NULL"
    )
    assert maria.fetchall() == (("billing_invoice", "payer_id", "people_user"),)
