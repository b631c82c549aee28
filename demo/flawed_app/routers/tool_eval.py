"""Tool-evaluation routes: suite import (twice: the flawed way and the safe way)."""

import json
import uuid

import aiosqlite
from fastapi import APIRouter

from db import DB_PATH, create_test_case, create_tool_suite, db, update_tool_eval_run

router = APIRouter()


@router.post("/suites/import")
async def import_suite(user_id: str, payload: dict):
    suite_id = await create_tool_suite(user_id, payload["name"], json.dumps(payload["tools"]))
    for case in payload["test_cases"]:
        await create_test_case(suite_id, case["prompt"], case.get("expected_tool"))
    return {"id": suite_id}


@router.post("/suites/import-batch")
async def import_suite_batch(user_id: str, payload: dict):
    suite_id = uuid.uuid4().hex
    rows = [
        (uuid.uuid4().hex, suite_id, case["prompt"], case.get("expected_tool"))
        for case in payload["test_cases"]
    ]
    async with aiosqlite.connect(DB_PATH) as conn:
        await conn.execute("PRAGMA foreign_keys = ON")
        await conn.execute(
            "INSERT INTO tool_suites (id, user_id, name, tools_json) VALUES (?, ?, ?, ?)",
            (suite_id, user_id, payload["name"], json.dumps(payload["tools"])),
        )
        await conn.executemany(
            "INSERT INTO tool_test_cases (id, suite_id, prompt, expected_tool) VALUES (?, ?, ?, ?)",
            rows,
        )
        await conn.commit()
    return {"id": suite_id}


@router.post("/runs/{run_id}/finish")
async def finish_run(run_id: str, summary: dict):
    await update_tool_eval_run(run_id, "completed", json.dumps(summary))
    return {"ok": True}


@router.get("/runs/compare")
async def compare_runs(user_id: str, run_ids: list[str]):
    runs = []
    for run_id in run_ids:
        run = await db.fetch_one(
            "SELECT id, summary_json FROM tool_eval_runs WHERE id = ? AND user_id = ?",
            (run_id, user_id),
        )
        runs.append(run)
    return runs
