-- Facts per aggregate (participant, activity, exchange, meeting), merged convergently from events in any
-- order; the scoreboard is computed from them at query time. See services/reporting/domain/facts.py.
CREATE TABLE facts (
    aggregate text NOT NULL,
    id        text NOT NULL,
    data      jsonb NOT NULL,
    PRIMARY KEY (aggregate, id)
);

-- Every event the projection holds: its size and freshness (as_of), and the set a rebuild compares.
CREATE TABLE applied_events (
    event_id   uuid PRIMARY KEY,
    event_type text NOT NULL,
    event_time timestamptz NOT NULL
);

-- Carry over what 001 counted; `cxc reporting rebuild` restores the full history from the topics.
INSERT INTO facts (aggregate, id, data)
SELECT 'participant', id::text, jsonb_build_object(
           'cluster_id', cluster_id, 'kind', kind, 'country', trim(country),
           'registered_at', to_char(registered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
           'profile_v', '0|migrated')
       || CASE WHEN erased THEN '{"erased_at": "1970-01-01T00:00:00.000000+00:00"}'::jsonb ELSE '{}'::jsonb END
FROM participants;

DROP TABLE participants;
DROP TABLE projection_state;
