-- Tombstones: participants erased (ids only, kept for good). A late or replayed participant.* or
-- activity.participant_joined event of an erased participant is ignored, so it cannot bring back a
-- profile or a place in an activity.
CREATE TABLE erased_participants (
    participant_id text PRIMARY KEY,
    erased_at      timestamptz NOT NULL DEFAULT now()
);
