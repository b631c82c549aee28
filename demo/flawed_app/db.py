"""Data access for the benchmark studio (SQLite through aiosqlite and sqlite3).

This module is a demonstration target: several functions carry deliberate
database flaws (see README.md); others show the safe way to do the same job.
"""

import sqlite3
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiosqlite

DB_PATH = Path(__file__).with_name("studio.db")
SCHEMA_PATH = Path(__file__).with_name("schema.sql")

_JUDGE_FIELDS = ("verdicts_json", "report_json", "overall_grade", "overall_score", "status")
_SORTABLE = {"newest": "timestamp DESC", "oldest": "timestamp ASC"}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


class DatabaseManager:
    """One connection per call: simple, and the source of several findings."""

    def __init__(self, db_path=DB_PATH):
        self.db_path = db_path

    async def fetch_one(self, sql, params=()):
        async with aiosqlite.connect(self.db_path) as db:
            db.row_factory = aiosqlite.Row
            cursor = await db.execute(sql, params)
            return await cursor.fetchone()

    async def fetch_all(self, sql, params=()):
        async with aiosqlite.connect(self.db_path) as db:
            db.row_factory = aiosqlite.Row
            cursor = await db.execute(sql, params)
            return await cursor.fetchall()

    async def execute(self, sql, params=()):
        async with aiosqlite.connect(self.db_path) as db:
            await db.execute("PRAGMA busy_timeout = 5000")
            await db.execute("PRAGMA foreign_keys = ON")
            await db.execute(sql, params)
            await db.commit()


db = DatabaseManager()


def get_db():
    """Return a raw connection for the admin routes; the caller closes it."""
    conn = sqlite3.connect(DB_PATH, timeout=0)
    conn.row_factory = sqlite3.Row
    return conn


async def init_db():
    async with aiosqlite.connect(DB_PATH) as conn:
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute("PRAGMA synchronous = NORMAL")
        await conn.executescript(SCHEMA_PATH.read_text())
        for statement in (
            "ALTER TABLE jobs ADD COLUMN timeout_seconds INTEGER DEFAULT 7200",
            "ALTER TABLE judge_reports ADD COLUMN parent_report_id TEXT",
        ):
            try:
                await conn.execute(statement)
            except sqlite3.OperationalError:
                pass
        await conn.commit()


# --- users and tokens -------------------------------------------------------


async def create_user(email, password_hash):
    user_id = uuid.uuid4().hex
    await db.execute(
        "INSERT INTO users (id, email, password_hash) VALUES (?, ?, ?)",
        (user_id, email, password_hash),
    )
    return user_id


async def create_google_user(email, google_id):
    user_id = uuid.uuid4().hex
    await db.execute(
        "INSERT INTO users (id, email, password_hash, google_id) VALUES (?, ?, ?, ?)",
        (user_id, email, "", google_id),
    )
    return user_id


async def store_refresh_token(user_id, token_hash, days=30):
    expires = (datetime.now(timezone.utc) + timedelta(days=days)).isoformat()
    await db.execute(
        "INSERT INTO refresh_tokens (id, user_id, token_hash, expires_at) VALUES (?, ?, ?, ?)",
        (uuid.uuid4().hex, user_id, token_hash, expires),
    )


async def cleanup_expired_tokens():
    await db.execute("DELETE FROM refresh_tokens WHERE expires_at < ?", (_now(),))


async def log_audit(user_id, action, detail=""):
    await db.execute(
        "INSERT INTO audit_log (user_id, action, detail) VALUES (?, ?, ?)",
        (user_id, action, detail),
    )


async def cleanup_audit_log(days=90):
    cutoff = (datetime.now(timezone.utc) - timedelta(days=days)).isoformat()
    await db.execute("DELETE FROM audit_log WHERE timestamp < ?", (cutoff,))


# --- suites and test cases --------------------------------------------------


