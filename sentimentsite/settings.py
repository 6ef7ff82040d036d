"""The platform's one settings module.

Every value that differs between a laptop and production comes from an environment variable read
through the typed helpers in ``sentimentsite.env``. With nothing set, the platform runs on the
embedded default: SQLite and a Celery broker on the filesystem, both under ``VAR_DIR``.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from sentimentsite.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var"))).resolve()

DEBUG = env_bool("DEBUG", False)

_secret_key = env_str("SECRET_KEY")
if _secret_key is None:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is required when DEBUG is off. Set SECRET_KEY to a long random string "
            "(python -c 'import secrets; print(secrets.token_urlsafe(50))'), or DEBUG=1 for local work."
        )
    _secret_key = "insecure-local-development-key-only-used-with-debug-on"
SECRET_KEY = _secret_key

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "axes",
    "csp",
    "apps.common",
    "apps.reviews",
    "apps.labelling",
    "apps.training",
    "apps.registry",
    "apps.predictions",
    "apps.dashboard",
    "apps.api",
    "apps.webhooks",
    "django_celery_beat",
    "apps.automation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # A view that meets a database or broker outage answers 503 with Retry-After.
    "apps.common.outages.OutageMiddleware",
    "apps.common.middleware.UploadSizeLimitMiddleware",
    "apps.api.middleware.ApiConditionalGetMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Starts the thread that loads a newly promoted model before any request needs it.
    "apps.predictions.serving.WarmerMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, so it sees the lockout flag that a refused sign-in left on the request.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "sentimentsite.urls"
WSGI_APPLICATION = "sentimentsite.wsgi.application"
ASGI_APPLICATION = "sentimentsite.asgi.application"

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
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}") or "",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the worker write to the same file: WAL lets readers go on while one
    # writer works, and IMMEDIATE transactions take the write lock up front instead of failing
    # half-way with "database is locked".
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Sign-in lockout (django-axes) on every door: the login page, the admin's and POST /api/auth/token/.
# After LOGIN_FAILURE_LIMIT failures from one address, or for one user name, signing in is refused
# with a 429 for LOGIN_LOCKOUT_MINUTES. Attempts live in the database, so every web process shares them.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "apps.common.addresses.client_address"
AXES_LOCKOUT_CALLABLE = "apps.common.lockout.lockout_response"
AXES_VERBOSE = False

# The proxies in front of the web processes: how many append to X-Forwarded-For (0: the header is
# ignored and REMOTE_ADDR is the client), and the networks they live in (empty: any peer may be one).
# Sign-in lockout and the API's rate limits count by the address these give (apps.common.addresses).
NUM_PROXIES = env_int("NUM_PROXIES", 0)
if NUM_PROXIES < 0:
    raise ImproperlyConfigured(f"NUM_PROXIES={NUM_PROXIES} must be 0 or more.")
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", [])
for _network in TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"TRUSTED_PROXIES holds {_network!r}, which is not a network: use CIDRs like 10.0.0.0/8."
        ) from None

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
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
WHITENOISE_USE_FINDERS = DEBUG

# Trained models: each finished run writes one folder here. Without ARTIFACT_STORAGE_URL, web and worker
# processes must see the same path (a shared volume when they run on different machines); with it, this
# holds only a worker's runs in progress.
ARTIFACT_ROOT = Path(env_str("ARTIFACT_ROOT", str(VAR_DIR / "artifacts"))).resolve()
# Object storage for model artifacts and uploaded import files instead of shared folders:
# s3://bucket/prefix (artifacts under prefix/artifacts, uploads under prefix/uploads). Credentials come from
# the usual AWS variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE...); an S3-compatible
# server (MinIO, Ceph) is named by ARTIFACT_STORAGE_ENDPOINT_URL or AWS_ENDPOINT_URL. Each process keeps
# the models it reads in ARTIFACT_CACHE_DIR, each file checked against its manifest's sha256.
ARTIFACT_STORAGE_URL = (env_str("ARTIFACT_STORAGE_URL", "") or "").rstrip("/")
if ARTIFACT_STORAGE_URL and (
    not ARTIFACT_STORAGE_URL.startswith("s3://") or not ARTIFACT_STORAGE_URL[len("s3://"):].split("/")[0]
):
    raise ImproperlyConfigured(
        f"ARTIFACT_STORAGE_URL={ARTIFACT_STORAGE_URL!r} is not an object storage URL: write s3://bucket or "
        "s3://bucket/prefix, or leave it empty to keep models in ARTIFACT_ROOT."
    )
ARTIFACT_STORAGE_ENDPOINT_URL = env_str("ARTIFACT_STORAGE_ENDPOINT_URL", "") or ""
ARTIFACT_CACHE_DIR = Path(env_str("ARTIFACT_CACHE_DIR", str(VAR_DIR / "artifact-cache"))).resolve()

# Where imports look for IMDb when the database is empty (``make run``).
IMDB_SOURCE = env_str("IMDB_SOURCE", "hf:imdb")

# Largest upload accepted by the import endpoints, in bytes.
IMPORT_MAX_UPLOAD_BYTES = env_int("IMPORT_MAX_UPLOAD_BYTES", 50 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 10 * 1024 * 1024)
# What one import may hold, whatever its source (apps.reviews.importers): the longest review in characters,
# the most files in an archive, and the most bytes an archive or parquet file may unpack to. A file over
# one of them imports nothing, and the message names the file and the limit.
IMPORT_MAX_REVIEW_CHARS = env_int("IMPORT_MAX_REVIEW_CHARS", 100_000)
IMPORT_MAX_ARCHIVE_MEMBERS = env_int("IMPORT_MAX_ARCHIVE_MEMBERS", 200_000)
IMPORT_MAX_DECOMPRESSED_BYTES = env_int("IMPORT_MAX_DECOMPRESSED_BYTES", 1024 * 1024 * 1024)

# HTTPS: turn on behind TLS (directly or through a proxy that sets X-Forwarded-Proto).
HTTPS = env_bool("HTTPS", False)
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
# Content-Security-Policy (django-csp): scripts only from our own static files (htmx, the labelling
# keys, Swagger UI's split init script), so an injected <script> or onclick= never runs. Styles allow
# 'unsafe-inline' because progress bars and confusion cells set their width and colour in a style
# attribute and ReDoc styles itself at run time; a style cannot run code. ReDoc parses in a blob: worker.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# Celery. With no broker configured, kombu's filesystem transport under VAR_DIR needs no server.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if CELERY_BROKER_URL == "filesystem://":
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "store_processed": False,
    }
    for _folder in ("queue", "control", "processed"):
        (BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # A broker that is down is noticed in seconds, not after the operating system's TCP timeouts.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 5, "socket_timeout": 30, "retry_on_timeout": True}
# A send to a broker that is down gives up within about a second; the job's row stays and is swept.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.3, "interval_max": 0.5}
CELERY_TASK_QUEUES = (Queue("default"), Queue("gpu"))
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = False
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Tasks sent from tests run in-process only when a test asks for it.
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)

# Serving. Longest review and most reviews per request the predictor accepts.
PREDICTION_MAX_CHARS = env_int("PREDICTION_MAX_CHARS", 20_000)
PREDICTION_MAX_BATCH = env_int("PREDICTION_MAX_BATCH", 64)
# Answers kept per web process for reviews seen before (per model version); 0 turns the cache off.
PREDICTION_CACHE_SIZE = env_int("PREDICTION_CACHE_SIZE", 4096)
# Every web process loads a newly promoted version within this many seconds, before a request needs it; 0: off.
PREDICTION_WARM_SECONDS = env_int("PREDICTION_WARM_SECONDS", 1)
# Most other workers a batch prediction job asks to join it (one message each; idle ones take its chunks).
BATCH_MAX_HELPERS = env_int("BATCH_MAX_HELPERS", 16)
# Reviews per batch chunk: the unit a worker claims and commits, and the most a dead worker makes another redo.
BATCH_CHUNK_SIZE = env_int("BATCH_CHUNK_SIZE", 512)
# Serve transformer versions with dynamic int8 Linear layers (about 1.35x faster on CPU).
PREDICTION_QUANTIZE = env_bool("PREDICTION_QUANTIZE", True)
# The newest TF-IDF version on the same snapshot answers the reviews it is at least this sure of,
# so they skip the transformer; every answer names the version that gave it. 0 turns this off.
PREDICTION_SCREEN_CONFIDENCE = env_float("PREDICTION_SCREEN_CONFIDENCE", 0.98)

# Labelling: how long a review handed to an analyst stays theirs before it goes back to the queue.
LABELLING_ASSIGNMENT_MINUTES = env_int("LABELLING_ASSIGNMENT_MINUTES", 30)
if LABELLING_ASSIGNMENT_MINUTES < 1:
    raise ImproperlyConfigured(f"LABELLING_ASSIGNMENT_MINUTES={LABELLING_ASSIGNMENT_MINUTES} must be 1 or more.")

# A running job whose worker has not written a heartbeat for this long is marked failed.
RUN_HEARTBEAT_SECONDS = env_int("RUN_HEARTBEAT_SECONDS", 15)
RUN_STALE_AFTER_SECONDS = env_int("RUN_STALE_AFTER_SECONDS", 120)
# Processes per training run: 1 runs the Trainer in one child process of the worker; more launches the
# child with torchrun for DistributedDataParallel across the machine's GPUs (gloo on a CPU).
TRAIN_PROCESSES = env_int("TRAIN_PROCESSES", 1)
if TRAIN_PROCESSES < 1:
    raise ImproperlyConfigured(f"TRAIN_PROCESSES={TRAIN_PROCESSES} must be 1 or more.")
# A database outage shorter than this pauses a running job's bookkeeping; a longer one stops the job.
JOB_DB_OUTAGE_SECONDS = env_int("JOB_DB_OUTAGE_SECONDS", 120)
# How often every worker reaps stale jobs and re-sends queued jobs whose message was lost.
JOB_SWEEP_SECONDS = env_int("JOB_SWEEP_SECONDS", 15)
# A queued job sent this long ago whose message is no longer in the broker is sent again.
JOB_REDISPATCH_SECONDS = env_int("JOB_REDISPATCH_SECONDS", 60)

# Make a newly trained version current when it beats the current one's test accuracy on the same snapshot.
AUTO_PROMOTE = env_bool("AUTO_PROMOTE", False)

# Retraining policies (apps.automation). Celery beat (``celery -A sentimentsite beat``) reads its schedule from
# the database (django-celery-beat): each policy with a schedule has a periodic task there, and every minute
# the label triggers are checked, in case a check after a resolution was missed (a broker outage).
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "automation-check-label-triggers": {"task": "automation.check_label_triggers", "schedule": 60.0},
}

# Shared by the web processes: throttle counts (and anything else cached). "locmem://" keeps them per
# process; "redis://host:6379/1" shares them, which rate limits need behind several web processes.
CACHE_URL = env_str("CACHE_URL", "locmem://") or "locmem://"
if CACHE_URL.startswith(("redis://", "rediss://")):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}
elif CACHE_URL == "locmem://":
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    raise ImproperlyConfigured(f"CACHE_URL={CACHE_URL!r} is not supported: use locmem:// or redis://host:port/db.")

# The REST API (apps/api and each app's api.py).
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.common.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "apps.api.schema.ApiAutoSchema",
    "EXCEPTION_HANDLER": "apps.api.errors.api_exception_handler",
    "DEFAULT_METADATA_CLASS": "apps.api.metadata.ApiMetadata",
    "UNAUTHENTICATED_USER": None,
}
# Rate limits (DRF's "N/second|minute|hour|day"): POST /api/predict, bulk writes (reviews, uploads, batch
# jobs) per user, and the password sign-in for a token per address. Over them: 429 with Retry-After.
API_THROTTLE_RATES = {
    "predict": env_str("API_THROTTLE_PREDICT", "600/minute"),
    "bulk": env_str("API_THROTTLE_BULK", "60/minute"),
    "login": env_str("API_THROTTLE_LOGIN", "10/minute"),
}
# The OpenAPI schema (/api/schema/) and its pages (/api/docs/, /api/redoc/) without signing in.
API_DOCS_PUBLIC = env_bool("API_DOCS_PUBLIC", False)
# How long a request's Idempotency-Key is remembered.
IDEMPOTENCY_KEY_TTL_HOURS = env_int("IDEMPOTENCY_KEY_TTL_HOURS", 24)
# Files uploaded to POST /api/imports/ wait here for a worker: web and workers must see the same folder
# (with ARTIFACT_STORAGE_URL set they wait in object storage instead).
IMPORT_UPLOAD_DIR = Path(env_str("IMPORT_UPLOAD_DIR", str(VAR_DIR / "uploads"))).resolve()

SPECTACULAR_SETTINGS = {
    "TITLE": "Sentiment platform API",
    "VERSION": "1.0.0",
    "SCHEMA_PATH_PREFIX": r"/api/",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": True, "displayRequestDuration": True, "filter": True},
    "PATH_CONVERTER_OVERRIDES": {"id": {"type": "integer", "minimum": 0, "maximum": 999_999_999_999_999_999}},
    "ENUM_NAME_OVERRIDES": {
        "JobStatusEnum": "apps.common.choices.JobStatus",
        "ModelKindEnum": "apps.training.choices.ModelKind",
        "TrainedKindEnum": "apps.training.choices.TRAINED_KINDS",
        "SplitEnum": "apps.reviews.choices.Split",
        "EvaluationSplitEnum": "apps.training.choices.EvaluationSplit",
        "SplitOrBlankEnum": ["", "train", "validation", "test"],
        "PoolEnum": "apps.labelling.choices.QueuePool",
        "LabelSourceEnum": "apps.reviews.choices.LabelSource",
        "LabelEnum": ["negative", "positive"],
        "LabelFilterEnum": ["negative", "positive", "none"],
        "PredictionSourceEnum": "apps.predictions.choices.PredictionSource",
        "DeliveryStatusEnum": "apps.webhooks.choices.DeliveryStatus",
        "WebhookEventEnum": "apps.webhooks.choices.WebhookEvent",
    },
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "apps.api.schema.add_guide"],
}

# Webhooks: how long a receiver may take, how often and how patiently a failed delivery is retried
# (doubling from the base delay up to the longest), and which otherwise refused networks (loopback,
# private, link-local) they may go to, as comma-separated CIDRs, e.g. "10.20.0.0/16".
WEBHOOK_TIMEOUT_SECONDS = env_float("WEBHOOK_TIMEOUT_SECONDS", 10.0)
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 8)
WEBHOOK_RETRY_BASE_SECONDS = env_float("WEBHOOK_RETRY_BASE_SECONDS", 30.0)
WEBHOOK_RETRY_MAX_SECONDS = env_float("WEBHOOK_RETRY_MAX_SECONDS", 3600.0)
# After a subscriber's secret changes, the old one keeps signing beside the new one this long.
WEBHOOK_SECRET_ROTATION_HOURS = env_float("WEBHOOK_SECRET_ROTATION_HOURS", 24.0)
WEBHOOK_ALLOWED_NETWORKS = env_list("WEBHOOK_ALLOWED_NETWORKS", [])
for _network in WEBHOOK_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"WEBHOOK_ALLOWED_NETWORKS holds {_network!r}, which is not a network: use CIDRs like 10.20.0.0/16."
        ) from None

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
