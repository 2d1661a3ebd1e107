"""Inloop settings: one module, configured from the environment (see README, "Configuration")."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import csp.constants as csp
import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from marketplace.env import env_bool, env_decimal, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "django-insecure-inloop-development-only-key-change-me-0123456789"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    # daphne first: its runserver then serves websockets too.
    "daphne",
    "marketplace.admin_apps.InloopAdminConfig",  # django.contrib.admin behind allauth + 2FA
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.humanize",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    "ninja",
    "django_tasks",
    "django_tasks_db",
    "marketplace",
    "experts",
    "billing",
    "oversight",
    "review_requests",
    "evidence",
    "datasets",
    "inloop_site",  # composition: the console, demo data, the scheduler (may import every app)
]

# Under ASGI Django runs a run of sync-capable middleware in one thread hop, but switches every
# middleware below a sync-only one to async mode, where each process_request/process_response
# is a thread hop of its own. SuspendedUserMiddleware is sync-only, so it comes last: the whole
# stack is one hop (a bare view went from about 3.0 to 2.5 ms of CPU, an async one 2.7 to 1.6).
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "marketplace.middleware.ApiGuardMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "marketplace.middleware.SuspendedUserMiddleware",
]

ROOT_URLCONF = "inloop_site.urls"
ASGI_APPLICATION = "inloop_site.asgi.application"
WSGI_APPLICATION = None

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
                "marketplace.context_processors.navigation",
            ],
            "builtins": ["marketplace.templatetags.inloop"],
        },
    }
]

# Database: SQLite by default (WAL + immediate transactions so web, worker and scheduler
# share one file); PostgreSQL with a connection pool when DATABASE_URL is set.
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    _db = dj_database_url.parse(DATABASE_URL, conn_max_age=0)
    if _db["ENGINE"] == "django.db.backends.postgresql":
        # Under ASGI persistent connections leak; psycopg's pool reuses them safely.
        _db.setdefault("OPTIONS", {})["pool"] = {
            "min_size": env_int("DB_POOL_MIN", 2, minimum=1),
            "max_size": env_int("DB_POOL_MAX", 20, minimum=1),
            "timeout": 10,
        }
        # JIT compilation pays off for long analytical queries, not for this OLTP work: it
        # started on the matching query once its estimated cost crossed jit_above_cost (large
        # fields at 100k experts) and spent 50-130 ms compiling a query that runs in 10 ms.
        if not env_bool("DB_JIT", False):
            _options = _db["OPTIONS"].get("options", "")
            _db["OPTIONS"]["options"] = f"{_options} -c jit=off".strip()
    DATABASES = {"default": _db}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env_str("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "marketplace.User"

# Redis: REDIS_URL names the server that many machines share. Without it, the processes of one
# machine share the Valkey that the Procfile starts (`valkey`: manage.py run_valkey) on
# VALKEY_PORT, so the default runs the production code path of the channel layer, only with
# Redis on this machine (README, "Live events across processes").
VALKEY_PORT = env_int("VALKEY_PORT", 6390, minimum=1)
EMBEDDED_VALKEY = not env_str("REDIS_URL")
REDIS_URL = env_str("REDIS_URL") or f"redis://127.0.0.1:{VALKEY_PORT}/0"
CHANNEL_LAYERS = {
    "default": {
        # channels_redis's pub/sub layer: one subscription per process delivers its sockets'
        # messages as they come (README, "Workspace benchmark").
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {
            "hosts": [REDIS_URL],
            # Several deployments (or test runs) can share one Redis under their own prefix.
            "prefix": env_str("REDIS_PREFIX", "inloop") + "-asgi",
        },
    }
}
if EMBEDDED_VALKEY:
    # The cache stays in the database on one machine: migrate, seed_demo and every other
    # manage.py command then work whether or not `make run` (and its Valkey) is up, and so does
    # the rate limit of each API call; a channel layer that is down loses live events only.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "inloop_cache",
        }
    }
else:
    CACHES = {
        "default": {
            # Django's Redis cache with one connection pool per process (marketplace/cache.py).
            "BACKEND": "marketplace.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("REDIS_PREFIX", "inloop"),
            "OPTIONS": {"pool_class": "marketplace.cache.SharedConnectionPool"},
        }
    }

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
# A worker beats every WORKER_LEASE_SECONDS / 4; a RUNNING task whose worker has not beaten for
# WORKER_LEASE_SECONDS goes back to the queue (marketplace/worker_lease.py), at most
# WORKER_MAX_ATTEMPTS claims in all (then it is failed, so a task that kills its worker stops).
WORKER_LEASE_SECONDS = env_int("WORKER_LEASE_SECONDS", 60, minimum=4)
WORKER_MAX_ATTEMPTS = env_int("WORKER_MAX_ATTEMPTS", 3, minimum=1)
# Dataset exports an organization may have queued or running at once (datasets.services).
EXPORTS_MAX_ACTIVE = env_int("EXPORTS_MAX_ACTIVE", 3, minimum=1)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]

# allauth: email login, mandatory verification, no enumeration, TOTP with recovery codes.
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_SIGNUP_FORM_CLASS = "marketplace.forms.SignupForm"
ACCOUNT_ADAPTER = "marketplace.adapters.AccountAdapter"
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Inloop] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "http" if DEBUG else "https"
ACCOUNT_RATE_LIMITS = {
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/m/ip",
    "reset_password": "20/m/ip,5/m/key",
    "confirm_email": "1/3m/key",
}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Inloop"
LOGIN_REDIRECT_URL = "/dashboard/"
LOGIN_URL = "/accounts/login/"

# Email: EMAIL_URL (smtp://user:pass@host:587?tls=1) or the console backend.
EMAIL_URL = env_str("EMAIL_URL")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Inloop <no-reply@inloop.local>")
if EMAIL_URL:
    _mail = urlparse(EMAIL_URL)
    if _mail.scheme not in {"smtp", "smtps"}:
        raise ImproperlyConfigured("EMAIL_URL must start with smtp:// or smtps://")
    _mail_query = parse_qs(_mail.query)
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = _mail.hostname or "localhost"
    EMAIL_PORT = _mail.port or (465 if _mail.scheme == "smtps" else 587)
    EMAIL_HOST_USER = unquote(_mail.username or "")
    EMAIL_HOST_PASSWORD = unquote(_mail.password or "")
    EMAIL_USE_SSL = _mail.scheme == "smtps"
    EMAIL_USE_TLS = not EMAIL_USE_SSL and _mail_query.get("tls", ["1"])[0] != "0"
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media")))
# Credential documents are private: never served by URL, only through a checked view.
MEDIA_URL = "/media-private/"

# Bodies: the API answers 413 over 1 MiB; credential uploads allow 5 MB.
API_MAX_BODY_BYTES = 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 6 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 6 * 1024 * 1024

# Security: strict in production, relaxed only where DEBUG needs it.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True

# Content-Security-Policy on every response (django-csp): scripts, styles, fonts and frames only
# from this origin, no inline script or style anywhere (tests/e2e/test_csp_e2e.py loads every
# page of every role and fails on any violation). img-src allows data: URIs for Pico's form
# icons (CSS backgrounds) and allauth's TOTP QR code. connect-src 'self' covers the same-origin
# ws:/wss: sockets (CSP Level 3). Stripe.js is allowed on the one page that loads it
# (billing.views.funding_detail, `csp_update`). form-action 'self' would also stop a form whose
# redirect leaves the site (a social login provider): add the provider there if one is enabled.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp.SELF],
        "script-src": [csp.SELF],
        "style-src": [csp.SELF],
        "img-src": [csp.SELF, "data:"],
        "font-src": [csp.SELF],
        "connect-src": [csp.SELF],
        "frame-src": [csp.NONE],
        "object-src": [csp.NONE],
        "base-uri": [csp.NONE],
        "form-action": [csp.SELF],
        "frame-ancestors": [csp.NONE],
    }
}

# Stripe: unset keys mean "Stripe not configured", shown as such, never faked.
STRIPE_SECRET_KEY = env_str("STRIPE_SECRET_KEY")
STRIPE_PUBLISHABLE_KEY = env_str("STRIPE_PUBLISHABLE_KEY")
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET")
STRIPE_API_BASE = env_str("STRIPE_API_BASE")
STRIPE_API_VERSION = env_str("STRIPE_API_VERSION", "2025-09-30.clover")

# Marketplace rules.
PLATFORM_FEE_PERCENT = env_decimal("PLATFORM_FEE_PERCENT", "20")
DISPUTE_WINDOW_HOURS = env_int("DISPUTE_WINDOW_HOURS", 72, minimum=0)
PAYOUT_MINIMUM_CENTS = env_int("PAYOUT_MINIMUM_CENTS", 2000, minimum=0)
# Oversight evidence is kept this long (at least 183 days: evidence.checks refuses less).
EVIDENCE_RETENTION_DAYS = env_int("EVIDENCE_RETENTION_DAYS", 183)
OFFER_FANOUT = env_int("OFFER_FANOUT", 3, minimum=1)
OFFER_EXPIRY_MINUTES = env_int("OFFER_EXPIRY_MINUTES", 15, minimum=1)
# Proven experts (issue #20): below this share of golden items right (in percent), over at least
# GOLDEN_MIN_SAMPLE of them, an expert stops getting offers in that specialization until they
# pass its qualification test again.
GOLDEN_ACCURACY_FLOOR_PERCENT = env_int("GOLDEN_ACCURACY_FLOOR_PERCENT", 70, minimum=0)
GOLDEN_MIN_SAMPLE = env_int("GOLDEN_MIN_SAMPLE", 5, minimum=1)
# A live golden item whose offer expires or is declined goes to another eligible expert, up to
# this many offers in all; then (or with nobody eligible) it is withdrawn, unpaid.
GOLDEN_LIVE_OFFERS_MAX = env_int("GOLDEN_LIVE_OFFERS_MAX", 3, minimum=1)
API_RATE_LIMIT_PER_MINUTE = env_int("API_RATE_LIMIT_PER_MINUTE", 600, minimum=1)
DISPUTE_APPROVAL_THRESHOLD_CENTS = env_int("DISPUTE_APPROVAL_THRESHOLD_CENTS", 100_000, minimum=0)
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1)
# Proxies of ours in front of the app that append to X-Forwarded-For (marketplace/clientip.py);
# 0 ignores the header, which anyone can send.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "apscheduler": {"level": "WARNING"},
    },
}
