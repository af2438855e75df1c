CREATE TABLE clusters (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    country    char(2) NOT NULL,
    city       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE participants (
    id            uuid PRIMARY KEY,
    cluster_id    text NOT NULL REFERENCES clusters (id),
    external_ref  text,
    kind          text NOT NULL,
    name          text NOT NULL,
    country       char(2) NOT NULL,
    city          text,
    employees     int,
    website       text,
    sectors       text[] NOT NULL DEFAULT '{}',
    keywords      text[] NOT NULL DEFAULT '{}',
    offers        jsonb NOT NULL DEFAULT '[]',
    requests      jsonb NOT NULL DEFAULT '[]',
    marketing_consent boolean NOT NULL DEFAULT false,
    status        text NOT NULL DEFAULT 'registered',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (cluster_id, external_ref)
);
CREATE INDEX participants_cluster ON participants (cluster_id, created_at, id);

-- Personal data lives only here, never in events, so erasure is a DELETE.
CREATE TABLE participant_contacts (
    participant_id uuid PRIMARY KEY REFERENCES participants (id) ON DELETE CASCADE,
    name  text NOT NULL,
    email text NOT NULL,
    phone text,
    language text NOT NULL DEFAULT 'en'
);
