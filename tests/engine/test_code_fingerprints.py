"""Code findings keep their fingerprints across edits that do not change the problem."""

from __future__ import annotations

import textwrap
from pathlib import Path

from .code_helpers import scan_code

ORIGINAL = """
import sqlite3

def get_db():
    return sqlite3.connect("app.db", timeout=0)

def unrelated_helper(x):
    return x * 2

def search(conn, name):
    return conn.execute(f"SELECT * FROM users WHERE name = '{name}'").fetchall()

def per_item(conn, ids):
    out = []
    for i in ids:
        out.append(conn.execute("SELECT * FROM users WHERE id = ?", (i,)).fetchone())
    return out

def take(sku, n):
    a = sqlite3.connect("app.db")
    row = a.execute("SELECT qty FROM stock WHERE sku = ?", (sku,)).fetchone()
    b = sqlite3.connect("app.db")
    b.execute("UPDATE stock SET qty = ? WHERE sku = ?", (row[0] - n, sku))
    b.commit()
"""

# The same code, shifted down, rewrapped black-style, with an unrelated
# function renamed and different whitespace inside the SQL.
EDITED = '''
"""Module docstring added above everything."""

import sqlite3

SOMETHING_NEW = 1


def brand_new_function():
    return SOMETHING_NEW


def get_db():
    return sqlite3.connect(
        "app.db",
        timeout=0,
    )


def renamed_helper(x):
    return x * 2


def search(conn, name):
    return conn.execute(
        f"SELECT *   FROM users\\n   WHERE name = '{name}'"
    ).fetchall()


def per_item(conn, ids):
    out = []
    for i in ids:
        out.append(
            conn.execute(
                "select * from users where id = ?",
                (i,),
            ).fetchone()
        )
    return out


def take(sku, n):
    a = sqlite3.connect("app.db")
    row = a.execute(
        "SELECT qty FROM stock WHERE sku = ?", (sku,)
    ).fetchone()
    b = sqlite3.connect("app.db")
    b.execute(
        "UPDATE stock SET qty = ? WHERE sku = ?",
        (row[0] - n, sku),
    )
    b.commit()
'''

CHECKS = {
    "sqlite-busy-timeout-missing",
    "sql-injection",
    "query-n-plus-one",
    "txn-lost-update",
    "connection-leak-prone",
}


def _prints(root: Path, source: str) -> dict[tuple[str, str], tuple[str, int | None]]:
    (root / "app.py").write_text(textwrap.dedent(source))
    issues = scan_code(root)
    return {
        (i.check, i.function): (i.fingerprint, i.line)
        for i in issues
        if i.check in CHECKS
    }


def test_code_fingerprints_survive_insertions_rewrapping_and_unrelated_renames(
    tmp_path: Path,
) -> None:
    before = _prints(tmp_path, ORIGINAL)
    after = _prints(tmp_path, EDITED)
    assert {check for check, _ in before} == CHECKS
    assert before.keys() == after.keys()
    for key in before:
        assert before[key][0] == after[key][0], key
        assert before[key][1] != after[key][1], key  # the lines did move


def test_code_fingerprints_change_when_the_statement_changes(tmp_path: Path) -> None:
    before = _prints(tmp_path, ORIGINAL)
    after = _prints(
        tmp_path,
        ORIGINAL.replace("WHERE name = '{name}'", "WHERE email = '{name}'"),
    )
    key = ("sql-injection", "app.search")
    assert before[key][0] != after[key][0]


def test_code_fingerprints_change_when_the_enclosing_function_is_renamed(
    tmp_path: Path,
) -> None:
    before = _prints(tmp_path, ORIGINAL)
    after = _prints(tmp_path, ORIGINAL.replace("def per_item(", "def per_row("))
    assert (
        before[("query-n-plus-one", "app.per_item")][0]
        != after[("query-n-plus-one", "app.per_row")][0]
    )
