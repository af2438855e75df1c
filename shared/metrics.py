"""Prometheus metrics of the messaging runtime, labelled by service and worker."""

from prometheus_client import Counter, Gauge, Histogram

OUTBOX_PENDING = Gauge("cxc_outbox_pending", "Outbox rows not yet published", ["service"])
OUTBOX_PUBLISHED = Counter("cxc_outbox_published_total", "Events published by the relay", ["service"])
OUTBOX_ERRORS = Counter("cxc_outbox_publish_errors_total", "Failed publish attempts", ["service"])
OUTBOX_LAST_PUBLISHED = Gauge(
    "cxc_outbox_last_published_timestamp_seconds", "When the relay last published", ["service"]
)
OUTBOX_OLDEST_PENDING_AGE = Gauge(
    "cxc_outbox_oldest_pending_age_seconds", "Age of the oldest unpublished outbox row", ["service"]
)

CONSUMER_EVENTS = Counter(
    "cxc_consumer_events_total",
    "Messages handled by a consumer, by outcome (applied, duplicate, ignored, dead_lettered)",
    ["consumer", "topic", "outcome"],
)
CONSUMER_RETRIES = Counter("cxc_consumer_retries_total", "Handler retries", ["consumer", "topic"])
CONSUMER_LAG = Gauge(
    "cxc_consumer_lag", "Highwater minus processed position", ["consumer", "topic", "partition"]
)
CONSUMER_HIGHWATER = Gauge("cxc_consumer_highwater", "Partition highwater seen by the consumer", ["consumer", "topic", "partition"])
CONSUMER_POSITION = Gauge("cxc_consumer_position", "Next offset to process", ["consumer", "topic", "partition"])
CONSUMER_LAST_PROCESSED = Gauge(
    "cxc_consumer_last_processed_timestamp_seconds", "When the consumer last handled a message", ["consumer"]
)
CONSUMER_LAST_EVENT_TIME = Gauge(
    "cxc_consumer_last_event_time_seconds", "CloudEvents time of the last event handled", ["consumer"]
)

# Per event type, and the HTTP side: what dashboards break down by.
EVENTS_PUBLISHED = Counter("cxc_events_published_total", "Events published by the relay, by type", ["service", "type"])
EVENTS_CONSUMED = Counter(
    "cxc_events_consumed_total",
    "Events handled by a consumer, by type and outcome (applied, duplicate, ignored, dead_lettered)",
    ["consumer", "type", "outcome"],
)
EVENTS_FAILED = Counter("cxc_events_failed_total", "Failed handler attempts, by type", ["consumer", "type"])
HTTP_REQUESTS = Counter("cxc_http_requests_total", "HTTP requests", ["service", "method", "route", "status"])
HTTP_LATENCY = Histogram(
    "cxc_http_request_duration_seconds", "HTTP request latency", ["service", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
HOUSEKEEPING_PRUNED = Counter("cxc_housekeeping_pruned_total", "Rows removed by housekeeping", ["service", "table"])
PERIODIC_RUNS = Counter("cxc_periodic_runs_total", "Rounds of periodic workers, by outcome", ["worker", "outcome"])
PERIODIC_CONSECUTIVE_FAILURES = Gauge(
    "cxc_periodic_consecutive_failures", "Failed rounds in a row of a periodic worker (0 after a success)", ["worker"]
)
PERIODIC_LAST_SUCCESS = Gauge(
    "cxc_periodic_last_success_timestamp_seconds", "When a periodic worker last completed a round", ["worker"]
)
KEY_EVENTS_REJECTED = Counter(
    "cxc_key_events_rejected_total", "API-key events refused by a replica (unsigned or badly signed)",
    ["service", "type", "reason"],
)
