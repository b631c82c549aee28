"""Plumbline's settings, all read from the environment.

With no variables set Plumbline runs embedded: SQLite in WAL mode and Celery
tasks executed in-process. ``DATABASE_URL`` switches to PostgreSQL and
``REDIS_URL`` to a Redis broker with real workers. ``.env.example`` documents
every variable.
"""

import ipaddress
import os
from pathlib import Path

import environ
from csp.constants import NONCE as CSP_NONCE
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off (see .env.example)."
        )
    SECRET_KEY = "insecure-development-key-never-use-in-production"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Key for target credentials at rest (a Fernet key). Derived from SECRET_KEY
# when unset, so rotating SECRET_KEY without setting this loses credentials.
ENCRYPTION_KEY = env.str("PLUMBLINE_ENCRYPTION_KEY", default="")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "django_tables2",
    "django_filters",
    "axes",
    "projects",
    "audits",
    "findings",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "config.middleware.RefuseNulCharactersMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"

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
            ],
            "builtins": ["template_partials.templatetags.partials"],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

(VAR_DIR / "static").mkdir(parents=True, exist_ok=True)
DATABASES = {
    "default": env.db(
        "DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'plumbline.sqlite3'}"
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets the dashboard read while an audit writes; IMMEDIATE takes
        # the write lock at BEGIN so concurrent writers wait instead of
        # failing half-way; the busy timeout is how long they wait.
        "init_command": (
            "PRAGMA journal_mode=WAL;"
            "PRAGMA synchronous=NORMAL;"
            "PRAGMA busy_timeout=20000;"
            "PRAGMA foreign_keys=ON;"
        ),
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # A file, not memory, so that worker processes started by the tests can
    # open the test database too; one per test process.
    DATABASES["default"]["TEST"] = {
        "NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"
    },
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes checks every login attempt first: after AXES_FAILURE_LIMIT
# wrong passwords from one address, or for one username from anywhere, that
# address or username is locked for AXES_COOLOFF_TIME hours, whether or not
# such an account exists, so the lock-out reveals nothing about who is
# registered.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("PLUMBLINE_LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
# Password reset links stay valid for a day.
PASSWORD_RESET_TIMEOUT = 60 * 60 * 24
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "projects:list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True

# Uploaded reports are refused above this size: a larger request body is
# discarded as it arrives (audits.uploads), never stored.
IMPORT_MAX_BYTES = env.int("PLUMBLINE_IMPORT_MAX_BYTES", default=5 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = IMPORT_MAX_BYTES + 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = IMPORT_MAX_BYTES + 1024 * 1024
FILE_UPLOAD_HANDLERS = [
    "audits.uploads.SizeLimitUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

# Folders that targets of kind "ddl", "code" and "sqlite" may point into,
# checked on the real path of every file an audit opens. Empty (the
# default) means none: tenants scan code through git targets or CI uploads.
TARGET_PATH_ROOTS = env.list("PLUMBLINE_TARGET_PATH_ROOTS", default=[])
# Database targets on loopback, private, link-local or unique-local
# addresses, or at Plumbline's own database, are refused unless this is on;
# the CIDRs below are allowed whatever they are (e.g. a customer VPN range).
ALLOW_PRIVATE_TARGETS = env.bool("PLUMBLINE_ALLOW_PRIVATE_TARGETS", default=False)
ALLOWED_TARGET_NETWORKS = env.list("PLUMBLINE_ALLOWED_TARGET_NETWORKS", default=[])
# A PostgreSQL server of the operator's own (a URL whose role may CREATE
# DATABASE and CREATE ROLE) for the migrations' dry run: each audit of a git
# or code target holding migrations makes a throwaway database and role
# there, applies them in a transaction that is rolled back, and drops both.
# Empty (the default): no dry run; the static migration rules still run.
# Never point it at Plumbline's own database server's production cluster
# without a role limited to that.
SCRATCH_DATABASE_URL = env.str("PLUMBLINE_SCRATCH_DATABASE_URL", default="")
for _network in ALLOWED_TARGET_NETWORKS:
    try:
        ipaddress.ip_network(_network.strip(), strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(
            f"PLUMBLINE_ALLOWED_TARGET_NETWORKS: {_network!r} is not a CIDR ({_exc})"
        ) from None

# Git targets: each audit clones one commit into a temporary folder, with
# these limits, and deletes it afterwards.
GIT_MAX_BYTES = env.int("PLUMBLINE_GIT_MAX_BYTES", default=200 * 1024 * 1024)
GIT_MAX_FILES = env.int("PLUMBLINE_GIT_MAX_FILES", default=20_000)
GIT_TIMEOUT = env.float("PLUMBLINE_GIT_TIMEOUT", default=120.0)
GIT_WORK_DIR = env.str("PLUMBLINE_GIT_WORK_DIR", default="") or None

# How long "Test connection" may take before the page says it timed out.
TEST_CONNECTION_SECONDS = env.float("PLUMBLINE_TEST_CONNECTION_SECONDS", default=5.0)

# Celery. No REDIS_URL: tasks run eagerly, in-process (embedded mode).
REDIS_URL = env.str("REDIS_URL", default="")
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
# Embedded (no broker), a started audit runs in a background thread of the
# web process, so the page that started it stays usable and shows progress.
AUDITS_IN_THREAD = env.bool("PLUMBLINE_AUDIT_THREADS", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# An audit that runs longer than this is stuck; the sweeper fails it.
AUDIT_TIME_LIMIT = env.int("PLUMBLINE_AUDIT_TIME_LIMIT", default=30 * 60)
CELERY_TASK_TIME_LIMIT = AUDIT_TIME_LIMIT
CELERY_TASK_SOFT_TIME_LIMIT = AUDIT_TIME_LIMIT - 30
# A running audit's process writes a heartbeat this often; an audit whose
# heartbeat is older than AUDIT_LOST_AFTER lost its worker and is failed by
# the next sweep, so a killed worker blocks its project for minutes at most.
AUDIT_HEARTBEAT_SECONDS = env.float("PLUMBLINE_AUDIT_HEARTBEAT_SECONDS", default=20.0)
AUDIT_LOST_AFTER = env.int("PLUMBLINE_AUDIT_LOST_AFTER", default=120)
# An unacknowledged task (its worker died) goes back to the queue after this
# long; longer than any audit may run, so a live audit is never run twice.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": AUDIT_TIME_LIMIT + 300}
CELERY_BEAT_SCHEDULE = {
    # Every minute: queue one audit for each project whose re-audit
    # interval has elapsed.
    "enqueue-due-audits": {
        "task": "projects.tasks.enqueue_due_audits",
        "schedule": 60.0,
    },
    # Every minute: fail audits whose worker stopped beating or that ran
    # past the time limit, without touching any finding.
    "sweep-stuck-audits": {
        "task": "audits.tasks.sweep_stuck_audits",
        "schedule": 60.0,
    },
}

# Notifications. Links in emails and webhook messages start with SITE_URL.
SITE_URL = env.str("PLUMBLINE_SITE_URL", default="http://127.0.0.1:8000")
DEFAULT_FROM_EMAIL = env.str(
    "DEFAULT_FROM_EMAIL", default="Plumbline <plumbline@localhost>"
)
# EMAIL_URL (smtp://user:password@host:587, smtp+tls://...) sends real mail;
# without it, messages go to the console, or to files in
# PLUMBLINE_EMAIL_FILE_PATH when that is set.
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
elif env.str("PLUMBLINE_EMAIL_FILE_PATH", default=""):
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = env.str("PLUMBLINE_EMAIL_FILE_PATH")
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
EMAIL_TIMEOUT = 10
# Webhooks may reach loopback and private addresses only when the operator
# allows it (a tenant could otherwise make the server call its own network).
WEBHOOK_ALLOW_PRIVATE = env.bool("PLUMBLINE_ALLOW_PRIVATE_WEBHOOKS", default=False)
# Seconds between a failed webhook attempt and the next: one attempt more
# than there are delays, then the delivery is failed.
WEBHOOK_RETRY_DELAYS = [
    int(s)
    for s in env.list("PLUMBLINE_WEBHOOK_RETRY_DELAYS", default=[10, 60, 300, 1800])
]

# The API's rate limit per token (or per signed-in user): requests per minute.
API_RATE_LIMIT = env.int("PLUMBLINE_API_RATE_LIMIT", default=600)
# With Redis, counters are shared by every web process; without, each
# process counts for itself (embedded mode runs one).
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
        }
    }

MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
SESSION_COOKIE_HTTPONLY = True
CSRF_FAILURE_VIEW = "projects.views.csrf_failure"
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
SECURE_CONTENT_TYPE_NOSNIFF = True
# Behind HTTPS (a TLS-terminating proxy), turn on secure cookies, the
# redirect to https and HSTS; off by default so the embedded mode works on
# plain http://127.0.0.1.
HTTPS = env.bool("PLUMBLINE_HTTPS", default=False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SECURE_SSL_REDIRECT = HTTPS
SECURE_HSTS_SECONDS = 60 * 60 * 24 * 365 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp): scripts, styles and images come from
# this site only; no inline script, no remote image, no plugin, no framing.
# The one inline style, the severity colours from the engine's levels,
# carries the request's nonce. Charts are inline SVG; "data:" images are
# the only other exception.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", CSP_NONCE],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

DJANGO_TABLES2_TEMPLATE = "findings/partials/table.html"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"one_line_403": {"()": "config.logs.OneLineForbidden"}},
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django.request": {"filters": ["one_line_403"]},
        # A line per login is noise; lock-outs still log as warnings.
        "axes": {"level": "WARNING"},
        # sqlglot warns of every statement it reads as a bare command (a
        # template, a dialect's own syntax), quoting the tenant's SQL; the
        # engine reports what it could not read in the audit's notes.
        "sqlglot": {"level": "ERROR"},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
