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

env = environ.Env(
    DEBUG=(bool, False),
    SYNC_ENVIRONMENT=(str, "development"),
    SANDBOXES_ENABLED=(bool, True),
)

# development | test | production, read without regard to case or surrounding spaces, so
# "Production" cannot slip past the guard below; any other name is refused.
ENVIRONMENTS = ("development", "test", "production")
SYNC_ENVIRONMENT = env("SYNC_ENVIRONMENT").strip().lower()
if SYNC_ENVIRONMENT not in ENVIRONMENTS:
    raise ImproperlyConfigured(f"SYNC_ENVIRONMENT must be one of {', '.join(ENVIRONMENTS)}, "
                               f"not {env('SYNC_ENVIRONMENT')!r}.")
PRODUCTION = SYNC_ENVIRONMENT == "production"
# A test run spread over cores (pytest-xdist) gives each worker its own files and Redis
# database, as pytest-django gives each its own test database.
TEST_WORKER = env.str("PYTEST_XDIST_WORKER", default="") if SYNC_ENVIRONMENT == "test" else ""
if TEST_WORKER:
    VAR_DIR = VAR_DIR / TEST_WORKER
VAR_DIR.mkdir(parents=True, exist_ok=True)
DEBUG = env("DEBUG")
_DEV_SECRET_KEY = "dev-only-not-secret"
SECRET_KEY = env("SECRET_KEY", default=_DEV_SECRET_KEY)
_LOCAL_HOSTS = ["localhost", "127.0.0.1", "[::1]", "testserver"]
ALLOWED_HOSTS = [host.strip() for host in env.list("ALLOWED_HOSTS", default=[] if PRODUCTION else _LOCAL_HOSTS)
                 if host.strip()]

# Sandboxes play SAP and dotdigital for demos and tests. They must never be on in
# production: a production hub pointed at a fake vendor would report success for nothing.
SANDBOXES_ENABLED = env("SANDBOXES_ENABLED")

# HTTPS. On by default in production (what `manage.py check --deploy` asks for), off
# elsewhere so the demo runs on plain http; each one can be set from the environment.
# Behind a proxy that ends TLS, SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https"
# tells Django the request was https (only if the proxy always sets that header).
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=PRODUCTION)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=PRODUCTION)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=PRODUCTION)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=PRODUCTION)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=PRODUCTION)
_proxy_header = [part.strip() for part in env.list("SECURE_PROXY_SSL_HEADER", default=[])]
if _proxy_header and (len(_proxy_header) != 2 or not all(_proxy_header)):
    raise ImproperlyConfigured("SECURE_PROXY_SSL_HEADER must be a header and a value, "
                               "e.g. HTTP_X_FORWARDED_PROTO,https.")
SECURE_PROXY_SSL_HEADER = tuple(_proxy_header) or None
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])


def _production_problems() -> list[str]:
    """Every reason these settings are unsafe for production (Django's own secret-key rule included)."""
    problems = []
    if DEBUG:
        problems.append("DEBUG must be false in production.")
    if SECRET_KEY == _DEV_SECRET_KEY:
        problems.append("SECRET_KEY must be set in production.")
    elif SECRET_KEY.startswith("django-insecure"):
        problems.append("SECRET_KEY must not be a django-insecure key.")
    elif len(SECRET_KEY) < 50:
        problems.append("SECRET_KEY must be at least 50 characters long.")
    elif len(set(SECRET_KEY)) < 5:
        problems.append("SECRET_KEY must have at least 5 different characters.")
    if SANDBOXES_ENABLED:
        problems.append("SANDBOXES_ENABLED must be false in production.")
    if not ALLOWED_HOSTS:
        problems.append("ALLOWED_HOSTS must be set in production (the host names the hub answers to).")
    return problems


