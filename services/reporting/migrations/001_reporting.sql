CREATE TABLE participants (
    id            uuid PRIMARY KEY,
    cluster_id    text NOT NULL,
    kind          text NOT NULL,
    country       char(2) NOT NULL,
    registered_at timestamptz NOT NULL,
    erased        boolean NOT NULL DEFAULT false
);

-- One row: how far the projection has got.
CREATE TABLE projection_state (
    id              boolean PRIMARY KEY DEFAULT true CHECK (id),
    events_applied  bigint NOT NULL DEFAULT 0,
    last_event_time timestamptz
);
INSERT INTO projection_state DEFAULT VALUES;