async def create_tool_suite(user_id, name, tools_json):
    suite_id = uuid.uuid4().hex
    await db.execute(
        "INSERT INTO tool_suites (id, user_id, name, tools_json) VALUES (?, ?, ?, ?)",
        (suite_id, user_id, name, tools_json),
    )
    return suite_id


async def create_test_case(suite_id, prompt, expected_tool, scoring="exact"):
    async with aiosqlite.connect(DB_PATH) as conn:
        await conn.execute("PRAGMA foreign_keys = ON")
        await conn.execute(
            "INSERT INTO tool_test_cases (id, suite_id, prompt, expected_tool, param_scoring) "
            "VALUES (?, ?, ?, ?, ?)",
            (uuid.uuid4().hex, suite_id, prompt, expected_tool, scoring),
        )
        await conn.commit()


async def add_fuzzy_case(suite_id, prompt):
    await db.execute(
        "INSERT INTO tool_test_cases (id, suite_id, prompt, param_scoring) VALUES (?, ?, ?, ?)",
        (uuid.uuid4().hex, suite_id, prompt, "fuzzy"),
    )


async def get_tool_suites(user_id):
    return await db.fetch_all(
        "SELECT id, name, description FROM tool_suites WHERE user_id = ? ORDER BY name",
        (user_id,),
    )


async def rename_tool_suite(suite_id, user_id, name):
    await db.execute(
        "UPDATE tool_suites SET name = ? WHERE id = ? AND user_id = ?",
        (name, suite_id, user_id),
    )


# --- runs, jobs and reports -------------------------------------------------


async def save_benchmark_run(user_id, results_json):
    run_id = uuid.uuid4().hex
    await db.execute(
        "INSERT INTO benchmark_runs (id, user_id, results_json) VALUES (?, ?, ?)",
        (run_id, user_id, results_json),
    )
    return run_id


async def get_analytics_benchmark_runs(user_id):
    return await db.fetch_all(
        "SELECT id, timestamp, results_json FROM benchmark_runs WHERE user_id = ? ORDER BY timestamp",
        (user_id,),
    )


async def get_recent_runs(user_id, limit=50, offset=0):
    return await db.fetch_all(
        "SELECT id, timestamp FROM benchmark_runs WHERE user_id = ? "
        "ORDER BY timestamp DESC LIMIT ? OFFSET ?",
        (user_id, limit, offset),
    )


async def get_run(run_id, user_id):
    return await db.fetch_one(
        "SELECT id, results_json FROM benchmark_runs WHERE id = ? AND user_id = ?",
        (run_id, user_id),
    )


async def submit_job(user_id, job_type, params_json):
    job_id = uuid.uuid4().hex
    await db.execute(
        "INSERT INTO jobs (id, user_id, job_type, status, params_json) VALUES (?, ?, ?, ?, ?)",
        (job_id, user_id, job_type, "queued", params_json),
    )
    return job_id


async def get_all_active_jobs():
    return await db.fetch_all(
        "SELECT id, user_id, job_type, status FROM jobs WHERE status IN ('pending', 'queued', 'running')"
    )


async def update_tool_eval_run(run_id, status, summary_json):
    await db.execute(
        "UPDATE tool_eval_runs SET status = ?, summary_json = ? WHERE id = ?",
        (status, summary_json, run_id),
    )


async def update_judge_report(report_id, **fields):
    names = [name for name in fields if name in _JUDGE_FIELDS]
    assignments = ", ".join(f"{name} = ?" for name in names)
    values = [fields[name] for name in names]
    await db.execute(
        f"UPDATE judge_reports SET {assignments} WHERE id = ?",
        (*values, report_id),
    )


async def mark_interrupted_reports():
    await db.execute(
        "UPDATE judge_reports SET status = 'interrupted' WHERE status = 'running'"
    )


async def list_judge_reports(user_id, order="newest", limit=50):
    order_by = _SORTABLE[order]
    return await db.fetch_all(
        f"SELECT id, overall_grade FROM judge_reports WHERE user_id = ? ORDER BY {order_by} LIMIT ?",
        (user_id, limit),
    )


