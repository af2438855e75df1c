-- Revocation tombstones of the API-key replicas: a revocation is kept even for a key not seen yet, so an
-- apikey.issued that arrives after it (reordered, replayed, re-published) is stored already revoked.
CREATE TABLE api_key_revocations (
    key_id     uuid PRIMARY KEY,
    cluster_id text NOT NULL,
    revoked_at timestamptz NOT NULL DEFAULT now()
);
