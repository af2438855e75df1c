-- The profile index, fed by participant.* events.
CREATE TABLE profiles (
    participant_id uuid PRIMARY KEY,
    cluster_id     text NOT NULL,
    kind           text NOT NULL,
    name           text NOT NULL,
    country        char(2) NOT NULL,
    sectors        text[] NOT NULL DEFAULT '{}',
    keywords       text[] NOT NULL DEFAULT '{}',
    offers         jsonb NOT NULL DEFAULT '[]',
    requests       jsonb NOT NULL DEFAULT '[]',
    updated_at     timestamptz NOT NULL DEFAULT now()
);
