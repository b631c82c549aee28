
CREATE TABLE IF NOT EXISTS import_staging (
    run_id TEXT,
    payload TEXT,
    loaded_at TEXT
);
