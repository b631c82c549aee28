"""The DDL source: statement order, migrations, Markdown, Python, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from audits.engine.sources import SourceError
from audits.engine.sources.ddl import guess_dialect, load_path, load_text, natural_key
from audits.engine.sources.ddl_split import split_statements


def test_splitter_keeps_semicolons_in_strings_comments_and_trigger_bodies() -> None:
    text = (
        "-- a comment; with a semicolon\n"
        "CREATE TABLE t (a TEXT DEFAULT 'x;y');\n"
        "CREATE TRIGGER trg AFTER UPDATE ON t BEGIN\n"
        "  UPDATE t SET a = 'z' WHERE a = NEW.a;\n"
        "  SELECT CASE WHEN 1 THEN 2 END;\n"
        "END;\n"
        "CREATE FUNCTION f() RETURNS trigger AS $$ BEGIN NEW.a := 1; RETURN NEW; END $$"
        " LANGUAGE plpgsql;\n"
    )
    statements = split_statements(text)
    assert [s.line for s in statements] == [2, 3, 7]
    assert statements[1].text.endswith("END")


def test_create_table_reads_columns_keys_and_constraint_indexes() -> None:
    schema, notes = load_text(
        "CREATE TABLE users (\n"
        "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
        "  email TEXT NOT NULL UNIQUE COLLATE NOCASE,\n"
        "  status TEXT DEFAULT 'active' CHECK (status IN ('active', 'banned')),\n"
        "  score REAL CHECK (score >= 0),\n"
        "  flag INTEGER CHECK (flag = 0 OR flag = 1)\n"
        ");",
        dialect="sqlite",
        file="schema.sql",
    )
    assert notes == []
    users = schema.table("users")
    assert users is not None
    assert users.primary_key == ("id",)
    assert users.file == "schema.sql" and users.line == 1
    email = users.column("email")
    assert email is not None and not email.nullable and email.collation == "NOCASE"
    assert email.line == 3
    assert {(i.constraint, i.column_names) for i in users.indexes} == {
        ("primary key", ("id",)),
        ("unique", ("email",)),
    }
    checks = {c.column: c for c in users.checks}
    assert checks["status"].values == ("active", "banned")
    assert checks["flag"].values == ("0", "1")
    assert checks["score"].values is None and checks["score"].expression == "score >= 0"


def test_fks_record_where_they_were_declared_and_their_actions() -> None:
    schema, _ = load_text(
        "CREATE TABLE users (id INTEGER PRIMARY KEY);\n"
        "CREATE TABLE s (\n"
        "  id INTEGER PRIMARY KEY,\n"
        "  user_id INTEGER REFERENCES users(id) ON DELETE CASCADE,\n"
        "  owner_id INTEGER,\n"
        "  FOREIGN KEY (owner_id) REFERENCES users(id) ON DELETE SET NULL ON UPDATE CASCADE\n"
        ");",
        dialect="sqlite",
    )
    table = schema.table("s")
    assert table is not None
    fks = {fk.columns: fk for fk in table.foreign_keys}
    assert fks[("user_id",)].declared == "column"
    assert fks[("user_id",)].on_delete == "CASCADE"
    assert fks[("user_id",)].line == 4
    assert fks[("owner_id",)].declared == "table"
    assert fks[("owner_id",)].on_delete == "SET NULL"
    assert fks[("owner_id",)].on_update == "CASCADE"
    assert fks[("owner_id",)].line == 6


def test_create_index_reads_order_expressions_and_partial_predicate() -> None:
    schema, _ = load_text(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b INTEGER);"
        "CREATE UNIQUE INDEX IF NOT EXISTS ix ON t (b DESC, lower(a)) WHERE b > 0;",
        dialect="sqlite",
    )
    table = schema.table("t")
    assert table is not None
    index = next(i for i in table.indexes if i.name == "ix")
    assert index.unique
    assert index.columns[0].name == "b" and index.columns[0].descending
    assert index.columns[1].expression
    assert index.predicate == "b > 0"


def test_if_not_exists_keeps_the_first_definition() -> None:
    schema, _ = load_text(
        "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, a TEXT);"
        "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, b TEXT);",
        dialect="sqlite",
    )
    table = schema.table("t")
    assert table is not None and table.column_names == ("id", "a")


def test_alter_table_add_rename_drop_apply_in_order() -> None:
    schema, notes = load_text(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, gone TEXT);"
        "CREATE INDEX ix_a ON t (a);"
        "ALTER TABLE t ADD COLUMN user_id INTEGER REFERENCES users(id);"
        "ALTER TABLE t ADD COLUMN user_id INTEGER;"  # re-run migration: no-op
        "ALTER TABLE t RENAME COLUMN a TO title;"
        "ALTER TABLE t DROP COLUMN gone;"
        "ALTER TABLE t RENAME TO things;",
        dialect="sqlite",
    )
    assert notes == []
    assert schema.table("t") is None
    things = schema.table("things")
    assert things is not None
    assert things.column_names == ("id", "title", "user_id")
    assert things.foreign_keys[0].columns == ("user_id",)
    index = next(i for i in things.indexes if i.name == "ix_a")
    assert index.column_names == ("title",) and index.table == "things"


def test_sqlite_rebuild_pattern_leaves_the_new_definition() -> None:
    schema, notes = load_text(
        "CREATE TABLE parents (id INTEGER PRIMARY KEY);"
        "CREATE TABLE kids (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parents(id));"
        "CREATE INDEX ix_old ON parents (id);"
        "CREATE TABLE parents_new (id INTEGER PRIMARY KEY, name TEXT NOT NULL);"
        "INSERT INTO parents_new (id) SELECT id FROM parents;"
        "DROP TABLE parents;"
        "ALTER TABLE parents_new RENAME TO parents;"
        "CREATE INDEX ix_parents_name ON parents (name);",
        dialect="sqlite",
    )
    assert notes == []
    assert [t.name for t in schema.tables] == ["kids", "parents"]
    parents = schema.table("parents")
    assert parents is not None and parents.column_names == ("id", "name")
    assert {i.name for i in parents.indexes} == {
        "sqlite_autoindex_parents_1",
        "ix_parents_name",
    }
    kids = schema.table("kids")
    assert kids is not None and kids.foreign_keys[0].ref_table == "parents"


def test_triggers_are_recorded_and_dropped_with_their_table() -> None:
    schema, notes = load_text(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, updated_at TEXT);\n"
        "CREATE TRIGGER IF NOT EXISTS t_touch AFTER UPDATE OF id ON t\n"
        "BEGIN UPDATE t SET updated_at = datetime('now') WHERE id = NEW.id; END;\n",
        dialect="sqlite",
    )
    assert notes == []
    table = schema.table("t")
    assert table is not None
    trigger = table.triggers[0]
    assert (trigger.name, trigger.timing, trigger.event) == (
        "t_touch",
        "AFTER",
        "UPDATE",
    )
    assert "updated_at = datetime" in trigger.body


def test_postgres_trigger_body_includes_its_function() -> None:
    schema, notes = load_text(
        "CREATE TABLE t (id int PRIMARY KEY, updated_at timestamptz);\n"
        "CREATE FUNCTION touch() RETURNS trigger AS $$ BEGIN NEW.updated_at := now();"
        " RETURN NEW; END $$ LANGUAGE plpgsql;\n"
        "CREATE TRIGGER t_touch BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION touch();",
        dialect="postgres",
    )
    assert notes == []
    table = schema.table("t")
    assert table is not None
    assert "NEW.updated_at := now()" in table.triggers[0].body


def test_postgres_alter_table_constraints_and_mysql_keys() -> None:
    pg, notes = load_text(
        "CREATE TABLE public.a (id integer NOT NULL, b_id integer);"
        "CREATE TABLE public.b (id integer NOT NULL);"
        "ALTER TABLE ONLY public.a ADD CONSTRAINT a_pkey PRIMARY KEY (id);"
        "ALTER TABLE ONLY public.a ADD CONSTRAINT a_b_fkey FOREIGN KEY (b_id)"
        " REFERENCES public.b(id) ON DELETE CASCADE;",
        dialect="postgres",
    )
    assert notes == []
    a = pg.table("a")
    assert a is not None and a.primary_key == ("id",)
    assert a.foreign_keys[0].name == "a_b_fkey"
    my, notes = load_text(
        "CREATE TABLE `t` (`id` int NOT NULL AUTO_INCREMENT, `u` int,"
        " `s` enum('a','b') DEFAULT 'a', PRIMARY KEY (`id`), KEY `ix_u` (`u`))"
        " ENGINE=InnoDB;"
        "ALTER TABLE t ADD INDEX ix_s (s), ADD UNIQUE KEY uq_u (u);",
        dialect="mysql",
    )
    assert notes == []
    t = my.table("t")
    assert t is not None
    assert {i.name for i in t.indexes} == {"PRIMARY", "ix_u", "ix_s", "uq_u"}
    assert t.checks[0].values == ("a", "b")


@pytest.mark.parametrize(
    ("text", "dialect"),
    [
        ("CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT);", "sqlite"),
        ("CREATE TABLE t (id bigserial PRIMARY KEY, at timestamptz);", "postgres"),
        ("CREATE TABLE `t` (`id` int) ENGINE=InnoDB;", "mysql"),
        ("CREATE TABLE t (id int);", "sqlite"),
    ],
)
def test_dialect_is_guessed_from_the_text(text: str, dialect: str) -> None:
    assert guess_dialect(text) == dialect
    schema, _ = load_text(text)
    assert schema.dialect == dialect


def test_unknown_dialect_is_a_source_error() -> None:
    with pytest.raises(SourceError, match="unknown SQL dialect"):
        load_text("CREATE TABLE t (id int);", dialect="klingon")


def test_migrations_apply_in_natural_order(tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "V10__rename.sql").write_text("ALTER TABLE t RENAME COLUMN b TO c;")
    (folder / "V9__add.sql").write_text("ALTER TABLE t ADD COLUMN b TEXT;")
    (folder / "V1__init.sql").write_text("CREATE TABLE t (id INTEGER PRIMARY KEY);")
    schema, notes = load_path(tmp_path)
    assert notes == []
    table = schema.table("t")
    assert table is not None and table.column_names == ("id", "c")
    assert natural_key(Path("0002_x.sql")) > natural_key(Path("0001_y.sql"))


def test_markdown_sql_blocks_are_read_with_file_lines(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text(
        "# Schema\n\nSome text.\n\n```sql\nCREATE TABLE t (\n  id INTEGER PRIMARY KEY\n);\n```\n"
        "\n```python\nx = 'CREATE TABLE not_sql (id int)'\n```\n"
    )
    schema, notes = load_path(tmp_path)
    assert notes == []
    assert [t.name for t in schema.tables] == ["t"]
    assert schema.tables[0].file == "README.md" and schema.tables[0].line == 6


def test_python_ddl_strings_apply_in_source_order(tmp_path: Path) -> None:
    (tmp_path / "db.py").write_text(
        "import sqlite3\n"
        "SCHEMA = '''\n"
        "CREATE TABLE IF NOT EXISTS t (\n"
        "    id INTEGER PRIMARY KEY\n"
        ");\n"
        "'''\n"
        "def init(conn):\n"
        "    conn.executescript(SCHEMA)\n"
        "    try:\n"
        "        conn.execute('ALTER TABLE t ADD COLUMN name TEXT')\n"
        "    except sqlite3.OperationalError:\n"
        "        pass\n"
        '    conn.execute("CREATE INDEX IF NOT EXISTS ix_t_name ON t (name)")\n'
        "    conn.execute('SELECT * FROM t')\n"
    )
    (tmp_path / "broken.py").write_text("def oops(:\n    'CREATE TABLE x (id int)'\n")
    schema, notes = load_path(tmp_path, include_python=True)
    table = schema.table("t")
    assert table is not None and table.column_names == ("id", "name")
    assert table.file == "db.py" and table.line == 3
    assert any(i.name == "ix_t_name" for i in table.indexes)
    assert len(notes) == 1 and notes[0].startswith("broken.py:1: could not parse")
    schema_without, _ = load_path(tmp_path)
    assert schema_without.tables == ()


def test_skipped_folders_and_exclude_globs(tmp_path: Path) -> None:
    for folder in ("node_modules/pkg", ".venv/lib", "tests/fixtures", "vendor"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "s.sql").write_text(
            f"CREATE TABLE {folder.split('/')[0].strip('.')} (id int);"
        )
    (tmp_path / "schema.sql").write_text("CREATE TABLE main_t (id int);")
    schema, _ = load_path(tmp_path, exclude=("vendor",))
    assert [t.name for t in schema.tables] == ["main_t"]


def test_truncated_statement_is_a_note_and_the_rest_is_read(tmp_path: Path) -> None:
    (tmp_path / "schema.sql").write_text(
        "CREATE TABLE a (id INTEGER PRIMARY KEY);\n"
        "CREATE TABLE broken (\n"
        "  id INTEGER,\n"
        "CREATE TABLE b (id INTEGER PRIMARY KEY);\n"
    )
    schema, notes = load_path(tmp_path)
    assert [t.name for t in schema.tables] == ["a", "b"]
    assert len(notes) == 1
    assert notes[0].startswith("schema.sql:2: could not parse CREATE TABLE broken")


def test_unknown_syntax_is_a_note_and_the_rest_is_read() -> None:
    schema, notes = load_text(
        "CREATE TABLE a (id INTEGER PRIMARY KEY);\n"
        "CREATE TABLE weird (id INTEGER) WITH (((BOGUS;\n"
        "CREATE TABLE b (id INTEGER PRIMARY KEY);\n",
        dialect="sqlite",
        file="s.sql",
    )
    assert [t.name for t in schema.tables] == ["a", "b"]
    assert len(notes) == 1 and notes[0].startswith("s.sql:2: could not")


def test_binary_and_undecodable_files_are_notes(tmp_path: Path) -> None:
    (tmp_path / "a.sql").write_bytes(b"\x00\x01\x02SQLite format 3\x00" * 20)
    (tmp_path / "b.sql").write_bytes(
        b"-- caf\xe9\nCREATE TABLE b (id INTEGER PRIMARY KEY, name TEXT);"
    )
    (tmp_path / "c.sql").write_text("CREATE TABLE c (id INTEGER PRIMARY KEY);")
    schema, notes = load_path(tmp_path)
    assert [t.name for t in schema.tables] == ["b", "c"]
    assert notes[0] == "a.sql: skipped, the file is binary, not SQL text"
    assert notes[1].startswith("b.sql: not valid UTF-8 (byte 0xe9")


def test_missing_path_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        load_path(tmp_path / "nope")


def test_non_ddl_statements_are_ignored_quietly() -> None:
    schema, notes = load_text(
        "PRAGMA foreign_keys = ON; BEGIN; INSERT INTO x VALUES (1); VACUUM; ANALYZE;"
        "SELECT 1; COMMIT; CREATE VIEW v AS SELECT 1;",
        dialect="sqlite",
    )
    assert schema.tables == () and notes == []


def test_a_code_folder_applies_its_schema_file_before_the_alters_in_its_code(tmp_path):
    (tmp_path / "app.py").write_text(
        'def migrate(db):\n    db.execute("ALTER TABLE jobs ADD COLUMN kind TEXT")\n'
    )
    (tmp_path / "schema.sql").write_text(
        "CREATE TABLE jobs (id INTEGER PRIMARY KEY);\n"
    )
    schema, notes = load_path(tmp_path, include_python=True)
    jobs = schema.table("jobs")
    assert jobs is not None and jobs.column("kind") is not None
    assert not [n for n in notes if "not defined" in n]


def test_a_ddl_template_with_braces_is_noted_not_fatal(tmp_path: Path) -> None:
    """A library building DDL from a str.format template: the parse error
    quotes the braces, and the scan of the folder still succeeds."""
    from audits.engine.scan import Target, scan

    (tmp_path / "db.py").write_text(
        "import sqlite3\n\n\n"
        "def create(conn, table, columns_sql, if_not_exists=''):\n"
        '    sql = """CREATE TABLE {if_not_exists}{table} (\n'
        "{columns_sql}\n"
        ')""".format(if_not_exists=if_not_exists, table=table, columns_sql=columns_sql)\n'
        "    conn.execute(sql)\n\n\n"
        "def setup(conn):\n"
        '    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")\n'
    )
    result = scan([Target("folder", str(tmp_path))])
    assert result.ok, [t.error for t in result.targets]
    schema = result.targets[0].schema
    assert schema is not None and "users" in {t.name for t in schema.tables}