if PRODUCTION and (_problems := _production_problems()):
    raise ImproperlyConfigured("Refusing to start in production: " + " ".join(_problems))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "syncapp",
    "syncapp.drift",  # drift detection: destination records compared with what was sent
    "erp",
    "erp.sap_ecc",  # SAP ECC's IDoc store and monitor (models of a source that pushes)
    "esp",
    "exceptions",
    "audit",
    "accounts",  # identities: API tokens, login throttling, the audit of users and groups
    "reports",  # finance's room: reconciliation against each destination, re-send
    "reports.campaigns",  # campaign activity and revenue attribution (app label "campaigns")
    "consent",  # consent withdrawn at the destinations, recorded against Business Partners (issue 15)
    "engagement",  # engagement written back to SAP B1 Business Partner user fields
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
            # A test database is thrown away: it need not reach the disk.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA cache_size=-65536; PRAGMA synchronous="
                            + ("OFF;" if SYNC_ENVIRONMENT == "test" else "NORMAL;"),
        }
    )
    # Tests get a file too: Django's in-memory test database (shared cache) refuses a second
    # writer at once ("database table is locked") where a file waits out the timeout, so a
    # worker's heartbeat thread writing beside its main thread failed tests now and then.
    DATABASES["default"].setdefault("TEST", {}).setdefault("NAME", str(VAR_DIR / "test.sqlite3"))
    # The dashboard's covering index (INCLUDE) is a PostgreSQL speed-up; SQLite builds it
    # without the extra columns, which is fine, so its warning would only be noise on every command.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
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
if REDIS_URL and TEST_WORKER:
    from syncapp.test_workers import redis_url_for_worker

    REDIS_URL = redis_url_for_worker(REDIS_URL, TEST_WORKER)

# The cache holds the login and API-token throttles, which every web process must share:
# Redis when there is one, else a table in the database (created by accounts' migrations).
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "accounts_cache"}}

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
else:
    # Redis redelivers a task not acknowledged within the visibility timeout to another
    # worker; with acks late, a task running longer would run twice. So every task is cut
    # at CELERY_TASK_TIME_LIMIT, well inside it (a cut push run's rows come back by lease).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=7200)}
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# A worker acknowledges a task when it ends, not when it takes it, and takes one at a
# time: a worker killed mid-task leaves its message for another, and no worker holds
# messages it is not working on while others are idle.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=3600)
if CELERY_TASK_TIME_LIMIT >= CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", float("inf")):
    raise ImproperlyConfigured("CELERY_TASK_TIME_LIMIT must be shorter than CELERY_VISIBILITY_TIMEOUT, or a long "
                               "task would be handed to a second worker while the first still runs it.")
