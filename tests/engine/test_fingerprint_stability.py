"""Fingerprints survive reordering, comments and changes to unrelated tables."""

from __future__ import annotations

import re
from pathlib import Path

from audits.engine.issues import Evidence
from audits.engine.registry import Facts, run_checks
from audits.engine.sources.ddl import load_text
from audits.engine.sources.ddl_split import split_statements

FIXTURE = Path(__file__).parent / "fixtures" / "ddl" / "benchmark_studio.sql"


def fingerprints(ddl: str) -> dict[tuple[str, str], str]:
    schema, notes = load_text(ddl, dialect="sqlite")
    assert notes == []
    facts = Facts(schema=schema, evidence=frozenset({Evidence.SCHEMA, Evidence.DDL}))
    issues, _, errors = run_checks(facts)
    assert errors == []
    return {(i.check, i.object): i.fingerprint for i in issues}


def blocks(ddl: str) -> list[list[str]]:
    """Return CREATE TABLE statements, each with the indexes that follow it."""
    groups: list[list[str]] = []
    for statement in split_statements(ddl):
        if statement.text.upper().startswith("CREATE TABLE") or not groups:
            groups.append([])
        groups[-1].append(statement.text)
    return groups


def join(groups: list[list[str]]) -> str:
    return "\n".join(s + ";" for group in groups for s in group)


BASE = FIXTURE.read_text()


def test_reordering_tables_keeps_every_fingerprint() -> None:
    before = fingerprints(BASE)
    assert len(before) > 30
    after = fingerprints(join(list(reversed(blocks(BASE)))))
    assert after == before


def test_reordering_statements_within_a_table_keeps_fingerprints() -> None:
    groups = [[g[0], *reversed(g[1:])] for g in blocks(BASE)]
    assert fingerprints(join(groups)) == fingerprints(BASE)


def test_comments_blank_lines_and_case_keep_fingerprints() -> None:
    noisy = ";\n\n".join(
        f"-- statement {n}\n/* block\n comment */\n{s}"
        for n, s in enumerate(BASE.split(";\n"))
    )
    noisy = re.sub(r"\bCREATE INDEX\b", "create index", noisy)
    assert fingerprints(noisy) == fingerprints(BASE)


def test_changing_unrelated_tables_keeps_other_fingerprints() -> None:
    before = fingerprints(BASE)
    changed = BASE.replace(
        "CREATE INDEX IF NOT EXISTS idx_pwreset_token ON password_reset_tokens(token_hash);",
        "",
    ).replace("updated_by TEXT REFERENCES users(id)", "updated_by TEXT")
    changed += (
        "\nCREATE TABLE extra (id INTEGER PRIMARY KEY, user_id TEXT REFERENCES users(id),"
        " is_on INTEGER, status TEXT DEFAULT 'x');\n"
    )
    after = fingerprints(changed)
    touched = {"password_reset_tokens", "rate_limits", "extra"}
    for (check, obj), fp in before.items():
        if obj.split(".")[0] in touched or obj == "idx_pwreset_token":
            continue
        assert after.get((check, obj)) == fp, (check, obj)


def test_renaming_a_redundant_pair_keeps_the_index_fingerprints() -> None:
    before = fingerprints(BASE)
    renamed = BASE.replace("idx_leaderboard_model", "ix_board_model_name")
    after = fingerprints(renamed)
    assert (
        after[("index-redundant", "ix_board_model_name")]
        == before[("index-redundant", "idx_leaderboard_model")]
    )


def test_fingerprints_never_depend_on_line_numbers() -> None:
    shifted = "\n" * 50 + BASE
    assert fingerprints(shifted) == fingerprints(BASE)
