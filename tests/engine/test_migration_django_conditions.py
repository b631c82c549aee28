"""Django's Q conditions and unique_together/index_together, read as the SQL they run.

The conditions are checked three ways: the SQL text read from each Q form,
what the replayed schema and the rules make of it, and the SQL itself on
the local PostgreSQL and MariaDB, where a row the Q forbids is refused and
a row it allows is stored.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest

from audits.engine.sources.migrations import load_history
from audits.engine.sources.migrations_q import Unreadable, condition_sql

from .migration_helpers import (
    found,
    scan_migrations,
    write,
)


def q(text: str, columns: dict[str, str] | None = None) -> str:
    node = ast.parse(text, mode="eval").body
    return condition_sql(node, columns or {})


@pytest.mark.parametrize(
    ("source", "sql"),
    [
        ('models.Q(("price__gt", 0))', "price > 0"),
        ("Q(price__gte=0)", "price >= 0"),
        ('models.Q(("status__in", ["new", "paid"]))', "status IN ('new', 'paid')"),
        ('models.Q(("status", "new"))', "status = 'new'"),
        ('models.Q(("ended_at", None))', "ended_at IS NULL"),
        ("Q(ended_at__isnull=False)", "ended_at IS NOT NULL"),
        ("Q(age__range=(18, 130))", "age BETWEEN 18 AND 130"),
        ('Q(("ended_at__gte", models.F("started_at")))', "ended_at >= started_at"),
        ("Q(owner__isnull=True)", "owner_id IS NULL"),
        ('Q(code__iexact="x")', "UPPER(code) = UPPER('x')"),
        (
            'models.Q(("a__lt", 5), ("b__lte", -1), _connector="OR")',
            "a < 5 OR b <= -1",
        ),
        (
            'models.Q(("a__isnull", True), ("b__isnull", True))',
            "a IS NULL AND b IS NULL",
        ),
        ('models.Q(("kind", "x"), _negated=True)', "NOT (kind = 'x')"),
        ("Q(a=1) | Q(b=2) & ~Q(c=3)", "(a = 1 OR (b = 2 AND NOT (c = 3)))"),
        (
            'models.Q(models.Q(("a", 1), ("b", 2), _connector="OR"), ("c__gt", 0))',
            "(a = 1 OR b = 2) AND c > 0",
        ),
    ],
)
def test_common_q_forms_become_sql(source: str, sql: str) -> None:
    assert q(source, {"owner": "owner_id"}) == sql


@pytest.mark.parametrize(
    "source",
    [
        'Q(("owner__email__endswith", "@x.org"))',  # across a relation
        'Q(("name__startswith", "a"))',  # a lookup not read
        "Q(created__gt=datetime.date(2020, 1, 1))",  # a value computed in Python
        "Q(**filters)",
        "Q()",
        'Q(price__gt=models.F("owner__limit"))',
        "Exists(rows)",
    ],
)
def test_forms_not_read_are_refused_rather_than_guessed(source: str) -> None:
    with pytest.raises(Unreadable):
        q(source)


# ------------------------------------------------------------ the replay

INITIAL = """\
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    operations = [
        migrations.CreateModel(
            name="Booking",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("room", models.CharField(max_length=20)),
                ("day", models.DateField()),
                ("seats", models.IntegerField()),
                ("note", models.TextField(null=True)),
                ("owner", models.ForeignKey(on_delete=models.CASCADE, to="shop.owner")),
            ],
            options={
                "db_table": "booking",
                "unique_together": {("room", "day")},
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("seats__gt", 0)), name="booking_seats_positive"
                    ),
                ],
            },
        ),
    ]
"""
GUARD_THEN_REQUIRE = """\
from django.db import migrations, models


class Migration(migrations.Migration):
    operations = [
        migrations.AddConstraint(
            model_name="booking",
            constraint=models.CheckConstraint(
                check=models.Q(("note__isnull", False)), name="booking_note_given"
            ),
        ),
    ]
"""
REQUIRE = """\
from django.db import migrations, models


class Migration(migrations.Migration):
    operations = [
        migrations.AlterField(
            model_name="booking", name="note", field=models.TextField()
        ),
    ]
"""
TOGETHER = """\
from django.db import migrations


class Migration(migrations.Migration):
    operations = [
        migrations.AlterUniqueTogether(
            name="booking",
            unique_together={("room", "day"), ("owner", "day")},
        ),
        migrations.AlterIndexTogether(
            name="booking",
            index_together={("day", "seats")},
        ),
    ]
"""
UNREAD = """\
from django.db import migrations, models


class Migration(migrations.Migration):
    operations = [
        migrations.AddConstraint(
            model_name="booking",
            constraint=models.CheckConstraint(
                check=models.Q(("room__startswith", "R")), name="booking_room_prefix"
            ),
        ),
    ]
