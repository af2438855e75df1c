-- The scoreboard kept up to date by the projection (services/reporting/domain/cells.py): each aggregate's
-- contribution next to its facts, and the sums of all contributions per cluster and period, so that
-- GET /v1/kpis reads a bounded number of rows however long the programme's history grows.
ALTER TABLE facts ADD COLUMN cells jsonb NOT NULL DEFAULT '[]';

-- grain 'a' = all time (day is a fixed placeholder), 'm' = the month starting on day, 'd' = that day.
-- cluster '' = the programme total. n is a count, or a sum of euros for the eur.* metrics.
CREATE TABLE kpi_cells (
    cluster text NOT NULL,
    grain   char(1) NOT NULL CHECK (grain IN ('a', 'm', 'd')),
    day     date NOT NULL,
    metric  text NOT NULL,
    key     text NOT NULL,
    n       bigint NOT NULL,
    PRIMARY KEY (cluster, grain, day, metric, key)
);

-- One row: the size and freshness of the projection (as_of) without counting applied_events, and whether
-- kpi_cells has been filled from the facts (false when this migration finds facts already there: the
-- projection fills it, once, before applying its next batch; until then reads fold the facts).
CREATE TABLE projection_summary (
    id              boolean PRIMARY KEY DEFAULT true CHECK (id),
    events_applied  bigint NOT NULL,
    last_event_time timestamptz,
    cells_ready     boolean NOT NULL
);
INSERT INTO projection_summary (events_applied, last_event_time, cells_ready)
SELECT count(*), max(event_time), NOT EXISTS (SELECT 1 FROM facts) FROM applied_events;

-- A participant's kind and cluster shape its exchanges' and meetings' contributions: find them.
CREATE INDEX facts_exchange_participant ON facts ((data->>'participant_id')) WHERE aggregate = 'exchange';
CREATE INDEX facts_meeting_requester ON facts ((data->>'requester_id')) WHERE aggregate = 'meeting';
CREATE INDEX facts_meeting_target ON facts ((data->>'target_id')) WHERE aggregate = 'meeting';
