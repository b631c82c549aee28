"""Admin routes over the raw connection helper."""

from fastapi import APIRouter

from db import get_db, log_audit

router = APIRouter()


@router.delete("/admin/users/{user_id}")
async def delete_user(user_id: str, admin_id: str):
    conn = get_db()
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("UPDATE audit_log SET user_id = NULL WHERE user_id = ?", (user_id,))
        conn.execute("DELETE FROM users WHERE id = ?", (user_id,))
        conn.commit()
    finally:
        conn.close()
    await log_audit(admin_id, "delete_user", user_id)
    return {"ok": True}


@router.get("/admin/users")
async def list_users(limit: int = 100):
    conn = get_db()
    try:
        rows = conn.execute(
            "SELECT id, email, role FROM users ORDER BY email LIMIT ?", (limit,)
        ).fetchall()
    finally:
        conn.close()
    return [dict(row) for row in rows]
