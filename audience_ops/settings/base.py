"""Shared settings, read from the environment so the same code runs embedded (SQLite) and in production.

Every knob lives in ``.env.example`` with its default; nothing here names a machine.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Fernet keys (urlsafe base64, 32 bytes) for secrets at rest; the first encrypts, all decrypt (rotation).
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "crispy_forms",
    "crispy_bootstrap5",
    "django_filters",
    "django_htmx",
    "django_rq",
    "audience_ops.core",
    "audience_ops.accounts",
    "audience_ops.customers",
    "audience_ops.audiences",
    "audience_ops.audit",
    "audience_ops.destinations",
    "audience_ops.syncs",
    "audience_ops.monitoring",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "audience_ops.audit.middleware.AuditRequestMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "audience_ops.urls"
WSGI_APPLICATION = "audience_ops.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "audience_ops.accounts.context_processors.roles",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'var' / 'audience_ops.sqlite3'}"),
}
DATABASES["default"].setdefault("ATOMIC_REQUESTS", False)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while a worker writes; the timeout rides out short write locks.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
NODE_MODULES = BASE_DIR / "node_modules"
# Front-end packages come from npm (package-lock.json) and are served as ordinary static files.
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/bootstrap", NODE_MODULES / "bootstrap" / "dist"),
    ("vendor/bootstrap-icons", NODE_MODULES / "bootstrap-icons" / "font"),
    ("vendor/htmx", NODE_MODULES / "htmx.org" / "dist"),
    ("vendor/chart.js", NODE_MODULES / "chart.js" / "dist"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# Background jobs. Without REDIS_URL the app runs "embedded": the demo command starts a Redis-protocol
# server in-process and real rqworker/rqcron processes against it, so the job code is the same everywhere.
REDIS_URL = env("REDIS_URL", default="")
EMBEDDED_REDIS_PORT = env.int("EMBEDDED_REDIS_PORT", default=6390)
RQ_REDIS_URL = REDIS_URL or f"redis://127.0.0.1:{EMBEDDED_REDIS_PORT}/0"
RQ_QUEUES = {
    "default": {"URL": RQ_REDIS_URL, "DEFAULT_TIMEOUT": 3600},
    "evaluations": {"URL": RQ_REDIS_URL, "DEFAULT_TIMEOUT": 3600},
    "syncs": {"URL": RQ_REDIS_URL, "DEFAULT_TIMEOUT": 7200},
}
RQ = {"WORKER_CLASS": "audience_ops.core.workers.Worker"}
RQ_SHOW_ADMIN_LINK = True

# How often the scheduler enqueues an evaluation of every live audience (seconds).
AUDIENCE_EVALUATION_INTERVAL_SECONDS = env.int("AUDIENCE_EVALUATION_INTERVAL_SECONDS", default=900)

# Retirement queue: days a live audience may go without a successful sync; membership Jaccard index from
# which two live audiences are near-duplicates.
HYGIENE_UNSYNCED_DAYS = env.int("HYGIENE_UNSYNCED_DAYS", default=30)
NEAR_DUPLICATE_JACCARD = env.float("NEAR_DUPLICATE_JACCARD", default=0.9)

# Sync engine: lease of a running run (renewed at every batch), retries of transient platform errors
# (exponential backoff with full jitter, at least Retry-After), and an optional cap on rows per request.
SYNC_LEASE_SECONDS = env.int("SYNC_LEASE_SECONDS", default=300)
SYNC_RETRY_MAX_ATTEMPTS = env.int("SYNC_RETRY_MAX_ATTEMPTS", default=8)
SYNC_RETRY_BASE_SECONDS = env.float("SYNC_RETRY_BASE_SECONDS", default=2.0)
SYNC_RETRY_MAX_SECONDS = env.float("SYNC_RETRY_MAX_SECONDS", default=300.0)
SYNC_MAX_BATCH_SIZE = env.int("SYNC_MAX_BATCH_SIZE", default=0)
# Large-change guardrail defaults (each sync may override them): see docs/syncs.md "Guardrails".
SYNC_GUARDRAIL_MAX_REMOVE_PERCENT = env.int("SYNC_GUARDRAIL_MAX_REMOVE_PERCENT", default=20)
SYNC_GUARDRAIL_MAX_ADD_PERCENT = env.int("SYNC_GUARDRAIL_MAX_ADD_PERCENT", default=50)
SYNC_GUARDRAIL_MIN_ROWS = env.int("SYNC_GUARDRAIL_MIN_ROWS", default=100)

# Destinations: (connect, read) timeout in seconds of every call to a platform, and the URL of the local
# sandbox emulators (``manage.py run_sandbox``; the demo starts it).
DESTINATION_HTTP_TIMEOUT = (
    env.float("DESTINATION_CONNECT_TIMEOUT", default=5.0),
    env.float("DESTINATION_READ_TIMEOUT", default=30.0),
)
SANDBOX_BASE_URL = env("SANDBOX_BASE_URL", default="http://127.0.0.1:8765")
# Platform facts that the published documentation leaves unconfirmed (docs/destinations.md): TikTok's rows
# per mapping request and extra rate-limit codes, and how long a Google upload's status is polled.
TIKTOK_BATCH_SIZE = env.int("TIKTOK_BATCH_SIZE", default=1000)
TIKTOK_RATE_LIMIT_CODES = env.list("TIKTOK_RATE_LIMIT_CODES", cast=int, default=[])
GOOGLE_STATUS_POLL_INTERVAL = env.float("GOOGLE_STATUS_POLL_INTERVAL", default=1.0)
GOOGLE_STATUS_POLL_TIMEOUT = env.float("GOOGLE_STATUS_POLL_TIMEOUT", default=120.0)
# Identifier coverage on the audience page is estimated from this many members when an audience is larger.
COVERAGE_SAMPLE_SIZE = env.int("COVERAGE_SAMPLE_SIZE", default=1000)

EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="audience-ops@localhost")
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=587)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=True)

# Tracking API limits, as the Segment HTTP API documents them.
TRACKING_MAX_MESSAGE_BYTES = 32 * 1024
TRACKING_MAX_BATCH_BYTES = 500 * 1024
TRACKING_MAX_BATCH_MESSAGES = 2500

# Default region for parsing national phone numbers that carry no country code.
DEFAULT_PHONE_REGION = env("DEFAULT_PHONE_REGION", default="US")

# Alerts (docs/monitoring.md): how often every check runs, the thresholds, and where notifications go.
# Ops users and the audience owner get email; ALERT_WEBHOOK_URL optionally receives a Standard Webhooks
# signed POST (ALERT_WEBHOOK_SECRET is a whsec_ secret). ALERT_SITE_URL makes links in them absolute.
ALERT_EVALUATE_INTERVAL_SECONDS = env.int("ALERT_EVALUATE_INTERVAL_SECONDS", default=300)
ALERT_SIZE_FACTOR = env.float("ALERT_SIZE_FACTOR", default=2.0)
ALERT_SIZE_HISTORY = env.int("ALERT_SIZE_HISTORY", default=7)
ALERT_SIZE_MIN_SIZE = env.int("ALERT_SIZE_MIN_SIZE", default=100)
ALERT_STALE_FACTOR = env.float("ALERT_STALE_FACTOR", default=2.0)
ALERT_MATCH_RATE_MIN = env.float("ALERT_MATCH_RATE_MIN", default=0.3)
ALERT_MATCH_RATE_MIN_BY_DESTINATION = env.json("ALERT_MATCH_RATE_MIN_BY_DESTINATION", default={})
ALERT_MATCH_RATE_DROP = env.float("ALERT_MATCH_RATE_DROP", default=0.25)
ALERT_FAILING_RUNS = env.int("ALERT_FAILING_RUNS", default=3)
ALERT_RETIREMENT_DAYS = env.int("ALERT_RETIREMENT_DAYS", default=14)
ALERT_SITE_URL = env("ALERT_SITE_URL", default="")
ALERT_WEBHOOK_URL = env("ALERT_WEBHOOK_URL", default="")
ALERT_WEBHOOK_SECRET = env("ALERT_WEBHOOK_SECRET", default="")
ALERT_WEBHOOK_TIMEOUT_SECONDS = env.float("ALERT_WEBHOOK_TIMEOUT_SECONDS", default=3.0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    # SQL parameters and request URLs can carry identifiers and tokens (Meta takes its token in the query
    # string of reads), so these stay at WARNING even when LOG_LEVEL is DEBUG.
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        "requests": {"level": "WARNING"},
    },
}
