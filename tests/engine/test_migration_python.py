"""Django migrations and Alembic revisions read as operations, judged like SQL."""

from __future__ import annotations

from pathlib import Path

from audits.engine.sources.migrations import load_history

from .migration_helpers import found, scan_migrations, write

DJANGO_INITIAL = """\
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    operations = [
        migrations.CreateModel(
            name="Order",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("reference", models.CharField(max_length=20)),
                ("note", models.TextField(null=True)),
                ("total", models.IntegerField()),
            ],
        ),
        migrations.AddIndex(
            model_name="order",
            index=models.Index(fields=["reference"], name="order_ref_idx"),
        ),
    ]
"""
DJANGO_RISKY = """\
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_initial")]
    operations = [
        migrations.AddField(
            model_name="order",
            name="status",
            field=models.CharField(max_length=10),
        ),
        migrations.AddField(
            model_name="order",
            name="label",
            field=models.CharField(blank=True, max_length=10),
        ),
        migrations.AddIndex(
            model_name="order",
            index=models.Index(fields=["status"], name="order_status_idx"),
        ),
        migrations.RenameField(
            model_name="order", old_name="note", new_name="comment"
        ),
        migrations.AlterField(
            model_name="order", name="total", field=models.BigIntegerField()
        ),
        migrations.AlterField(
            model_name="order", name="reference", field=models.CharField(max_length=40)
        ),
        migrations.RemoveField(model_name="order", name="comment"),
        migrations.RunSQL("BEGIN; UPDATE shop_order SET status = 'new';"),
    ]
"""
DJANGO_CONCURRENT_ATOMIC = """\
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    operations = [
        AddIndexConcurrently(
            model_name="order",
            index=models.Index(fields=["total"], name="order_total_idx"),
        ),
    ]
"""
DJANGO_CONCURRENT_SAFE = (
    DJANGO_CONCURRENT_ATOMIC.replace(
        "class Migration(migrations.Migration):\n",
        "class Migration(migrations.Migration):\n    atomic = False\n",
    )
    .replace("order_total_idx", "order_label_idx")
    .replace('["total"]', '["label"]')
)


def django_folder(tmp_path: Path, *later: tuple[str, str]) -> Path:
    """Write app ``shop``'s initial migration and ``later`` ones; return the folder."""
    files = {
        "shop/migrations/__init__.py": "",
        "shop/migrations/0001_initial.py": DJANGO_INITIAL,
    }
    files.update({f"shop/migrations/{name}.py": text for name, text in later})
    return write(tmp_path, files)


def test_django_operations_are_judged_at_their_file_and_line(tmp_path: Path) -> None:
    folder = django_folder(
        tmp_path,
        ("0002_risky", DJANGO_RISKY),
        ("0003_concurrent", DJANGO_CONCURRENT_ATOMIC),
        ("0004_concurrent_safe", DJANGO_CONCURRENT_SAFE),
    )
    issues = scan_migrations(folder)
    risky = "shop/migrations/0002_risky.py"
    # status has no default: the statement fails on a table with rows; label
    # is blank, so Django fills it with '' and it is left alone.
    assert found(issues, "migration-column-required-no-default") == [(risky, 7)]
    assert found(issues, "migration-index-not-concurrent") == [(risky, 17)]
    assert found(issues, "migration-column-rename") == [(risky, 21)]
    # integer to bigint rewrites; a longer varchar does not.
    assert found(issues, "migration-column-type-change") == [(risky, 24)]
    assert found(issues, "migration-drop-column") == [(risky, 30)]
    assert found(issues, "migration-transaction-nesting") == [(risky, 31)]
    assert found(issues, "migration-concurrent-in-transaction") == [
        ("shop/migrations/0003_concurrent.py", 7)
    ]
    # The table created in 0001 is new there: nothing in 0001 is about locking.
    assert not [i for i in issues if i.file.endswith("0001_initial.py")]
    evidence = next(i for i in issues if i.check == "migration-column-rename").evidence
    assert "RenameField" in evidence


