-- Activities and who takes part (fed by activity.* events), meeting requests, schedules, feedback.
CREATE TABLE activities (
    activity_id     text PRIMARY KEY,
    kind            text NOT NULL,
    title           text NOT NULL,
    host_cluster_id text NOT NULL,
    country         text NOT NULL,
    starts_on       date NOT NULL,
    ends_on         date NOT NULL,
    online          boolean NOT NULL DEFAULT false,
    meetings        jsonb,                      -- MeetingSettings, or NULL: no B2B meetings
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE activity_participants (
    activity_id    text NOT NULL REFERENCES activities ON DELETE CASCADE,
    participant_id text NOT NULL,
    unavailable    jsonb NOT NULL DEFAULT '[]', -- [[start, end], ...] ISO datetimes
    joined_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (activity_id, participant_id)
);
CREATE INDEX activity_participants_by_participant ON activity_participants (participant_id);

-- A meeting request is the meeting: its id is the meeting id in every meeting.* event.
CREATE TABLE meetings (
    meeting_id     uuid PRIMARY KEY,
    activity_id    text NOT NULL REFERENCES activities,
    requester_id   text NOT NULL,
    target_id      text NOT NULL,
    message        text,
    status         text NOT NULL CHECK (status IN ('pending', 'accepted', 'declined', 'expired')),
    mutual         boolean NOT NULL DEFAULT false,  -- both sides asked for it
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    decided_at     timestamptz,
    -- the current schedule, NULL when not scheduled
    slot           int,
    table_no       int,
    starts_at      timestamptz,
    ends_at        timestamptz,
    schedule_version int,
    held           boolean NOT NULL DEFAULT false,
    CHECK (requester_id <> target_id)
);
-- One open (pending or accepted) meeting per pair and activity, whoever asked first.
CREATE UNIQUE INDEX meetings_one_open_per_pair ON meetings
    (activity_id, least(requester_id, target_id), greatest(requester_id, target_id))
    WHERE status IN ('pending', 'accepted');
CREATE INDEX meetings_pending_expiry ON meetings (expires_at) WHERE status = 'pending';
CREATE INDEX meetings_by_activity ON meetings (activity_id, status);

CREATE TABLE schedules (
    activity_id text PRIMARY KEY REFERENCES activities,
    version     int NOT NULL,
    run_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE meeting_feedback (
    meeting_id     uuid NOT NULL REFERENCES meetings,
    participant_id text NOT NULL,
    rating         text NOT NULL,
    rated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (meeting_id, participant_id)
);
