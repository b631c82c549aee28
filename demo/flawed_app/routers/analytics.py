"""Analytics routes: the leaderboard aggregated in Python, and in SQL."""

import json

from fastapi import APIRouter

from db import db, get_analytics_benchmark_runs

router = APIRouter()


@router.get("/analytics/leaderboard")
async def analytics_leaderboard(user_id: str):
    runs = await get_analytics_benchmark_runs(user_id)
    totals = {}
    counts = {}
    for run in runs:
        for result in json.loads(run["results_json"]):
            model = result["model"]
            totals[model] = totals.get(model, 0) + result["tokens_per_second"]
            counts[model] = counts.get(model, 0) + 1
    return {model: totals[model] / counts[model] for model in totals}


@router.get("/analytics/usage")
async def analytics_usage():
    return await db.fetch_all(
        "SELECT model_name, runs, total_tokens FROM model_stats ORDER BY runs DESC LIMIT 100"
    )