ALEMBIC_BASE = '''\
"""create accounts"""
import sqlalchemy as sa
from alembic import op

revision = "a1b2c3"
down_revision = None


def upgrade():
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email", sa.String(100), nullable=False),
    )
    op.create_index("accounts_email", "accounts", ["email"])


def downgrade():
    op.drop_table("accounts")
'''
ALEMBIC_CHANGE = '''\
"""add plan"""
import sqlalchemy as sa
from alembic import op

revision = "0ff1ce"
down_revision = "a1b2c3"


def upgrade():
    op.add_column("accounts", sa.Column("plan", sa.String(20), nullable=False))
    op.add_column(
        "accounts",
        sa.Column("tier", sa.String(20), nullable=False, server_default="free"),
    )
    op.create_index("accounts_plan", "accounts", ["plan"])
    with op.get_context().autocommit_block():
        op.create_index(
            "accounts_tier", "accounts", ["tier"], postgresql_concurrently=True
        )
    op.execute("ALTER TABLE accounts ADD COLUMN token uuid DEFAULT gen_random_uuid()")
    with op.batch_alter_table("accounts") as batch_op:
        batch_op.alter_column("email", new_column_name="login")


def downgrade():
    op.drop_column("accounts", "plan")
'''


def alembic_folder(tmp_path: Path, change: str) -> Path:
    """Write the base revision and ``change`` after it; return the folder."""
    return write(
        tmp_path,
        {
            "alembic/versions/a1b2c3_create_accounts.py": ALEMBIC_BASE,
            "alembic/versions/0ff1ce_add_plan.py": change,
        },
    )


def test_alembic_revisions_follow_their_chain_and_are_judged(tmp_path: Path) -> None:
    # "0ff1ce" sorts before "a1b2c3" by name, but runs after it.
    folder = alembic_folder(tmp_path, ALEMBIC_CHANGE)
    history = load_history(folder)
    assert history is not None
    assert [f.rsplit("/", 1)[-1] for f in history.files] == [
        "a1b2c3_create_accounts.py",
        "0ff1ce_add_plan.py",
    ]
    issues = scan_migrations(folder)
    change = "alembic/versions/0ff1ce_add_plan.py"
    assert found(issues, "migration-column-required-no-default") == [(change, 10)]
    assert found(issues, "migration-index-not-concurrent") == [(change, 15)]
    assert found(issues, "migration-concurrent-in-transaction") == []
    assert found(issues, "migration-volatile-default") == [(change, 20)]
    assert found(issues, "migration-column-rename") == [(change, 22)]
    assert found(issues, "migration-int-key") == [
        ("alembic/versions/a1b2c3_create_accounts.py", 10)
    ]


def test_alembic_concurrent_index_outside_autocommit_is_found(tmp_path: Path) -> None:
    text = ALEMBIC_CHANGE.replace(
        "    with op.get_context().autocommit_block():\n        op.create_index(",
        "    if True:\n        op.create_index(",
    )
    folder = alembic_folder(tmp_path, text)
    issues = scan_migrations(folder)
    assert found(issues, "migration-concurrent-in-transaction") == [
        ("alembic/versions/0ff1ce_add_plan.py", 17)
    ]


def test_django_on_mysql_runs_no_transaction(tmp_path: Path) -> None:
    folder = django_folder(tmp_path, ("0003_concurrent", DJANGO_CONCURRENT_ATOMIC))
    issues = scan_migrations(folder, "mysql")
    assert found(issues, "migration-concurrent-in-transaction") == []


def test_a_migration_that_does_not_parse_is_a_note(tmp_path: Path) -> None:
    folder = write(
        tmp_path,
        {
            "shop/migrations/0001_initial.py": DJANGO_INITIAL,
            "shop/migrations/0002_broken.py": "class Migration(:\n",
        },
    )
    history = load_history(folder)
    assert history is not None
    assert any("0002_broken.py:1: could not parse" in n for n in history.notes)


def test_alter_field_of_a_column_never_declared_stays_quiet(tmp_path: Path) -> None:
    # 0001 of another app is not in the folder: the old field is unknown.
    altered = DJANGO_RISKY.split("    operations = [")[0] + (
        "    operations = [\n"
        "        migrations.AlterField(\n"
        '            model_name="invoice", name="total", field=models.BigIntegerField()\n'
        "        ),\n"
        "    ]\n"
    )
    folder = write(tmp_path, {"billing/migrations/0002_total.py": altered})
    issues = scan_migrations(folder)
    assert [
        i.check for i in issues if i.check != "migration-lock-timeout-missing"
    ] == []
