"""Django settings for TNR Observatory.

Every value is read from the environment (see README "Settings"). With ``TNR_ENV=development``
(the default) the project runs on an embedded SQLite database with a throw-away secret key;
that default refuses to start with ``DEBUG=False`` so it can never reach production by
accident. Production (``TNR_ENV=production``) requires every secret to be given explicitly.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlparse

from django.core.exceptions import ImproperlyConfigured

from tnr.core.env import env_bool, env_int, env_list, env_secret, env_str

BASE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BASE_DIR.parent.parent
VAR_DIR = Path(env_str("TNR_VAR_DIR", str(PROJECT_DIR / "var")))

TNR_ENV = env_str("TNR_ENV", "development")
if TNR_ENV not in {"development", "production", "test"}:
    raise ImproperlyConfigured(f"TNR_ENV={TNR_ENV!r} must be development, production or test")

DEBUG = env_bool("TNR_DEBUG", TNR_ENV == "development")

if TNR_ENV == "production":
    SECRET_KEY = env_secret("TNR_SECRET_KEY")
    if DEBUG:
        raise ImproperlyConfigured("TNR_DEBUG must be off in production")
else:
    # A fixed, public development key: fine on a laptop, worthless anywhere else, which is why
    # this branch refuses to run with DEBUG off (the mark of a real deployment).
    SECRET_KEY = env_secret("TNR_SECRET_KEY", "development-only-insecure-key-do-not-deploy")
    if not DEBUG and TNR_ENV == "development":
        raise ImproperlyConfigured(
            "TNR_ENV=development with TNR_DEBUG off: set TNR_ENV=production and give "
            "TNR_SECRET_KEY (or TNR_SECRET_KEY_FILE) and TNR_DATABASE_URL for a deployment"
        )

ALLOWED_HOSTS = env_list("TNR_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "tnr.core",
    "tnr.accounts",
    "tnr.taxonomy",
    "tnr.records",
    "tnr.exchange",
    "tnr.cases",
    "tnr.reporting",
    "tnr.analytics",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Second factor required for every staff view; idle/absolute expiry; removal ends sessions.
    "tnr.accounts.middleware.StaffAccessMiddleware",
    # Sets and clears the cookie holding the session's key to the unlocked organisation keys.
    "tnr.accounts.keys.KeyCookieMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "tnr.core.middleware.SecurityHeadersMiddleware",
]

ROOT_URLCONF = "tnr.urls"
WSGI_APPLICATION = "tnr.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tnr.core.context_processors.site",
            ],
        },
    }
]


def _database_from_url(url: str) -> dict[str, object]:
    parsed = urlparse(url)
    if parsed.scheme in {"sqlite", "sqlite3"}:
        path = unquote(parsed.path)
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": path or ":memory:"}
    if parsed.scheme in {"postgres", "postgresql"}:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parsed.path.lstrip("/")),
            "USER": unquote(parsed.username or ""),
            "PASSWORD": unquote(parsed.password or ""),
            "HOST": parsed.hostname or "",
            "PORT": str(parsed.port or ""),
            "CONN_MAX_AGE": 60,
        }
    raise ImproperlyConfigured(
        f"TNR_DATABASE_URL scheme {parsed.scheme!r} is not supported (use sqlite:/// or postgresql://)"
    )


if TNR_ENV == "production":
    DATABASES = {"default": _database_from_url(env_secret("TNR_DATABASE_URL"))}
else:
    DATABASES = {
        "default": _database_from_url(
            env_secret("TNR_DATABASE_URL", f"sqlite:///{VAR_DIR / 'tnr.sqlite3'}")
        )
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    if DATABASES["default"]["NAME"] != ":memory:":
        Path(str(DATABASES["default"]["NAME"])).parent.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets the web server read while an import writes; IMMEDIATE avoids lock upgrades.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
        "transaction_mode": "IMMEDIATE",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Argon2id first; the others only verify (and then upgrade) hashes made before.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_ROOT = VAR_DIR / "media"

LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "records:incident-list"
LOGOUT_REDIRECT_URL = "accounts:login"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Strict"
SESSION_COOKIE_AGE = env_int("TNR_SESSION_SECONDS", 8 * 3600, minimum=60)
# Signed out after this long without a request (tnr.accounts.sessions).
TNR_SESSION_IDLE_SECONDS = env_int("TNR_SESSION_IDLE_SECONDS", 30 * 60, minimum=60)
# Name shown in the authenticator app; a neutral one may be safer for staff crossing borders.
TNR_TOTP_ISSUER = env_str("TNR_TOTP_ISSUER", "TNR Observatory")
# Argon2id cost of the key that wraps each member's private key (docs/keys.md): every sign-in
# and password change pays it once. Default: 3 passes over 128 MiB (tnr.core.sealing.PRODUCTION_KDF).
TNR_KDF_OPSLIMIT = env_int("TNR_KDF_OPSLIMIT", 3, minimum=1)
TNR_KDF_MEMLIMIT = env_int("TNR_KDF_MEMLIMIT", 128 * 1024 * 1024, minimum=8192)
if TNR_ENV == "production" and (TNR_KDF_OPSLIMIT < 2 or TNR_KDF_MEMLIMIT < 64 * 1024 * 1024):
    raise ImproperlyConfigured(
        "TNR_KDF_OPSLIMIT/TNR_KDF_MEMLIMIT below 2 passes / 64 MiB are too weak for production"
    )
# The account lockout in tnr.accounts.lockout replaces django-otp's per-device back-off, whose
# growing delays would reject a correct code typed too soon after a wrong one.
OTP_TOTP_THROTTLE_FACTOR = 0
OTP_STATIC_THROTTLE_FACTOR = 0
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Strict"
SECURE_CONTENT_TYPE_NOSNIFF = True
# same-origin, not no-referrer: Chromium sends "Origin: null" on form posts under no-referrer,
# which Django's CSRF check rightly refuses. Other hosts still get no referrer.
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("TNR_SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURE_HSTS_SECONDS = env_int("TNR_HSTS_SECONDS", 31536000, minimum=0)

# Uploads: imports stream from a temporary file; anything larger is refused with a message.
TNR_MAX_IMPORT_BYTES = env_int("TNR_MAX_IMPORT_BYTES", 200 * 1024 * 1024, minimum=1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    # django.server logs request lines including client addresses; keep it quiet.
    "loggers": {
        "django.server": {"handlers": [], "level": "ERROR", "propagate": False},
        "tnr": {"handlers": ["console"], "level": env_str("TNR_LOG_LEVEL", "INFO")},
    },
}

TNR_DEMO = env_bool("TNR_DEMO", False)

# --- Reporter zone (tnr.reporting; README "Reporter zone") -----------------------------------
# One code base, two kinds of process: TNR_ZONE=staff (default) serves the staff zone;
# TNR_ZONE=reporter serves only the anonymous reporter zone, with its own URLconf and
# middleware: no session, no authentication, no CSRF cookie, no shared cookie of any kind.
TNR_ZONE = env_str("TNR_ZONE", "staff")
if TNR_ZONE not in {"staff", "reporter"}:
    raise ImproperlyConfigured(f"TNR_ZONE={TNR_ZONE!r} must be staff or reporter")
REPORTER_MIDDLEWARE = [
    # Headers (CSP, HSTS, no referrer, no caching) and refusal of cross-site form posts.
    "tnr.reporting.middleware.ReporterZoneMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
REPORTER_URLCONF = "tnr.reporting.urls"
if TNR_ZONE == "reporter":
    ROOT_URLCONF = REPORTER_URLCONF
    MIDDLEWARE = REPORTER_MIDDLEWARE
    # The admin app stays installed (its models are shared) but is not routed in this process,
    # so its demand for session and authentication middleware does not apply.
    SILENCED_SYSTEM_CHECKS = ["admin.E408", "admin.E409", "admin.E410"]
# Languages of the reporter zone, chosen by the person (URL prefix), never guessed from an
# address. docs/translations.md says which catalogues a native speaker has reviewed.
LANGUAGES = [
    ("en", "English"),
    ("ar", "العربية"),
    ("fa", "فارسی"),
    ("ru", "Русский"),
    ("tr", "Türkçe"),
    ("zh-hans", "简体中文"),
    ("ug", "ئۇيغۇرچە"),
]
# Salt source for the receipt derivation (tnr.reporting.receipts). Kept out of the database so
# a stolen copy does not allow offline guessing. Never change it on a running installation:
# every receipt issued before would stop working.
if TNR_ENV == "production":
    TNR_RECEIPT_PEPPER = env_secret("TNR_RECEIPT_PEPPER")
else:
    TNR_RECEIPT_PEPPER = env_secret("TNR_RECEIPT_PEPPER", "development-only-receipt-pepper")
# Argon2id cost of one receipt derivation (one per submission and per receipt sign-in).
TNR_RECEIPT_KDF_OPSLIMIT = env_int("TNR_RECEIPT_KDF_OPSLIMIT", TNR_KDF_OPSLIMIT, minimum=1)
TNR_RECEIPT_KDF_MEMLIMIT = env_int("TNR_RECEIPT_KDF_MEMLIMIT", TNR_KDF_MEMLIMIT, minimum=8192)
# How many receipt derivations one process runs at once (each holds TNR_RECEIPT_KDF_MEMLIMIT).
# Default: one per core; `tnr serve-reporter` divides the cores among its workers.
TNR_RECEIPT_KDF_SLOTS = env_int("TNR_RECEIPT_KDF_SLOTS", max(1, os.cpu_count() or 1), minimum=1)
# Wrong receipts allowed per hour across the whole installation (not per address: reporters
# share Tor exits, and attackers do not have one address). Beyond it, receipt sign-in pauses.
TNR_RECEIPT_FAILURES_PER_HOUR = env_int("TNR_RECEIPT_FAILURES_PER_HOUR", 300, minimum=1)
# A reporter's follow-up session: idle minutes before the receipt is asked for again.
TNR_REPORTER_IDLE_SECONDS = env_int("TNR_REPORTER_IDLE_SECONDS", 20 * 60, minimum=60)
TNR_REPORT_MAX_FILE_BYTES = env_int("TNR_REPORT_MAX_FILE_BYTES", 10 * 1024 * 1024, minimum=1024)
TNR_REPORT_MAX_FILES = env_int("TNR_REPORT_MAX_FILES", 5, minimum=0)
# Longest narrative or message, in bytes of UTF-8 (1 MB of emoji is about 260,000 of them).
TNR_REPORT_MAX_TEXT_BYTES = env_int("TNR_REPORT_MAX_TEXT_BYTES", 2 * 1024 * 1024, minimum=1024)
# Where the quick-exit control leads: somewhere ordinary to be seen reading.
TNR_QUICK_EXIT_URL = env_str("TNR_QUICK_EXIT_URL", "https://www.wikipedia.org/")
# Multi-step forms carry earlier answers in the page itself (never on the server), so a
# report's pages post more than the staff forms do.
DATA_UPLOAD_MAX_MEMORY_SIZE = 8 * 1024 * 1024
