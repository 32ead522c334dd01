"""Settings, all read from the environment (see README "Configuration").

DEBUG is off unless ``DEBUG=1``; off, ``SECRET_KEY`` and ``ALLOWED_HOSTS`` are
required and cookies and redirects expect TLS. The embedded default
(``scripts/start.sh``, local plain HTTP) sets ``DEBUG=1``: SQLite under
``DATA_DIR``, Celery's filesystem transport, a generated secret key.
Production sets ``SECRET_KEY``, ``ALLOWED_HOSTS``, ``DATABASE_URL`` and
``CELERY_BROKER_URL``.
"""
import os
from datetime import timedelta
from pathlib import Path

from config.env import database_from_url, env_bool, env_int, env_limits, env_list, secret_key, sqlite_database

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("DATA_DIR", BASE_DIR / "var")).resolve()

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = secret_key(DATA_DIR, DEBUG)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI from our own static files, not a CDN
    "axes",
    "django_celery_results",
    "django_celery_beat",
    # Imports point one way: jobs <- annotate <- training <- demo (tests/platform/test_import_direction.py).
    "jobs",
    "annotate",
    "training",
    "demo",
    "frontend",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: it turns a login refused during a lockout into a 429
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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
            ],
        },
    },
]

DATABASES = {
    "default": database_from_url(os.environ["DATABASE_URL"])
    if os.environ.get("DATABASE_URL")
    else sqlite_database(DATA_DIR / "db.sqlite3")
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Every password login (/api/auth/token/, /login/, /admin/login/) goes through authenticate(), where django-axes
# counts failures per username and client address; past the limit even the right password is refused for the
# cool-off (each failure meanwhile restarts it), and a success clears the count.
AUTHENTICATION_BACKENDS = ["config.auth.LoginLockoutBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
API_TOKEN_TTL = timedelta(days=env_int("API_TOKEN_TTL_DAYS", 30))
# How long a process trusts a token it looked up (config.auth.ExpiringTokenAuthentication): a revoke reaches the
# other processes at most this late on the default per-process cache.
API_TOKEN_CACHE_SECONDS = env_int("API_TOKEN_CACHE_SECONDS", 30)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", DATA_DIR / "static"))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", DATA_DIR / "media"))
CHECKPOINT_ROOT = Path(os.environ.get("CHECKPOINT_ROOT", DATA_DIR / "checkpoints"))
# Models a manager registers from the UI/API (training.ddpo.registry): a folder must lie inside MODELS_ROOT
# (symlinks followed), so no other folder of the server can be read through it; a hub id is taken from the
# local Hugging Face cache, fetched only if MODEL_HUB_DOWNLOADS is on.
MODELS_ROOT = Path(os.environ.get("MODELS_ROOT", DATA_DIR / "models"))
MODEL_HUB_DOWNLOADS = env_bool("MODEL_HUB_DOWNLOADS", False)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
# Dataset imports: a file past one of these is refused whole, before its pages are decompressed where the
# parquet footer tells (annotate/services/imports.py).
IMPORT_MAX_ROWS = env_int("IMPORT_MAX_ROWS", 1_000_000)
IMPORT_MAX_TEXT_CHARS = env_int("IMPORT_MAX_TEXT_CHARS", 10_000)
IMPORT_MAX_DECOMPRESSED_BYTES = env_int("IMPORT_MAX_DECOMPRESSED_BYTES", 4 * 1024**3)
# Uploads of images and questions (annotate/services/uploads.py): an archive past one is refused whole, storing
# nothing. Sizes are checked against the zip's headers first, then again while each member is read.
UPLOAD_MAX_ARCHIVE_BYTES = env_int("UPLOAD_MAX_ARCHIVE_BYTES", 1024**3)
UPLOAD_MAX_UNCOMPRESSED_BYTES = env_int("UPLOAD_MAX_UNCOMPRESSED_BYTES", 4 * 1024**3)
UPLOAD_MAX_RATIO = env_int("UPLOAD_MAX_RATIO", 100)  # uncompressed / compressed bytes of one member (over 1 MiB)
UPLOAD_MAX_MEMBERS = env_int("UPLOAD_MAX_MEMBERS", 50_000)
UPLOAD_MAX_ROWS = env_int("UPLOAD_MAX_ROWS", 50_000)
UPLOAD_MAX_IMAGE_BYTES = env_int("UPLOAD_MAX_IMAGE_BYTES", 20 * 1024 * 1024)
UPLOAD_MAX_IMAGE_PIXELS = env_int("UPLOAD_MAX_IMAGE_PIXELS", 40_000_000)
UPLOAD_MAX_MANIFEST_BYTES = env_int("UPLOAD_MAX_MANIFEST_BYTES", 256 * 1024 * 1024)
UPLOAD_MAX_QUESTION_CHARS = env_int("UPLOAD_MAX_QUESTION_CHARS", 4_000)
UPLOAD_MAX_ANSWER_CHARS = env_int("UPLOAD_MAX_ANSWER_CHARS", 20_000)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "config.auth.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON only: the browsable API's forms need a queryset our APIViews don't declare (an HTML GET was a 500).
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "config.parsers.DepthSafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "config.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Dense preference platform API",
    "DESCRIPTION": "Span corrections of multimodal answers, dense preference records, DDPO training.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "ENUM_NAME_OVERRIDES": {"JobStatusEnum": "jobs.models.JobStatus"},
    "PATH_CONVERTER_OVERRIDES": {"id": int},
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # No validator badge: Swagger UI would send the schema's URL to validator.swagger.io.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
}