"""


def _app(tmp_path: Path, *later: tuple[str, str]) -> Path:
    files = {
        "shop/migrations/__init__.py": "",
        "shop/migrations/0001_initial.py": INITIAL,
    }
    files.update({f"shop/migrations/{name}.py": text for name, text in later})
    return write(tmp_path, files)


def _sql(folder: Path, dialect: str = "postgres") -> list[tuple[str, int, str]]:
    history = load_history(folder, dialect=dialect)
    assert history is not None
    return [(s.file.rsplit("/", 1)[-1], s.line, s.sql) for s in history.statements]


def test_create_model_keeps_its_table_unique_together_and_check(tmp_path: Path) -> None:
    (create,) = [s for _, _, s in _sql(_app(tmp_path)) if s.startswith("CREATE TABLE")]
    assert create.startswith("CREATE TABLE booking (")
    assert "UNIQUE (room, day)" in create
    assert "CONSTRAINT booking_seats_positive CHECK (seats > 0)" in create


def test_alter_unique_together_adds_only_the_new_set(tmp_path: Path) -> None:
    statements = _sql(_app(tmp_path, ("0002_together", TOGETHER)))
    later = [
        (line, sql) for name, line, sql in statements if name == "0002_together.py"
    ]
    assert later == [
        (
            6,
            "ALTER TABLE booking ADD CONSTRAINT booking_owner_id_day_uniq "
            "UNIQUE (owner_id, day)",
        ),
        (10, "CREATE INDEX booking_day_seats_idx ON booking (day, seats)"),
    ]


def test_a_unique_set_added_to_an_existing_table_is_reported_at_its_line(
    tmp_path: Path,
) -> None:
    issues = scan_migrations(_app(tmp_path, ("0002_together", TOGETHER)))
    where = "shop/migrations/0002_together.py"
    assert found(issues, "migration-unique-in-place") == [(where, 6)]
    assert found(issues, "migration-index-not-concurrent") == [(where, 10)]


def test_unique_together_on_a_new_table_is_left_alone(tmp_path: Path) -> None:
    issues = scan_migrations(_app(tmp_path))
    assert found(issues, "migration-unique-in-place") == []
    assert found(issues, "migration-check-validates-in-place") == []


def test_mysql_adds_a_unique_set_online_and_is_left_alone(tmp_path: Path) -> None:
    issues = scan_migrations(_app(tmp_path, ("0002_together", TOGETHER)), "mysql")
    assert found(issues, "migration-unique-in-place") == []


def test_a_validated_not_null_check_spares_set_not_null(tmp_path: Path) -> None:
    guarded = scan_migrations(
        _app(
            tmp_path / "a",
            ("0002_guard", GUARD_THEN_REQUIRE),
            ("0003_require", REQUIRE),
        )
    )
    assert found(guarded, "migration-set-not-null") == []
    # The check itself is still validated against every row, at its line.
    assert found(guarded, "migration-check-validates-in-place") == [
        ("shop/migrations/0002_guard.py", 6)
    ]
    bare = scan_migrations(_app(tmp_path / "b", ("0003_require", REQUIRE)))
    assert found(bare, "migration-set-not-null") == [
        ("shop/migrations/0003_require.py", 6)
    ]


def test_a_condition_not_read_is_replayed_as_true_and_said(tmp_path: Path) -> None:
    folder = _app(tmp_path, ("0002_unread", UNREAD))
    history = load_history(folder)
    assert history is not None
    (added,) = [s for s in history.statements if s.file.endswith("0002_unread.py")]
    assert added.sql.endswith("CHECK (true)")
    assert history.notes == (
        "shop/migrations/0002_unread.py:8: the condition of CheckConstraint "
        "booking_room_prefix is not read (lookup 'room__startswith'); it is "
        "replayed as CHECK (true)",
    )
    issues = scan_migrations(folder)
    assert found(issues, "migration-check-validates-in-place") == [
        ("shop/migrations/0002_unread.py", 6)
    ]


# ------------------------------------------------------------ on real databases

# Each Q form with a row it allows and a row it forbids (seats, note).
CASES = [
    ('Q(("seats__gt", 0))', (2, "x"), (0, "x")),
    ('Q(("note__in", ["a", "b"]))', (1, "a"), (1, "c")),
    ('Q(("seats__range", (1, 10)))', (10, None), (11, None)),
    ('Q(("note__isnull", False))', (1, ""), (1, None)),
    ('Q(("seats__gte", 5), ("note", None), _connector="OR")', (1, None), (1, "x")),
    ('~Q(("note", "bad")) & Q(seats__lte=F("seats"))', (1, "ok"), (1, "bad")),
]


def _rows(
    execute: Any, failure: type[Exception], condition: str, good: Any, bad: Any
) -> tuple[bool, bool]:
    execute("CREATE TABLE booking (seats integer, note varchar(10))")
    execute(f"ALTER TABLE booking ADD CONSTRAINT c CHECK ({condition})")
    stored = []
    for row in (good, bad):
        try:
            execute("INSERT INTO booking VALUES (%s, %s)", row)
            stored.append(True)
        except failure:
            stored.append(False)
    execute("DROP TABLE booking")
    return stored[0], stored[1]


@pytest.mark.postgres
@pytest.mark.parametrize(("source", "good", "bad"), CASES)
def test_postgresql_enforces_what_the_q_says(
    pg: Any, source: str, good: Any, bad: Any
) -> None:
    condition = q(source)
    assert _rows(pg.execute, psycopg.errors.CheckViolation, condition, good, bad) == (
        True,
        False,
    )


@pytest.mark.mysql
@pytest.mark.parametrize(("source", "good", "bad"), CASES)
def test_mariadb_enforces_what_the_q_says(
    maria: Any, source: str, good: Any, bad: Any
) -> None:
    condition = q(source)
    assert _rows(maria.execute, pymysql.err.OperationalError, condition, good, bad) == (
        True,
        False,
    )


def _apply_pg(pg: Any, folder: Path) -> None:
    history = load_history(folder, dialect="postgres")
    assert history is not None
    pg.execute("CREATE TABLE shop_owner (id bigint PRIMARY KEY)")
    for statement in history.statements:
        pg.execute(statement.sql)


@pytest.mark.postgres
def test_the_replayed_history_builds_the_same_constraints_on_postgresql(
    pg: Any, tmp_path: Path
) -> None:
    _apply_pg(
        pg,
        _app(tmp_path, ("0002_together", TOGETHER), ("0003_guard", GUARD_THEN_REQUIRE)),
    )
    rows = pg.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = 'booking'::regclass AND contype IN ('c', 'u')"
        " ORDER BY conname"
    ).fetchall()
    assert rows == [
        ("booking_note_given", "CHECK ((note IS NOT NULL))"),
        ("booking_owner_id_day_uniq", "UNIQUE (owner_id, day)"),
        ("booking_room_day_key", "UNIQUE (room, day)"),
        ("booking_seats_positive", "CHECK ((seats > 0))"),
    ]


@pytest.mark.mysql
def test_the_replayed_history_builds_the_same_constraints_on_mariadb(
    maria: Any, tmp_path: Path
) -> None:
    history = load_history(_app(tmp_path, ("0002_together", TOGETHER)), dialect="mysql")
    assert history is not None
    maria.execute("CREATE TABLE shop_owner (id bigint PRIMARY KEY)")
    for statement in history.statements:
        maria.execute(statement.sql)
    maria.execute(
        "SELECT index_name, group_concat(column_name ORDER BY seq_in_index)"
        " FROM information_schema.statistics WHERE table_schema = database()"
        " AND table_name = 'booking' AND non_unique = 0 AND index_name <> 'PRIMARY'"
        " GROUP BY index_name ORDER BY index_name"
    )
    assert maria.fetchall() == (
        ("booking_owner_id_day_uniq", "owner_id,day"),
        ("room", "room,day"),
    )
    maria.execute("INSERT INTO shop_owner VALUES (1)")
    maria.execute(
        "INSERT INTO booking (room, day, seats, owner_id) VALUES ('r', '2026-01-01', 1, 1)"
    )
    with pytest.raises(pymysql.err.IntegrityError):
        maria.execute(
            "INSERT INTO booking (room, day, seats, owner_id)"
            " VALUES ('s', '2026-01-01', 1, 1)"
        )
    with pytest.raises(pymysql.err.OperationalError):
        maria.execute(
            "INSERT INTO booking (room, day, seats, owner_id)"
            " VALUES ('t', '2026-01-02', 0, 1)"
        )


def test_sql_not_valid_check_validated_earlier_spares_set_not_null(
    tmp_path: Path,
) -> None:
    from .migration_helpers import judge

    guarded = judge(
        tmp_path / "a",
        "ALTER TABLE users ADD CONSTRAINT age_given CHECK (age IS NOT NULL) NOT VALID;\n"
        "ALTER TABLE users VALIDATE CONSTRAINT age_given;\n"
        "ALTER TABLE users ALTER COLUMN age SET NOT NULL;\n",
    )
    assert found(guarded, "migration-set-not-null") == []
    # A check satisfied by either of two columns proves nothing about one.
    either = judge(
        tmp_path / "b",
        "ALTER TABLE users ADD CONSTRAINT age_or CHECK (age IS NOT NULL OR name"
        " IS NOT NULL) NOT VALID;\n"
        "ALTER TABLE users VALIDATE CONSTRAINT age_or;\n"
        "ALTER TABLE users ALTER COLUMN age SET NOT NULL;\n",
    )
    assert found(either, "migration-set-not-null") == [("V2__change.sql", 3)]
