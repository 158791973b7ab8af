"""Settings for the AR ledger, read from the environment (12-factor).

Every value has a safe development default, so a fresh checkout runs with no
configuration: an SQLite file under ``var/``. ``DATABASE_URL`` switches to
PostgreSQL.
"""

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env(
    DEBUG=(bool, True),
    SECRET_KEY=(str, "dev-only-insecure-key-change-me-in-production-0123456789"),
    ALLOWED_HOSTS=(list, ["localhost", "127.0.0.1", "[::1]", "testserver"]),
    CSRF_TRUSTED_ORIGINS=(list, []),
    PAYMENT_GATEWAY=(str, "billing.gateways.SandboxGateway"),
    SECURE_COOKIES=(bool, False),
    SECURE_SSL_REDIRECT=(bool, False),
    SECURE_HSTS_SECONDS=(int, 0),
    SECURE_PROXY_SSL_HEADER=(bool, False),
    TIME_ZONE=(str, "UTC"),
    LOG_LEVEL=(str, "INFO"),
    SENTRY_DSN=(str, ""),
    SENTRY_ENVIRONMENT=(str, ""),
)
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env("DEBUG")
SECRET_KEY = env("SECRET_KEY")
ALLOWED_HOSTS = env("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "axes",
    "billing",
    "panelkit",
    "reseller_panel",
    "classic_panel",
    "ninja",
    "api",
]

MIDDLEWARE = [
    # First, so every response and every log line carries the request id.
    "config.request_id.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, so it sees the outcome of every sign-in attempt.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # Django's model backend, loading the user with its reseller account.
    "reseller_panel.backends.MembershipBackend",
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
            # {% url %} and |date keeping what they made (every template).
            "builtins": [
                "panelkit.templatetags.kept_urls",
                "panelkit.templatetags.kept_dates",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

# SQLite: WAL lets readers run beside the single writer, and IMMEDIATE
# transactions take the write lock at BEGIN, so ledger writes serialize
# instead of failing half-way with "database is locked".
SQLITE_OPTIONS = {
    "transaction_mode": "IMMEDIATE",
    "timeout": 30,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}
SILENCED_SYSTEM_CHECKS: list[str] = []
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(SQLITE_OPTIONS)
    # A file, not shared-cache memory: the race tests need real SQLite locking.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
    # The open-documents index carries its listed columns for PostgreSQL
    # (INCLUDE); SQLite indexes the key columns alone, which is all it needs.
    SILENCED_SYSTEM_CHECKS.append("models.W040")
else:
    # Django's PostgreSQL backend, its connection health check without a
    # round trip while the server has said nothing (config/postgresql).
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        DATABASES["default"]["ENGINE"] = "config.postgresql"
    DATABASES["default"].setdefault("CONN_MAX_AGE", 60)
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
    # Parameters bound on the server, and each statement prepared on its second
    # run: the ledger sends a few statement shapes many times, and a prepared
    # one skips parsing and planning. Behind a transaction-pooling proxy
    # (PgBouncer < 1.21) set prepare_threshold to None.
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault("server_side_binding", True)
    DATABASES["default"]["OPTIONS"].setdefault("prepare_threshold", 2)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

_VALIDATORS = "django.contrib.auth.password_validation"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"{_VALIDATORS}.UserAttributeSimilarityValidator"},
    {"NAME": f"{_VALIDATORS}.MinimumLengthValidator"},
    {"NAME": f"{_VALIDATORS}.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env("TIME_ZONE")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Parts of a page that depend on nothing but the language and the page (the
# reseller panel's navigation, the language menu) are rendered once per
# process and kept here ({% cache … using="template_fragments" %}); a
# deployment changes them, and restarts the processes.
#
# The default cache is Django's (CACHE_URL); the product keeps nothing there.
# API requests are counted in the database (api/auth.py), which every server
# process shares.
CACHES = {
    "default": env.cache_url("CACHE_URL", default="locmemcache://"),
    "template_fragments": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "template-fragments",
        "TIMEOUT": None,
    },
}

# Sessions in the database (see config.sessions: its read is written out).
SESSION_ENGINE = "config.sessions"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env("SECURE_COOKIES")
CSRF_COOKIE_SECURE = env("SECURE_COOKIES")
LANGUAGE_COOKIE_SECURE = env("SECURE_COOKIES")
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_HTTPONLY = True
CSRF_FAILURE_VIEW = "config.errors.csrf_failure"
X_FRAME_OPTIONS = "DENY"

# No inline script or style anywhere: the pages only load their own assets.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# Sign-in throttling: five failures lock that username from that address for
# a quarter of an hour; a successful sign-in resets the count.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# The client's address: behind the trusted TLS proxy (SECURE_PROXY_SSL_HEADER)
# the one that proxy appended to X-Forwarded-For, else the connection's.
AXES_CLIENT_IP_CALLABLE = "config.client_ip.client_ip_address"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Served over HTTPS: redirect plain HTTP, and tell browsers to keep to HTTPS
# for SECURE_HSTS_SECONDS. Behind a TLS-terminating proxy that sets
# X-Forwarded-Proto (and strips it from clients), trust that header.
SECURE_SSL_REDIRECT = env("SECURE_SSL_REDIRECT")
SECURE_HSTS_SECONDS = env("SECURE_HSTS_SECONDS")
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
if env("SECURE_PROXY_SSL_HEADER"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# A load balancer may ask for the health check over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^health/$"]

# The payment gateway used to charge cards: a dotted path to a class that
# implements billing.gateways.PaymentGateway. The sandbox is the default.
PAYMENT_GATEWAY = env("PAYMENT_GATEWAY")

# What ``manage.py seed_demo`` adds besides the ledger's own demo data.
DEMO_EXTRAS = ["api.demo.seed_demo_api_key"]

# The reseller API: requests allowed per API key in each window of seconds,
# counted in the default cache (use a shared cache, e.g. Redis, when several
# processes serve the API).
API_RATE_LIMIT = env.int("API_RATE_LIMIT", default=120)
API_RATE_WINDOW = env.int("API_RATE_WINDOW", default=60)

# One JSON object a line on standard error, for every logger (Django's
# request errors with their tracebacks included), each with the request id
# and with card numbers and secrets redacted. SQL statements are not logged
# below INFO unless a developer lowers the "django" logger's level.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "config.logs.RequestIdFilter"},
        "redact": {"()": "config.logs.RedactSecrets"},
    },
    "formatters": {"json": {"()": "config.logs.JsonFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["request_id", "redact"],
            "level": env("LOG_LEVEL"),
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL")},
    "loggers": {
        # Replaces Django's own handlers (a console for DEBUG only, mail to
        # ADMINS): its records reach the root handler above.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
    },
}

# Error reports to Sentry, only when SENTRY_DSN is set.
SENTRY_DSN = env("SENTRY_DSN")
if SENTRY_DSN:
    from config.sentry import init_sentry

    init_sentry(SENTRY_DSN, environment=env("SENTRY_ENVIRONMENT") or None)
