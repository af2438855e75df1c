-- API keys: registration is the source (it issues keys); every other service keeps a replica fed by
-- apikey.* events, so each authenticates callers from its own schema.
CREATE TABLE api_keys (
    id         uuid PRIMARY KEY,
    cluster_id text NOT NULL,
    role       text NOT NULL CHECK (role IN ('partner', 'coordinator', 'ops')),
    key_hash   bytea NOT NULL UNIQUE,
    prefix     text NOT NULL,
    label      text,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
