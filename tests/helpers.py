"""Kept for imports not yet moved: everything here lives in tests/support (polling, payloads, secrets, topics)."""

from tests.support.payloads import participant_registered  # noqa: F401
from tests.support.polling import eventually  # noqa: F401
from tests.support.secrets import TEST_SECRETS  # noqa: F401
from tests.support.topics import read_all  # noqa: F401
