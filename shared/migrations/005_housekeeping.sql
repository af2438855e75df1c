-- Housekeeping (shared/housekeeping.py) deletes expired rows in small batches, oldest first; these indexes
-- let each batch find them without scanning the tables.
CREATE INDEX outbox_published_created ON outbox (created_at) WHERE published_at IS NOT NULL;
CREATE INDEX processed_events_processed_at ON processed_events (processed_at);
