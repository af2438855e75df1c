-- Secret rotation: the previous secret keeps signing (a second signature) until previous_secret_until.
ALTER TABLE webhook_subscriptions
    ADD COLUMN previous_secret       text,
    ADD COLUMN previous_secret_until timestamptz,
    ADD COLUMN secret_rotated_at     timestamptz;

-- One hook per (owner, scope, url, event types): a retried create returns the existing one. Duplicates
-- made before this rule are folded into the oldest; their planned deliveries are cancelled.
UPDATE deliveries d SET status = 'cancelled', last_error = 'duplicate webhook subscription removed'
FROM webhook_subscriptions a, webhook_subscriptions b
WHERE d.channel = 'webhook' AND d.status = 'planned' AND d.recipient = a.id::text
  AND a.owner_cluster_id = b.owner_cluster_id AND a.cluster_id IS NOT DISTINCT FROM b.cluster_id
  AND a.url = b.url AND a.event_types = b.event_types AND (a.created_at, a.id) > (b.created_at, b.id);
DELETE FROM webhook_subscriptions a USING webhook_subscriptions b
WHERE a.owner_cluster_id = b.owner_cluster_id AND a.cluster_id IS NOT DISTINCT FROM b.cluster_id
  AND a.url = b.url AND a.event_types = b.event_types AND (a.created_at, a.id) > (b.created_at, b.id);
CREATE UNIQUE INDEX webhook_subscriptions_same
    ON webhook_subscriptions (owner_cluster_id, coalesce(cluster_id, ''), url, event_types);
CREATE INDEX webhook_subscriptions_cluster ON webhook_subscriptions (cluster_id);

-- Idempotency-Key of a create, per API key, kept a day; goes with its subscription.
CREATE TABLE webhook_idempotency (
    api_key_id      text NOT NULL,
    idem_key        text NOT NULL,
    fingerprint     text NOT NULL,
    subscription_id uuid NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    secret_sha256   bytea,           -- the secret this create returned, if any: a retry gets it again
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (api_key_id, idem_key)
);
CREATE INDEX webhook_idempotency_created ON webhook_idempotency (created_at);