async def get_reports_by_ids(user_id, report_ids):
    placeholders = ", ".join("?" * len(report_ids))
    return await db.fetch_all(
        f"SELECT id, overall_grade FROM judge_reports WHERE user_id = ? AND id IN ({placeholders})",
        (user_id, *report_ids),
    )


# --- leaderboard and profiles -----------------------------------------------


async def upsert_leaderboard_entry(model_name, provider, accuracy_pct):
    async with aiosqlite.connect(DB_PATH) as conn:
        cursor = await conn.execute(
            "SELECT tool_accuracy_pct, sample_count FROM public_leaderboard "
            "WHERE model_name = ? AND provider = ?",
            (model_name, provider),
        )
        row = await cursor.fetchone()
    if row is None:
        average, count = accuracy_pct, 1
    else:
        count = row[1] + 1
        average = (row[0] * row[1] + accuracy_pct) / count
    async with aiosqlite.connect(DB_PATH) as conn:
        await conn.execute(
            "INSERT OR REPLACE INTO public_leaderboard "
            "(id, model_name, provider, tool_accuracy_pct, sample_count, last_updated) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (uuid.uuid4().hex, model_name, provider, average, count, _now()),
        )
        await conn.commit()


async def record_model_usage(model_name, tokens):
    async with aiosqlite.connect(DB_PATH) as conn:
        await conn.execute(
            "INSERT INTO model_stats (model_name, runs, total_tokens) VALUES (?, 1, ?) "
            "ON CONFLICT (model_name) DO UPDATE SET runs = runs + 1, "
            "total_tokens = total_tokens + excluded.total_tokens",
            (model_name, tokens),
        )
        await conn.commit()


async def create_profile(user_id, model_id, name):
    existing = await db.fetch_one(
        "SELECT COUNT(*) FROM model_profiles WHERE user_id = ?", (user_id,)
    )
    if existing[0] >= 20:
        raise ValueError("profile limit reached")
    await db.execute(
        "INSERT INTO model_profiles (id, user_id, model_id, name) VALUES (?, ?, ?, ?)",
        (uuid.uuid4().hex, user_id, model_id, name),
    )


async def upsert_user_key(user_id, provider_key, encrypted_value):
    async with aiosqlite.connect(DB_PATH) as conn:
        await conn.execute("PRAGMA foreign_keys = ON")
        cursor = await conn.execute(
            "SELECT id FROM user_api_keys WHERE user_id = ? AND provider_key = ?",
            (user_id, provider_key),
        )
        row = await cursor.fetchone()
        if row:
            await conn.execute(
                "UPDATE user_api_keys SET encrypted_value = ? WHERE id = ? AND user_id = ?",
                (encrypted_value, row[0], user_id),
            )
        else:
            await conn.execute(
                "INSERT INTO user_api_keys (id, user_id, provider_key, encrypted_value) "
                "VALUES (?, ?, ?, ?)",
                (uuid.uuid4().hex, user_id, provider_key, encrypted_value),
            )
        await conn.commit()


async def list_prompt_versions(user_id, limit=50):
    return await db.fetch_all(
        "SELECT id, label, created_at FROM prompt_versions "
        "WHERE user_id = ? AND deleted_at IS NULL ORDER BY created_at DESC LIMIT ?",
        (user_id, limit),
    )


async def delete_prompt_version(version_id, user_id):
    await db.execute(
        "UPDATE prompt_versions SET deleted_at = ? WHERE id = ? AND user_id = ?",
        (_now(), version_id, user_id),
    )


class RateLimitStore:
    """Rate limits edited by admins over one long-lived connection."""

    def __init__(self, conn):
        self.conn = conn

    def set_limit(self, user_id, per_hour, admin_id):
        self.conn.execute(
            "UPDATE rate_limits SET benchmarks_per_hour = ?, updated_by = ? WHERE user_id = ?",
            (per_hour, admin_id, user_id),
        )
        self.conn.commit()
