"""Structured logs: JSON lines with the service and correlation context, and no personal data."""

import json
import logging

from shared import correlation
from shared.logs import JsonFormatter


def render(msg, *args, **extra) -> dict:
    record = logging.LogRecord("cxc.test", logging.WARNING, __file__, 1, msg, args, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return json.loads(JsonFormatter("matchmaking").format(record))


def test_a_log_line_is_json_with_service_level_and_message():
    line = render("relay published %d events", 3)
    assert line["service"] == "matchmaking" and line["level"] == "WARNING"
    assert line["msg"] == "relay published 3 events" and "correlation_id" not in line


def test_a_log_line_written_while_handling_an_event_carries_its_ids():
    with correlation.bound("req-42", event_id="7f0c", event_type="participant.registered"):
        line = render("applied")
    ids = (line["correlation_id"], line["event_id"], line["event_type"])
    assert ids == ("req-42", "7f0c", "participant.registered")


def test_extra_fields_are_logged_and_personal_contact_data_is_masked():
    line = render("mail to daniel@score.example failed, call +48 601 234 567", outbox_pending=4, to="a.b@c.eu")
    assert "daniel@score.example" not in json.dumps(line) and "601 234" not in line["msg"]
    assert line["outbox_pending"] == 4 and line["to"] == "<email>"
    assert "color_message" not in render("Started", color_message="\x1b[36mStarted\x1b[0m")


def test_acceptable_request_ids_are_kept_and_others_replaced():
    assert correlation.from_headers({"x-request-id": "abc-123"}) == "abc-123"
    assert correlation.from_headers({"x-correlation-id": "trace:9.1"}) == "trace:9.1"
    replaced = correlation.from_headers({"x-request-id": "bad id\nInjected: header"})
    assert replaced != "bad id\nInjected: header" and len(replaced) == 36
    assert correlation.from_headers({}) != correlation.from_headers({})


def test_explicit_ids_win_over_the_bound_context():
    assert correlation.defaults(None, None) == (None, None)
    with correlation.bound("corr-1", event_id="evt-1"):
        assert correlation.defaults(None, None) == ("corr-1", "evt-1")
        assert correlation.defaults("mine", "cause") == ("mine", "cause")
