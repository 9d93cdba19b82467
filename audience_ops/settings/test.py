"""Test settings: the database and Redis come from the environment (CI points them at real servers)."""

from .dev import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
DEBUG = False

# A port of its own, so a running demo (6390) and the test suite never share the embedded server.
EMBEDDED_REDIS_PORT = env.int("EMBEDDED_REDIS_PORT", default=6391)  # noqa: F405
if not REDIS_URL:  # noqa: F405
    RQ_REDIS_URL = f"redis://127.0.0.1:{EMBEDDED_REDIS_PORT}/0"
    for _queue in RQ_QUEUES.values():  # noqa: F405
        _queue["URL"] = RQ_REDIS_URL
