"""Settings for the installment-plan product, read from the environment.

Every variable is listed in `.env.example`. Defaults are safe for development:
with no DATABASE_URL a SQLite file is used, with no REDIS_URL Celery tasks run
in-process (the log says so once at start-up).
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
# A secret key is only optional in development; production must set one.
if DEBUG:
    SECRET_KEY = env("SECRET_KEY", default="dev-only-insecure-key-change-me")
else:
    SECRET_KEY = env("SECRET_KEY")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
# Django's debug pages (traceback, settings, every URL) are for the developer's own machine: with DEBUG
# on, the site answers only to local names, and config.debug_pages.LocalDebugPagesMiddleware shows those
# pages only to loopback or INTERNAL_IPS clients that came through no proxy (others get the error pages).
INTERNAL_IPS = env.list("INTERNAL_IPS", default=["127.0.0.1", "::1"])
if DEBUG and not set(ALLOWED_HOSTS) <= {"127.0.0.1", "localhost", "::1", "[::1]", "testserver"}:
    raise environ.ImproperlyConfigured(
        f"DEBUG=1 is for a developer's machine, but ALLOWED_HOSTS names {ALLOWED_HOSTS}: unset ALLOWED_HOSTS "
        "(127.0.0.1 and localhost) or set DEBUG=0.")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "knox",  # expiring, revocable API tokens, stored hashed (customers.backends)
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "customers",
    "scoring",
    "installments",
    "collections_app",
    "portal",
]

MIDDLEWARE = [
    # With DEBUG on, Django's technical error pages only for the developer's own machine.
    "config.debug_pages.LocalDebugPagesMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Marks request.user verified when the session holds a confirmed OTP device (django-otp).
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Staff sessions end with the browser; TWO_FACTOR_ROLES must pass the TOTP step first.
    "config.middleware.StaffSessionMiddleware",
    "customers.two_factor.RequireTwoFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.middleware.ContentSecurityPolicyMiddleware",
    # Axes must be last: it inspects the response of the login views.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "customers.context_processors.roles",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # The embedded default serves a small team (`make run`): concurrent writes queue for the lock instead
    # of failing with "database is locked". IMMEDIATE transactions take the write lock at BEGIN and wait
    # up to `timeout` seconds for it (a DEFERRED one that read first, as select_for_update does on SQLite,
    # is refused at once when another connection writes); WAL lets readers go on while one connection
    # writes; synchronous=NORMAL is safe with WAL. Proof: tests/hardening/test_sqlite.py.
    DATABASES["default"].setdefault("OPTIONS", {}).update({
        "transaction_mode": "IMMEDIATE",
        "timeout": env.int("SQLITE_TIMEOUT", default=20),
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
    })
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -----------------------------------------------------------------------
AUTH_USER_MODEL = "customers.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # ModelBackend that reads the user's roles with the user (one query per request).
    "customers.backends.ModelBackendWithRoles",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

# Login throttling: lock a user name + address pair after repeated failures.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.25)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Our login form posts the e-mail in the field Django calls "username".
AXES_USERNAME_FORM_FIELD = "username"
# Failures count under the normalised e-mail (lower-cased, stripped), as sign-in matches it.
AXES_USERNAME_CALLABLE = "customers.backends.axes_username"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

# Password-reset mails an hour, per address and per client (customers.forms.ThrottledPasswordResetForm).
PASSWORD_RESET_PER_EMAIL = env.int("PASSWORD_RESET_PER_EMAIL", default=3)
PASSWORD_RESET_PER_IP = env.int("PASSWORD_RESET_PER_IP", default=10)

SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=60 * 60 * 8)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# Staff sessions also end when the browser closes (config.middleware.StaffSessionMiddleware);
# customers keep SESSION_COOKIE_AGE. Both expire on the server after SESSION_COOKIE_AGE.
STAFF_SESSION_EXPIRE_AT_BROWSER_CLOSE = env.bool("STAFF_SESSION_EXPIRE_AT_BROWSER_CLOSE", default=True)
# The CSRF token reaches htmx through the page (base.html), never through JavaScript reading the cookie.
CSRF_COOKIE_HTTPONLY = True

# Two-factor authentication (TOTP, django-otp) for these roles: every page but login, logout,
# the 2FA pages, static files, i18n and /healthz needs a verified session (customers.two_factor).
TWO_FACTOR_ROLES = env.list("TWO_FACTOR_ROLES", default=["loan_officer", "approver", "collector", "manager", "accountant", "admin"])
# Staff enrol their first authenticator only with a one-time enrolment link from an administrator
# (or their existing factor): the link's lifetime, and how long the session that opened it may enrol.
TWO_FACTOR_ENROLMENT_LINK_TTL = env.int("TWO_FACTOR_ENROLMENT_LINK_TTL", default=24 * 60 * 60)
TWO_FACTOR_ENROLMENT_GRANT_TTL = env.int("TWO_FACTOR_ENROLMENT_GRANT_TTL", default=30 * 60)
OTP_TOTP_ISSUER = env("OTP_TOTP_ISSUER", default="Fair Installments")
# Failed TOTP codes lock a device for 1, 2, 4, ... seconds (django-otp's throttling).
OTP_TOTP_THROTTLE_FACTOR = 1

# --- i18n -----------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env("TIME_ZONE", default="Asia/Shanghai")
USE_I18N = True
USE_TZ = True

# --- Static and media -----------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env(
            "STATICFILES_STORAGE",
            default="whitenoise.storage.CompressedManifestStaticFilesStorage"
            if not DEBUG
            else "django.contrib.staticfiles.storage.StaticFilesStorage",
        )
    },
}
# Uploaded customer documents: never served by URL, only through permission-checked views.
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(BASE_DIR / "media")))
DOCUMENT_MAX_BYTES = env.int("DOCUMENT_MAX_BYTES", default=10 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 15 * 1024 * 1024

# --- PII protection -------------------------------------------------------------
# Fernet key(s) for PII at rest; the first encrypts, all decrypt (rotation).
# The development default is derived from SECRET_KEY so a fresh clone works.
PII_ENCRYPTION_KEYS = env.list("PII_ENCRYPTION_KEYS", default=[])
PII_HASH_KEY = env("PII_HASH_KEY", default="")

# --- E-mail -----------------------------------------------------------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Installments <no-reply@example.com>")

# --- Redis, cache, Celery ---------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    # Bounded waits, failing soft (config/cache.py): with Redis down or hung, the pages, the quote API
    # and its throttle work without the cache (one short timeout every few seconds, then none).
    CACHES = {"default": {"BACKEND": "config.cache.FailSoftRedisCache", "LOCATION": REDIS_URL,
                          "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.5}}}
    # Sessions: the database is the record, Redis saves the read (config/session_store.py).
    SESSION_ENGINE = "config.session_store"
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or "cache+memory://"
# Without a broker the tasks run in-process so a newcomer sees everything work.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "scoring.tasks.*": {"queue": "scoring"},
    "collections_app.tasks.send_*": {"queue": "notifications"},
    "collections_app.tasks.*": {"queue": "batch"},
    "installments.tasks.send_*": {"queue": "notifications"},
    "installments.tasks.*": {"queue": "batch"},
    "customers.tasks.*": {"queue": "default"},
}
CELERY_TASK_QUEUES_ALL = ["default", "scoring", "notifications", "batch"]
# Task modules besides each app's tasks.py (found by autodiscovery).
CELERY_IMPORTS = ("installments.assessment.tasks",)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis down must not hold a request: work is queued through the outbox (customers/outbox.py), which
# publishes once after commit with these bounds and leaves what fails to its dispatcher.
CELERY_BROKER_CONNECTION_TIMEOUT = 0.5
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = 0.5
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {
    "retry_policy": {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}}
# A message whose worker died holding it (acks_late, reject_on_worker_lost) goes back to its queue
# after the visibility timeout: longer than the longest task, short enough to redo it within minutes.
# Workers look for such messages every `unacked_restore_interval` x 3 seconds (30 s by default).
TASK_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT", default=300)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": TASK_VISIBILITY_TIMEOUT,
    "unacked_restore_interval": max(1, min(10, TASK_VISIBILITY_TIMEOUT // 30)), "unacked_restore_throttle": 3,
    "socket_connect_timeout": 0.5, "socket_timeout": 0.5,
    "max_retries": 0,  # a producer connects once (kombu's failover options); the worker reconnects on its own
}
CELERY_RESULT_EXPIRES = 3600
# The outbox (customers/outbox.py): a row published but not done is published again after this many
# seconds (doubling each time), at most OUTBOX_MAX_ATTEMPTS times; done rows are kept OUTBOX_KEEP_DAYS.
OUTBOX_RESEND_AFTER = env.int("OUTBOX_RESEND_AFTER", default=240)
OUTBOX_MAX_ATTEMPTS = env.int("OUTBOX_MAX_ATTEMPTS", default=10)
OUTBOX_KEEP_DAYS = env.int("OUTBOX_KEEP_DAYS", default=7)

# --- Product ----------------------------------------------------------------------
LENDER_NAME = env("LENDER_NAME", default="Fair Installments")
# The public address of the site: links in e-mails and SMS point here.
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000")  # where `make run` serves
# Legal APR cap (percent) for quotes without a product; products carry their own cap.
INSTALLMENTS_LEGAL_MAX_APR = env("INSTALLMENTS_LEGAL_MAX_APR", default="24")
# Offers (installments/engine/offers.py, final_payment_limit): a plan whose final payment is above its
# regular installments and above this share x (savings + one month's surplus: income - expenses -
# existing debt payments) is never labelled "best match" or "cheapest". A fraction above 0; 0.5 = half.
OFFERS_MAX_FINAL_PAYMENT_SHARE = env("OFFERS_MAX_FINAL_PAYMENT_SHARE", default="0.5")
# Customers pay only through this provider adapter (collections_app.servicing.providers documents the interface);
# the default simulator is "test mode": no real money moves.
PAYMENT_PROVIDER = env("PAYMENT_PROVIDER", default="collections_app.servicing.providers.SimulatedPaymentProvider")
# Shared secret of the provider's signed callbacks (X-Signature: HMAC-SHA256 of the body). Unset in
# production, a key derived from SECRET_KEY is used, so callbacks fail to verify until it is set.
PAYMENT_PROVIDER_SECRET = env("PAYMENT_PROVIDER_SECRET", default="dev-only-payment-callback-secret" if DEBUG else "")
# Customer messages (reminders, application notices): one backend per channel.
COLLECTIONS_EMAIL_BACKEND = env("COLLECTIONS_EMAIL_BACKEND", default="customers.notifications.DjangoEmailBackend")
COLLECTIONS_SMS_BACKEND = env("COLLECTIONS_SMS_BACKEND", default="customers.notifications.ConsoleSmsBackend")
COLLECTIONS_SMS_URL = env("COLLECTIONS_SMS_URL", default="")
COLLECTIONS_SMS_SENDER = env("COLLECTIONS_SMS_SENDER", default="")
COLLECTIONS_SMS_TOKEN = env("COLLECTIONS_SMS_TOKEN", default="")
# No reminders in these local hours (deferred to their end); empty for none.
COLLECTIONS_QUIET_HOURS = env("COLLECTIONS_QUIET_HOURS", default="21:00-08:00")
# A customer who has not applied again this many days after payoff counts as churned.
DASHBOARD_CHURN_DAYS = env.int("DASHBOARD_CHURN_DAYS", default=90)
# Anomaly flag thresholds (scoring/anomalies.py has the defaults); set only to change them.
for _name, _cast in (("SCORING_ANOMALY_BURST_COUNT", int), ("SCORING_ANOMALY_BURST_WINDOW_HOURS", float),
                     ("SCORING_ANOMALY_INCOME_MIN_PEERS", int), ("SCORING_ANOMALY_INCOME_MULTIPLE", float),
                     ("SCORING_ANOMALY_INCOME_ROBUST_Z", float), ("SCORING_ANOMALY_INFLOW_MULTIPLE", float)):
    if env.str(_name, default=""):
        vars()[_name] = _cast(env.str(_name))

# Credit policy of scoring (scoring/registry.py). The portfolio's expected bad rate (ever 30+ days past due
# within 12 months): a model trained on another population is prior-corrected to it, so its PD is ours.
SCORING_PORTFOLIO_BAD_RATE = env.float("SCORING_PORTFOLIO_BAD_RATE", default=0.08)
# The PD master scale: the highest PD of grades A to F (G is above), the same for every model version.
SCORING_MASTER_SCALE = tuple(env.list("SCORING_MASTER_SCALE", cast=float,
                                      default=[0.03, 0.06, 0.10, 0.15, 0.22, 0.30]))
# Characteristics the credit policy requires: the wizard asks for them and a missing value scores the
# model's missing points. Every other characteristic is optional and a missing value scores neutral (WOE 0).
SCORING_REQUIRED_CHARACTERISTICS = tuple(env.list("SCORING_REQUIRED_CHARACTERISTICS", default=[
    "age", "employment_type", "housing", "marital_status", "education", "monthly_income", "monthly_expenses",
    "payment_to_income", "requested_amount", "term_months", "purpose"]))

# --- API --------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Session authentication, answering 401 with a Token challenge when a token was refused.
        "customers.backends.SessionAuthenticationWithTokenChallenge",
        "customers.backends.TokenAuthenticationWithRoles",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
        "rest_framework.filters.SearchFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 25,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("THROTTLE_ANON", default="120/min"),
        "user": env("THROTTLE_USER", default="600/min"),
        "quotes": env("THROTTLE_QUOTES", default="60/min"),
    },
}
# API tokens (django-rest-knox, customers.backends): stored hashed, expire after API_TOKEN_TTL seconds,
# revoked on logout, sign out everywhere, a password or role change and a two-factor reset.
REST_KNOX = {
    "TOKEN_TTL": timedelta(seconds=env.int("API_TOKEN_TTL", default=10 * 60 * 60)),
    "AUTH_HEADER_PREFIX": "Token",
    "AUTO_REFRESH": False,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Installments API",
    "DESCRIPTION": "Personalised installment plans: quotes, offers, applications, servicing.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have a `kind` field with their own choices; name each enum after its model.
    "ENUM_NAME_OVERRIDES": {
        "DebtKindEnum": "customers.models.DebtKind",
        "AssetKindEnum": "customers.models.AssetKind",
        "DocumentKindEnum": "customers.models.DocumentKind",
        "PlanMethodEnum": "installments.models.METHOD_CHOICES",
        "PlanStateEnum": "installments.models.Plan.State",
        "ServicingRequestKindEnum": "collections_app.models.ServicingRequest.Kind",
    },
}

# --- Security ---------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# --- Logging ----------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"mask_pii": {"()": "customers.logging.MaskPIIFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["mask_pii"]}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Product ----------------------------------------------------------------------
DEFAULT_CURRENCY = env("DEFAULT_CURRENCY", default="CNY")