# Pushes and confirms wait in the queue behind everything else (a scheduled pull above all):
# a pull waiting for a free worker delays every new order it would read, and a push or
# confirm task spends most of its time waiting on its destination's pace. The Redis
# transport takes a lower-priority message only when none of a higher one waits (priority
# 0, the default, is the highest there). A push of time-sensitive rows is queued at 3
# (syncapp.tasks.URGENT_PUSH_PRIORITY): after the pulls, before the other pushes.
# The re-plan of customer figures a pull moved is routine work too (syncapp.tasks.figures_wake).
CELERY_TASK_ROUTES = {name: {"priority": 6} for name in ("syncapp.flow_push_task", "syncapp.flow_confirm_task",
                                                         "syncapp.figures_replan_task")}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",  # `Token <key>` or `Bearer <key>`, stored hashed
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # JSON only, bounded in size and depth: no endpoint can answer 500 to a body it cannot hold.
    "DEFAULT_PARSER_CLASSES": ["syncapp.api_parsers.BoundedJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
# Inbound limits of the API (syncapp/api_parsers.py): a larger body is a 413, deeper JSON a 400.
SYNC_API_MAX_BODY_BYTES = env.int("SYNC_API_MAX_BODY_BYTES", default=1_000_000)
SYNC_API_MAX_JSON_DEPTH = env.int("SYNC_API_MAX_JSON_DEPTH", default=20)
# The OpenAPI schema published at /api/schema/.
SPECTACULAR_SETTINGS = {
    "TITLE": "Sync hub API",
    "DESCRIPTION": "Runs, flow health, sync exceptions and duplicate-email conflicts.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and any schema page: only the roles that use the API (not the web shop's token).
    "SERVE_PERMISSIONS": ["syncapp.roles.ReadsApiSchema"],
    # Every operation's refusals (401, 403, 404, 400, 413, ...) are in the schema too.
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "syncapp.api_schema.error_responses_document"],
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
# The longest one push call may take (a dotdigital import may be polled for 15 minutes):
# a provisional order's ERP twin waits this long behind an unanswered call.
SYNC_CLAIM_TIMEOUT_SECONDS = env.int("SYNC_CLAIM_TIMEOUT_SECONDS", default=1800)
# Claimed rows and running runs are leased: a live worker renews them every heartbeat, so
# a dead worker's rows are back within the lease plus one sweep (a minute each).
SYNC_LEASE_SECONDS = env.int("SYNC_LEASE_SECONDS", default=60)
SYNC_HEARTBEAT_SECONDS = env.float("SYNC_HEARTBEAT_SECONDS", default=15.0)
# A record a destination took but neither confirmed nor refused within this time is sent
# again (its answer may have been lost); sending again is safe, every record has a stable key.
SYNC_CONFIRM_DEADLINE_SECONDS = env.int("SYNC_CONFIRM_DEADLINE_SECONDS", default=3600)
# Workers leave the records of an asynchronous import (dotdigital's insight imports) "submitted"
# and a confirm task reads the report, instead of the push waiting for it. Off by default: on a
# busy two-core machine with two workers it measured slower for time-sensitive records, not
# faster (bench/README.md, "Seventh session"); one worker gained from it.
SYNC_CONFIRM_IMPORTS_LATER = env.bool("SYNC_CONFIRM_IMPORTS_LATER", default=False)
# `manage.py backfill` lowers its process's CPU priority by this step (syncapp.cpu_priority);
# not in tests, which call the command in their own process.
SYNC_BACKFILL_NICE = env.int("SYNC_BACKFILL_NICE", default=0 if SYNC_ENVIRONMENT == "test" else 10)
# Control and bidi-override characters in ERP text: "strip" them or "refuse" the record (erp.record_checks).
SYNC_CONTROL_CHARACTERS = env.str("SYNC_CONTROL_CHARACTERS", default="strip")
# A web shop's provisional order with no ERP order after this long becomes an exception.
SYNC_PROVISIONAL_ORDER_TIMEOUT_MINUTES = env.int("SYNC_PROVISIONAL_ORDER_TIMEOUT_MINUTES", default=120)
# A delivery, invoice, credit memo or return whose base document is missing this long
# becomes "base document missing" instead of waiting (erp.dangling).
SYNC_BASE_DOCUMENT_GRACE_MINUTES = env.int("SYNC_BASE_DOCUMENT_GRACE_MINUTES", default=60)
# An exception a person retried that is still "retrying" this long after, with nothing
# re-planned for it, lost its task: the sweep opens it again ("press Retry again").
SYNC_RETRY_ORPHAN_MINUTES = env.int("SYNC_RETRY_ORPHAN_MINUTES", default=15)

# API tokens (accounts): a new token is valid this many days unless issued with another expiry.
SYNC_API_TOKEN_DAYS = env.int("SYNC_API_TOKEN_DAYS", default=90)
# Login throttling: this many failed logins of one account, or from one address, within the
# window lock that account's (or address's) logins for the lockout, the right password too.
SYNC_LOGIN_FAILURES_PER_ACCOUNT = env.int("SYNC_LOGIN_FAILURES_PER_ACCOUNT", default=5)
SYNC_LOGIN_FAILURES_PER_ADDRESS = env.int("SYNC_LOGIN_FAILURES_PER_ADDRESS", default=20)
SYNC_LOGIN_WINDOW_SECONDS = env.int("SYNC_LOGIN_WINDOW_SECONDS", default=900)
SYNC_LOGIN_LOCKOUT_SECONDS = env.int("SYNC_LOGIN_LOCKOUT_SECONDS", default=900)
# Bad API tokens from one address: this many within the window answer 429 for the rest of it.
SYNC_API_BAD_TOKENS_PER_ADDRESS = env.int("SYNC_API_BAD_TOKENS_PER_ADDRESS", default=20)
SYNC_API_BAD_TOKENS_WINDOW_SECONDS = env.int("SYNC_API_BAD_TOKENS_WINDOW_SECONDS", default=60)

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
# Runs keep their row-level outcomes (which records went, failed, wait) this many days, then only their counts.
SYNC_RUN_OUTCOME_DAYS = env.int("SYNC_RUN_OUTCOME_DAYS", default=14)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "syncapp.logging.RedactSecretsFilter"},
                "refusals": {"()": "syncapp.logging.RefusalWithoutTraceback"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["refusals", "redact"]}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    # "django" keeps no handler of its own (Django adds one under DEBUG): its records reach the
    # root's console once, rather than twice.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "django": {"handlers": [], "level": "INFO"}},
}
