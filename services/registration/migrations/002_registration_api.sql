-- A write with an Idempotency-Key claims (caller key, idempotency key) in the same transaction as its
-- effect; a concurrent duplicate blocks on the primary key until the first commits, then replays.
CREATE TABLE idempotency_keys (
    api_key_id   text NOT NULL,
    idem_key     text NOT NULL,
    fingerprint  text NOT NULL,
    status       int,
    body         jsonb,
    location     text,
    -- The participant a stored response is about, so erasure can blank responses holding contact data.
    participant_id uuid,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (api_key_id, idem_key)
);
CREATE INDEX idempotency_keys_participant ON idempotency_keys (participant_id) WHERE participant_id IS NOT NULL;
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

CREATE TABLE rate_limits (
    api_key_id text PRIMARY KEY,
    window_no  bigint NOT NULL,
    hits       int NOT NULL
);

CREATE INDEX participants_list ON participants (created_at, id);

CREATE TABLE activities (
    id              uuid PRIMARY KEY,
    kind            text NOT NULL,
    title           text NOT NULL,
    host_cluster_id text NOT NULL REFERENCES clusters (id),
    city            text,
    country         char(2) NOT NULL,
    starts_on       date NOT NULL,
    ends_on         date NOT NULL,
    online          boolean NOT NULL DEFAULT false,
    capacity        int,
    meetings        jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_on >= starts_on)
);

CREATE TABLE activity_participants (
    activity_id    uuid NOT NULL REFERENCES activities (id),
    participant_id uuid NOT NULL REFERENCES participants (id),
    unavailable    jsonb NOT NULL DEFAULT '[]',
    joined_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (activity_id, participant_id)
);

CREATE TABLE exchanges (
    id                 uuid PRIMARY KEY,
    participant_id     uuid NOT NULL REFERENCES participants (id),
    sending_cluster_id text NOT NULL REFERENCES clusters (id),
    host_cluster_id    text NOT NULL REFERENCES clusters (id),
    activity_id        uuid REFERENCES activities (id),
    kind               text NOT NULL,
    start_date         date NOT NULL,
    end_date           date NOT NULL,
    working_days       int NOT NULL,
    goals              text NOT NULL,
    status             text NOT NULL DEFAULT 'applied'
                       CHECK (status IN ('applied', 'approved', 'cancelled', 'completed')),
    lump_sum_eur       int,
    distance_km        numeric(8, 1),
    approved_at        timestamptz,
    cancelled_at       timestamptz,
    cancel_reason      text,
    completed_on       date,
    days_worked        int,
    meetings_held      int,
    satisfaction       int,
    outcomes           text[],
    testimonial        text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK (host_cluster_id <> sending_cluster_id)
);
-- A visiting participant takes part in one exchange only; a cancelled one frees the place.
CREATE UNIQUE INDEX exchanges_one_per_participant ON exchanges (participant_id) WHERE status <> 'cancelled';
CREATE INDEX exchanges_list ON exchanges (created_at, id);
