"""Application start-up: schema, stale-state recovery and audit-log retention."""

from contextlib import asynccontextmanager

from fastapi import FastAPI

import admin
from db import cleanup_audit_log, init_db, mark_interrupted_reports
from routers import analytics, tool_eval


@asynccontextmanager
async def lifespan(app: FastAPI):
    await init_db()
    await mark_interrupted_reports()
    await cleanup_audit_log()
    yield


app = FastAPI(lifespan=lifespan)
app.include_router(tool_eval.router)
app.include_router(analytics.router)
app.include_router(admin.router)
