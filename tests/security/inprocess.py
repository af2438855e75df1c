"""Moved to tests/support/inprocess.py; kept while tests/unit/test_reporting_api.py (being edited in parallel)
still imports it from here."""

from tests.support.inprocess import KEYS, SERVICES, build, fill, key, routes_of, serving, settings_of  # noqa: F401
