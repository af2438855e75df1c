-- One row per (trigger, recipient, channel): the unique key is what makes a redelivered or replayed
-- event plan nothing new. For reminders the trigger is a key derived from (meeting, start, offset).
CREATE TABLE deliveries (
    id             uuid PRIMARY KEY,
    event_id       uuid NOT NULL,
    event_type     text NOT NULL,
    correlation_id text,
    recipient      text NOT NULL,          -- participant id (email) or webhook subscription id
    channel        text NOT NULL CHECK (channel IN ('email', 'webhook')),
    template       text NOT NULL,
    cluster_id     text,
    meeting_id     text,
    context        jsonb NOT NULL DEFAULT '{}'::jsonb,  -- non-personal render data, or the webhook body
    status         text NOT NULL DEFAULT 'planned'
                   CHECK (status IN ('planned', 'sending', 'sent', 'failed', 'cancelled', 'skipped')),
    attempts       integer NOT NULL DEFAULT 0,
    first_attempt_at timestamptz,          -- retries give up a day after this
    due_at         timestamptz NOT NULL DEFAULT now(),
    attempt_id     uuid,
    lease_until    timestamptz,
    last_error     text,
    address        text,                   -- personal: removed on erasure
    subject        text,                   -- personal (may name people): removed on erasure
    body_text      text,
    body_html      text,
    message_id     text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    sent_at        timestamptz,
    UNIQUE (event_id, recipient, channel)
);
CREATE INDEX deliveries_due ON deliveries (channel, due_at) WHERE status = 'planned';
CREATE INDEX deliveries_leased ON deliveries (channel, lease_until) WHERE status = 'sending';
CREATE INDEX deliveries_recipient ON deliveries (recipient);
CREATE INDEX deliveries_meeting ON deliveries (meeting_id) WHERE meeting_id IS NOT NULL;

-- What notifications knows of participants, activities and meetings to word a mail and scope webhooks.
CREATE TABLE participants (
    participant_id text PRIMARY KEY,
    cluster_id     text NOT NULL,
    organisation   text
);

CREATE TABLE activities (
    activity_id     text PRIMARY KEY,
    host_cluster_id text NOT NULL,
    title           text NOT NULL,
    timezone        text
);

CREATE TABLE meetings (
    meeting_id       text PRIMARY KEY,
    activity_id      text NOT NULL,
    schedule_version integer NOT NULL,
    starts_at        timestamptz,
    ends_at          timestamptz,
    table_no         integer,
    online           boolean NOT NULL DEFAULT false
);

CREATE TABLE unsubscribed (
    participant_id  text PRIMARY KEY,
    unsubscribed_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_subscriptions (
    id          uuid PRIMARY KEY,
    cluster_id  text,                      -- NULL: every cluster (coordinator subscriptions)
    owner_cluster_id text NOT NULL,
    url         text NOT NULL,
    event_types text[] NOT NULL,
    secret      text NOT NULL,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Participants erased (ids only): nothing is planned for them any more, and a send that was under way
-- during the erasure does not store the address it used.
CREATE TABLE erased_participants (
    participant_id text PRIMARY KEY,
    erased_at      timestamptz NOT NULL DEFAULT now()
);
