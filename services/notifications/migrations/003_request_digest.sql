-- Meeting requests still waiting for the target's answer, for the digest of unanswered requests.
CREATE TABLE meeting_requests (
    meeting_id   text PRIMARY KEY,
    activity_id  text NOT NULL,
    requester_id text NOT NULL,
    target_id    text NOT NULL,
    requested_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    answered     boolean NOT NULL DEFAULT false
);
CREATE INDEX meeting_requests_waiting ON meeting_requests (target_id) WHERE NOT answered;
