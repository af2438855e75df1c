-- Crypto-shredding (shared/privacy.py): personal fields of events are sealed with a per-participant
-- AES-256 data key that lives only here. Erasure deletes the key, which turns every copy of those fields
-- in topics, dead letters and outboxes into ciphertext nobody can open.
CREATE TABLE participant_keys (
    participant_id uuid PRIMARY KEY REFERENCES participants (id),
    data_key       bytea NOT NULL CHECK (length(data_key) = 32),
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- An erased participant keeps an anonymous row (exchanges and counts refer to it) without its name.
ALTER TABLE participants ALTER COLUMN name DROP NOT NULL;

-- Batch responses concern many participants; erasure finds them here to blank the erased one's item.
ALTER TABLE idempotency_keys ADD COLUMN participant_ids uuid[];
CREATE INDEX idempotency_keys_participants ON idempotency_keys USING gin (participant_ids)
    WHERE participant_ids IS NOT NULL;
