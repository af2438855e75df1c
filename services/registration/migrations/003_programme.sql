-- The programme this deployment runs: one row, written by `cxc admin init`.
CREATE TABLE programme (
    singleton              boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    name                   text NOT NULL,
    coordinator_cluster_id text NOT NULL REFERENCES clusters (id),
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);