# The largest jobs a client may ask for (training/services.py job_size_check): past one, a 400 naming the field.
GENERATION_LIMITS = env_limits("GENERATION_LIMIT", {
    "max_new_tokens": 2048, "samples_per_prompt": 16, "batch_size": 256,
})
TRAINING_LIMITS = env_limits("TRAINING_LIMIT", {
    "epochs": 100, "max_steps": 100_000, "batch_size": 256, "grad_accum": 256, "max_completion_tokens": 8192,
    "lora_r": 1024, "num_workers": 16,
})
# The size of a checkpoint's evaluation (training/services.py checkpoint_evaluation_create): the project's
# first held-out records, and for the shapes world the held-out scenes the judge reads (synthetic's 500).
EVALUATION_MAX_RECORDS = env_int("EVALUATION_MAX_RECORDS", 2000)
EVALUATION_JUDGE_SCENES = env_int("EVALUATION_JUDGE_SCENES", 500)

# Celery: the embedded default uses the filesystem transport under DATA_DIR.
BROKER_DIR = DATA_DIR / "broker"
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem"):
    for folder in ("queue", "processed", "control"):
        (BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
        # How long an idle worker waits before it looks at the folder again (kombu's default: 1 s). It also
        # waits this long whenever its prefetch slots are full, which at 1 s held one worker to ~2 records/s.
        "polling_interval": float(os.environ.get("CELERY_BROKER_POLLING_INTERVAL", 0.1)),
    }
else:
    # Longer than any training run, so a GPU job (acks_late) is not redelivered mid-run.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", 48 * 3600))}
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "training.tasks.training_run_execute": {"queue": "gpu"},
    "training.tasks.generation_batch_execute": {"queue": "gpu"},
    "training.tasks.checkpoint_evaluation_execute": {"queue": "gpu"},
    "training.tasks.playground_request_execute": {"queue": "gpu"},
    "training.tasks.model_registration_execute": {"queue": "gpu"},
    "demo.tasks.bootstrap_run_execute": {"queue": "gpu"},
}
# Acked as it starts: a task that is no long job (records drains, exports, beat) dies with a killed worker
# instead of waiting out the visibility timeout (as do the few it had prefetched), and a sweep makes it good
# (records_sync_missing after RECORDS_SYNC_GRACE_SECONDS, the lost-job sweeps, the next beat). The GPU jobs
# opt in to acks_late in their decorators: a busy worker then reserves no further job, and the long
# timeout covers them alone.
CELERY_TASK_ACKS_LATE = False
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "jobs-fail-lost": {"task": "jobs.tasks.jobs_fail_lost", "schedule": timedelta(minutes=2)},
    "jobs-resend-unstarted": {"task": "jobs.tasks.jobs_resend_unstarted", "schedule": timedelta(minutes=5)},
    # Every 30 s after a 30 s grace: a record whose drain was lost is built within about a minute (issue #18 asks
    # for 90 s after any single fault); a sweep that finds nothing due reads one partial index and stops. The
    # drains writes schedule (RECORDS_SYNC_COALESCE_SECONDS) build the rest within a second or two.
    "records-sync-missing": {"task": "annotate.tasks.records.preference_records_sync_missing", "schedule": timedelta(seconds=30)},
    # How often the beat looks for projects past their auto-train threshold (tests and demos shorten it).
    "training-auto-trigger": {"task": "training.tasks.training_auto_trigger",
                              "schedule": timedelta(seconds=env_int("TRAINING_AUTO_TRIGGER_SECONDS", 300))},
    "idempotent-requests-purge": {"task": "annotate.tasks.idempotency.idempotent_requests_purge",
                                  "schedule": timedelta(hours=1)},
}
CELERY_TIMEZONE = TIME_ZONE
# A running job without a heartbeat for this long lost its worker (jobs.services.jobs_fail_lost); its worker
# beats ten times as often.
JOBS_LOST_AFTER_SECONDS = env_int("JOBS_LOST_AFTER_SECONDS", 600)
# A training run whose worker was lost is sent again, up to this many attempts in all, and continues from its
# last saved step: it saves one every TRAINING_RUN_SAVE_STEPS optimizer steps unless its config sets save_steps.
TRAINING_RUN_MAX_ATTEMPTS = env_int("TRAINING_RUN_MAX_ATTEMPTS", 3)
TRAINING_RUN_SAVE_STEPS = env_int("TRAINING_RUN_SAVE_STEPS", 50)
# How long an annotation's drain has to build its record before the beat sweep does it instead.
RECORDS_SYNC_GRACE_SECONDS = int(os.environ.get("RECORDS_SYNC_GRACE_SECONDS", 30))
# A process schedules at most one records drain per this many seconds, to run this much later, however many
# annotations it writes meanwhile (annotate.services.records.record_sync_enqueue); 0: one per write, at once.
RECORDS_SYNC_COALESCE_SECONDS = float(os.environ.get("RECORDS_SYNC_COALESCE_SECONDS", 1))
# How long a write sent with an Idempotency-Key can be retried for its stored outcome; beat purges older ones.
IDEMPOTENCY_KEY_TTL_HOURS = float(os.environ.get("IDEMPOTENCY_KEY_TTL_HOURS", "24"))

# Production: `manage.py check --deploy` passes with DEBUG=0 behind a TLS proxy.
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", 31536000))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"axes.apps": {"level": "WARNING"}},  # its version banner on every manage.py command
}
