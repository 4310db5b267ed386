"""Settings, all from the environment (django-environ), with embedded defaults.

Embedded defaults need no server: SQLite, Celery's filesystem broker, an in-process
token bucket and the vendor sandboxes. DATABASE_URL and REDIS_URL switch to
PostgreSQL and Redis, the production path.
"""
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("SYNC_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env(
    DEBUG=(bool, False),
    SYNC_ENVIRONMENT=(str, "development"),
    SANDBOXES_ENABLED=(bool, True),
)

SYNC_ENVIRONMENT = env("SYNC_ENVIRONMENT")  # development | test | production
DEBUG = env("DEBUG")
SECRET_KEY = env("SECRET_KEY", default="dev-only-not-secret")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])

# Sandboxes play SAP and dotdigital for demos and tests. They must never be on in
# production: a production hub pointed at a fake vendor would report success for nothing.
SANDBOXES_ENABLED = env("SANDBOXES_ENABLED")
if SYNC_ENVIRONMENT == "production":
    if SANDBOXES_ENABLED:
        raise ImproperlyConfigured("SANDBOXES_ENABLED must be false in production.")
    if SECRET_KEY == "dev-only-not-secret":
        raise ImproperlyConfigured("SECRET_KEY must be set in production.")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "syncapp",
    "erp",
    "esp",
    "exceptions",
    "audit",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "audit.middleware.AuditActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "syncapp.urls"
WSGI_APPLICATION = "syncapp.wsgi.application"

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
                "syncapp.roles.capabilities_context",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'sync.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share the file: WAL and immediate transactions avoid
    # "database is locked" under the embedded defaults.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536;",
        }
    )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Server-side binding: large IN lists and bulk statements are sent as parameters
    # instead of being quoted into the SQL text by the client.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("server_side_binding", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

# Redis: when set, the token buckets are shared by all workers and Celery uses it as broker.
REDIS_URL = env("REDIS_URL", default="")

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = VAR_DIR / "broker"
    for sub in ("in", "processed", "control"):
        (_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "in"),
        "data_folder_out": str(_broker_dir / "in"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
# The OpenAPI schema published at /api/schema/.
SPECTACULAR_SETTINGS = {
    "TITLE": "Sync hub API",
    "DESCRIPTION": "Runs, flow health, sync exceptions and duplicate-email conflicts.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],  # anonymous users see only the login
    # Several models have a `status`: name each enum after its model.
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "syncapp.models.SyncRun.Status",
        "ExceptionStatusEnum": "exceptions.models.SyncException.Status",
        "ConflictStatusEnum": "exceptions.models.DuplicateEmailConflict.Status",
    },
}

# Engine tuning; the vendor limits themselves are declared by each destination adapter.
SYNC_MAX_ATTEMPTS = env.int("SYNC_MAX_ATTEMPTS", default=5)
SYNC_BACKOFF_BASE_SECONDS = env.float("SYNC_BACKOFF_BASE_SECONDS", default=30.0)
SYNC_BACKOFF_MAX_SECONDS = env.float("SYNC_BACKOFF_MAX_SECONDS", default=3600.0)
# Longer than the slowest push (a dotdigital import may be polled for 15 minutes), or a
# live claim would be taken for a dead one and sent twice.
SYNC_CLAIM_TIMEOUT_SECONDS = env.int("SYNC_CLAIM_TIMEOUT_SECONDS", default=1800)
# A record a destination took but neither confirmed nor refused within this time is sent
# again (its answer may have been lost); sending again is safe, every record has a stable key.
SYNC_CONFIRM_DEADLINE_SECONDS = env.int("SYNC_CONFIRM_DEADLINE_SECONDS", default=3600)
# A web shop's provisional order with no ERP order after this long becomes an exception.
SYNC_PROVISIONAL_ORDER_TIMEOUT_MINUTES = env.int("SYNC_PROVISIONAL_ORDER_TIMEOUT_MINUTES", default=120)

# Email: the console in development; EMAIL_URL (smtp://user:password@host:587, read by
# django-environ) or EMAIL_BACKEND for a real server.
if env("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="sync-hub@localhost")
# Where links in alert emails point.
SYNC_SITE_URL = env("SYNC_SITE_URL", default="http://localhost:8000")

# Alerts go to each owner team's addresses (comma-separated); a team without any gets none.
SYNC_ALERT_EMAILS = {
    "marketing": env.list("SYNC_ALERT_EMAILS_MARKETING", default=[]),
    "finance": env.list("SYNC_ALERT_EMAILS_FINANCE", default=[]),
    "integration": env.list("SYNC_ALERT_EMAILS_ADMIN", default=[]),
}
# At most one alert per condition per period (a reminder after it, while it lasts).
SYNC_ALERT_PERIOD_MINUTES = env.int("SYNC_ALERT_PERIOD_MINUTES", default=360)
# Alert when open exceptions of one reason exceed this; per reason: "invalid_email=200;total_mismatch=0".
SYNC_ALERT_EXCEPTION_THRESHOLD = env.int("SYNC_ALERT_EXCEPTION_THRESHOLD", default=50)
SYNC_ALERT_EXCEPTION_THRESHOLDS = env.dict("SYNC_ALERT_EXCEPTION_THRESHOLDS", cast={"value": int}, default={})
# The daily digest goes out at this hour (TIME_ZONE); health samples every few minutes feed the charts.
SYNC_ALERT_DIGEST_HOUR = env.int("SYNC_ALERT_DIGEST_HOUR", default=7)
SYNC_HEALTH_SAMPLE_MINUTES = env.int("SYNC_HEALTH_SAMPLE_MINUTES", default=5)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "syncapp.logging.RedactSecretsFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["redact"]}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
