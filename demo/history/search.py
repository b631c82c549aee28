"""Search over past benchmark runs."""

from db import get_db


def search_runs(term: str):
    conn = get_db()
    try:
        return conn.execute(
            f"SELECT id, prompt FROM benchmark_runs WHERE prompt LIKE '%{term}%'"
        ).fetchall()
    finally:
        conn.close()
