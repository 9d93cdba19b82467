"""The embedded default: SQLite, an in-process Redis-protocol server, DEBUG on, a fixed dev secret.

Never used in production: ``production`` refuses to start without real secrets.
"""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env("SECRET_KEY", default="dev-only-insecure-key-never-use-in-production-0123456789abcdef")
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=["ZGV2LW9ubHktZmllbGQta2V5LW5vdC1mb3ItcHJvZCE="])
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Serve static files straight from the finders (node_modules, static/) without collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405
