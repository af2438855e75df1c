"""The dev secrets of the test suite.

The tests are one of the two suppliers of dev secrets (the other is `cxc run`): tests/conftest.py puts these
in the environment with CXC_ENV=test, so every settings object a test builds has them. Tests that start
services as processes give them an environment of their own."""

TEST_SECRETS = {
    "CXC_INTERNAL_TOKEN": "test-internal-token-of-the-test-suite",
    "CXC_NOTIFICATIONS_SIGNING_SECRET": "test-signing-secret-of-the-test-suite",
    # The test suite's API-key signing pair (shared/keysigning.py); public, so never valid outside tests.
    "CXC_KEY_SIGNING_PRIVATE_KEY": "KPw74qTSnWrN1UZ4NjM3kgCRS3YXj6PqFMREEK54gqg=",
    "CXC_KEY_SIGNING_PUBLIC_KEY": "AsYy5d/sI8A3rnaxe261fo6YHjkj9U45g41F1SZp20k=",
}
