
CREATE TABLE IF NOT EXISTS webhook_endpoints (
    id INTEGER PRIMARY KEY,
    user_id TEXT,
    url TEXT NOT NULL,
    signing_secret TEXT NOT NULL
);
