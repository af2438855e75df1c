-- Events a person or partner should hear about, as received; deliveries are planned from these.
CREATE TABLE received_events (
    event_id       uuid PRIMARY KEY,
    event_type     text NOT NULL,
    subject        text NOT NULL,
    correlation_id text NOT NULL,
    event_time     timestamptz NOT NULL,
    received_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX received_events_subject ON received_events (subject);
