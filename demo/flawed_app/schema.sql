-- LLM benchmark studio: the SQLite schema the application creates at start-up.
PRAGMA foreign_keys = ON;

CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY DEFAULT (lower(hex(randomblob(16)))),
    email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('admin', 'user')),
    onboarding_completed INTEGER NOT NULL DEFAULT 0,
    google_id TEXT,
    avatar_url TEXT,
    leaderboard_opt_in INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL DEFAULT (datetime('now'))
);

CREATE TABLE IF NOT EXISTS refresh_tokens (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    expires_at TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE INDEX IF NOT EXISTS idx_refresh_tokens_user ON refresh_tokens(user_id);
CREATE INDEX IF NOT EXISTS idx_refresh_tokens_hash ON refresh_tokens(token_hash);

CREATE TABLE IF NOT EXISTS user_api_keys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    provider_key TEXT NOT NULL,
    key_name TEXT,
    encrypted_value TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (datetime('now')),
    UNIQUE (user_id, provider_key)
);

CREATE TABLE IF NOT EXISTS benchmark_runs (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    timestamp TEXT NOT NULL DEFAULT (datetime('now')),
    prompt TEXT,
    context_tiers TEXT,
    results_json TEXT NOT NULL,
    metadata TEXT,
    max_tokens INTEGER,
    temperature REAL,
    config_json TEXT
);
CREATE INDEX IF NOT EXISTS idx_benchmark_runs_user_ts ON benchmark_runs(user_id, timestamp DESC);

CREATE TABLE IF NOT EXISTS rate_limits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,
    benchmarks_per_hour INTEGER NOT NULL DEFAULT 20,
    max_concurrent INTEGER NOT NULL DEFAULT 1,
    updated_by TEXT REFERENCES users(id),
    updated_at TEXT
);

CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp TEXT NOT NULL DEFAULT (datetime('now')),
    user_id TEXT REFERENCES users(id),
    username TEXT,
    action TEXT NOT NULL,
    resource_type TEXT,
    resource_id TEXT,
    detail TEXT,
    ip_address TEXT
);
CREATE INDEX IF NOT EXISTS idx_audit_log_ts ON audit_log(timestamp);

CREATE TABLE IF NOT EXISTS tool_suites (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT DEFAULT '',
    tools_json TEXT NOT NULL,
    system_prompt TEXT,
    created_at TEXT NOT NULL DEFAULT (datetime('now')),
    updated_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE INDEX IF NOT EXISTS idx_tool_suites_user ON tool_suites(user_id);

CREATE TABLE IF NOT EXISTS tool_test_cases (
    id TEXT PRIMARY KEY,
    suite_id TEXT NOT NULL REFERENCES tool_suites(id) ON DELETE CASCADE,
    prompt TEXT NOT NULL,
    expected_tool TEXT,
    expected_params TEXT,
    param_scoring TEXT NOT NULL DEFAULT 'exact',
    multi_turn_config TEXT,
    should_call_tool INTEGER NOT NULL DEFAULT 1,
    category TEXT
);
CREATE INDEX IF NOT EXISTS idx_test_cases_suite ON tool_test_cases(suite_id);

CREATE TABLE IF NOT EXISTS tool_eval_runs (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    suite_id TEXT NOT NULL REFERENCES tool_suites(id) ON DELETE CASCADE,
    suite_name TEXT,
    models_json TEXT NOT NULL,
    results_json TEXT,
    summary_json TEXT,
    status TEXT NOT NULL DEFAULT 'running'
        CHECK (status IN ('running', 'completed', 'error', 'interrupted')),
    timestamp TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE INDEX IF NOT EXISTS idx_tool_eval_runs_user_ts ON tool_eval_runs(user_id, timestamp DESC);

CREATE TABLE IF NOT EXISTS schedules (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    prompt TEXT NOT NULL,
    models_json TEXT NOT NULL,
    interval_hours INTEGER NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    last_run TEXT,
    next_run TEXT,
    created TEXT NOT NULL DEFAULT (datetime('now')),
    FOREIGN KEY (user_id) REFERENCES users(id)
);

CREATE TABLE IF NOT EXISTS judge_reports (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    eval_run_id TEXT REFERENCES tool_eval_runs(id) ON DELETE SET NULL,
    eval_run_id_b TEXT,
    judge_model TEXT NOT NULL,
    verdicts_json TEXT DEFAULT '[]',
    report_json TEXT,
    overall_grade TEXT,
    overall_score REAL,
    status TEXT NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'completed', 'error')),
    timestamp TEXT NOT NULL DEFAULT (datetime('now'))
);

CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    job_type TEXT NOT NULL CHECK (job_type IN ('benchmark', 'tool_eval', 'param_tune', 'prompt_tune', 'judge')),
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'queued', 'running', 'done', 'failed', 'cancelled', 'interrupted')),
    progress_pct INTEGER NOT NULL DEFAULT 0 CHECK (progress_pct BETWEEN 0 AND 100),
    params_json TEXT DEFAULT '{}',
    error_msg TEXT,
    created_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE INDEX IF NOT EXISTS idx_jobs_user_status ON jobs(user_id, status);

CREATE TABLE IF NOT EXISTS model_profiles (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    model_id TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT 'Default',
    is_default INTEGER NOT NULL DEFAULT 0,
    params_json TEXT DEFAULT '{}',
    UNIQUE (user_id, model_id, name)
);

CREATE TABLE IF NOT EXISTS prompt_versions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    prompt_text TEXT NOT NULL,
    label TEXT DEFAULT '',
    source TEXT NOT NULL DEFAULT 'manual' CHECK (source IN ('manual', 'prompt_tuner', 'auto_optimize')),
    deleted_at TEXT,
    created_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE INDEX IF NOT EXISTS idx_prompt_versions_user ON prompt_versions(user_id, created_at DESC);

CREATE TABLE IF NOT EXISTS public_leaderboard (
    id TEXT PRIMARY KEY,
    model_name TEXT NOT NULL,
    provider TEXT NOT NULL,
    tool_accuracy_pct REAL DEFAULT 0,
    sample_count INTEGER DEFAULT 0,
    last_updated TEXT,
    UNIQUE (model_name, provider)
);
CREATE INDEX IF NOT EXISTS idx_leaderboard_model ON public_leaderboard(model_name);

CREATE TABLE IF NOT EXISTS model_stats (
    model_name TEXT PRIMARY KEY,
    runs INTEGER NOT NULL DEFAULT 0,
    total_tokens INTEGER NOT NULL DEFAULT 0
);
