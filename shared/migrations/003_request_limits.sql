-- Request budgets (shared/limits.py): fixed-window counters per API key and per client address, shared by
-- the replicas of a service. UNLOGGED: a counter is not worth a WAL flush on every request; a database
-- crash empties the table, which forgives at most one window.
CREATE UNLOGGED TABLE request_budgets (
    bucket    text PRIMARY KEY,
    window_no bigint NOT NULL,
    used      int NOT NULL
);

-- Browser sessions (shared/auth.py): a sign-in turns an API key into an HttpOnly cookie, and a one-time
-- link does the same for a coordinator opening the dashboard. Only the token's SHA-256 is stored; the
-- session dies with its key (joined on every use), and at expires_at.
CREATE TABLE api_sessions (
    token_hash bytea PRIMARY KEY,
    key_id     uuid NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('link', 'session')),
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_sessions_expiry ON api_sessions (expires_at);
