"""Django settings, every value from the environment (12-factor).

Each variable is documented in `.env.example` and `docs/configuration.md`. With no
environment at all the service runs on its embedded default (SQLite, local-memory
cache, eager Celery, Accent-Auth disabled); see `project/backends.py`.
"""

from __future__ import annotations

from pathlib import Path

import django_stubs_ext

# No app module here: settings are read by every process, before any app loads, and must stay
# cheap and side-effect free (tests/project/test_settings_imports.py). Apps are named by dotted
# path; each validates what only it understands when it is ready (docs/architecture.md).
from project.asgi_server import realtime_max_frame_bytes
from project.backends import (
    DIRECT_ALIAS,
    REPLICA_ALIAS,
    broker_settings,
    cache_settings,
    channel_layer_settings,
    database_settings,
)
from project.environment import ConfigurationError, EnvReader
from project.naming import service_names

# Generic classes the stubs declare (`admin.ModelAdmin[Document]`, `QuerySet[Document]`) subscriptable at run time.
django_stubs_ext.monkeypatch()

env = EnvReader()
BASE_DIR = Path(__file__).resolve().parent.parent

# ---------------------------------------------------------------------------
# Core — https://docs.djangoproject.com/en/5.2/ref/settings/#core-settings
# ---------------------------------------------------------------------------
DEVELOPMENT_SECRET_KEY = "django-insecure-development-only-never-use-in-production"  # noqa: S105
DEBUG = env.boolean("DJANGO_DEBUG", True)
SECRET_KEY = env.string("DJANGO_SECRET_KEY", DEVELOPMENT_SECRET_KEY)
# Every name the service shows the world (queues, exchanges, cache prefix, metrics, title) is
# derived from this one (project/naming.py); `make rename NAME=...` changes its default.
NAMES = service_names(env)
SERVICE_NAME = NAMES.name
METRICS_NAMESPACE = NAMES.metrics_namespace
if not DEBUG and (SECRET_KEY == DEVELOPMENT_SECRET_KEY or len(SECRET_KEY) < 50):
    raise ConfigurationError(
        "DJANGO_SECRET_KEY",
        "production mode (DJANGO_DEBUG=false) needs a unique secret of at least 50 characters",
    )
ALLOWED_HOSTS = env.strings("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ConfigurationError("DJANGO_ALLOWED_HOSTS", "production mode needs the host names the service answers to")
CSRF_TRUSTED_ORIGINS = env.strings("DJANGO_CSRF_TRUSTED_ORIGINS", [])

ROOT_URLCONF = "project.urls"
WSGI_APPLICATION = "project.wsgi.application"
ASGI_APPLICATION = "project.asgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The feature apps: each is installed here and routed at /api/v1/<name>/ (project/urls.py).
# `python manage.py startfeature NAME` appends to this list (docs/new-feature.md).
FEATURE_APPS = [
    "apps.documents",
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    # Before WhiteNoise's: its `runserver` decodes chunked bodies (apps/security/devserver.py).
    "apps.security",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_prometheus",
    "corsheaders",
    "csp",
    "apps.core",
    "apps.observability",
    "apps.caching",
    "apps.health",
    *FEATURE_APPS,
    "apps.accent_auth",
    "apps.events",
    "apps.realtime",
]

MIDDLEWARE = [
    # First and last: django-prometheus times the whole stack (docs/observability.md).
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "apps.core.middleware.RequestContextMiddleware",
    "apps.observability.middleware.RequestLoggingMiddleware",
    # API paths: a foreign Host or a NUL in the query is a 400 problem, before anything reads them.
    "apps.core.api.middleware.ApiRequestMiddleware",
    # Security (docs/security.md): refuse big bodies before anything reads them; static files skip the limits.
    "apps.security.middleware.RequestBodyLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "csp.middleware.CSPMiddleware",
    "apps.security.middleware.SecurityHeadersMiddleware",
    "apps.security.middleware.RateLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

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

# ---------------------------------------------------------------------------
# Backing services — https://docs.djangoproject.com/en/5.2/ref/settings/#databases
# ---------------------------------------------------------------------------
DATABASES = database_settings(env, BASE_DIR)
# DATABASE_REPLICA_URL adds the `replica` alias and its router (apps/core/replica_router.py; docs/scaling.md):
# reads of these apps go to the replica until the request or task writes, then to the primary.
DATABASE_ROUTERS = ["apps.core.replica_router.ReplicaRouter"] if REPLICA_ALIAS in DATABASES else []
DATABASE_REPLICA_APPS = env.strings("DATABASE_REPLICA_APPS", [path.rpartition(".")[2] for path in FEATURE_APPS])
# Seconds reads skip a replica that failed before one of them tries it again.
DATABASE_REPLICA_COOL_DOWN = env.number("DATABASE_REPLICA_COOL_DOWN", 5.0, minimum=0.1)
# /health/ reports `database_replica` degraded (never 503) past this many seconds of replay lag.
DATABASE_REPLICA_MAX_LAG = env.number("DATABASE_REPLICA_MAX_LAG", 30.0)
CACHES = cache_settings(env)
CHANNEL_LAYERS = channel_layer_settings(env)

# Celery reads every CELERY_* setting below (project/celery.py).
_celery = broker_settings(env)
CELERY_BROKER_URL = _celery["broker_url"]
CELERY_TASK_ALWAYS_EAGER = _celery["task_always_eager"]
CELERY_TASK_EAGER_PROPAGATES = _celery["task_eager_propagates"]
CELERY_BROKER_CONNECTION_TIMEOUT = env.number("CELERY_BROKER_CONNECTION_TIMEOUT", 2.0)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.integer("CELERY_TASK_TIME_LIMIT", 300, minimum=1)
CELERY_TASK_SOFT_TIME_LIMIT = env.integer("CELERY_TASK_SOFT_TIME_LIMIT", 240, minimum=1)
# Workers log through LOGGING (structlog, with the task's request context), not Celery's own handler.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# The broker confirms each publish before it returns: the outbox relay marks a row sent only then.
CELERY_BROKER_TRANSPORT_OPTIONS = {"confirm_publish": True}
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Celery's Django fixup closes the task thread's database connections before and after every
# task (a new PostgreSQL backend per event: the connect cost more than the delivery). It closes
# them only every CELERY_DB_REUSE_MAX tasks instead; between tasks project/celery.py applies
# Django's own rule (close_old_connections: CONN_MAX_AGE, a connection left broken), as a request does.
CELERY_DB_REUSE_MAX = env.integer("CELERY_DB_REUSE_MAX", 1000, minimum=0)

# ---------------------------------------------------------------------------
# Events: outbox, relay, consumers, dead letters (apps.events; docs/events.md)
# ---------------------------------------------------------------------------
# Every work queue dead-letters a rejected message (its final failure) to this exchange,
# bound to the dead-letter queue: `manage.py events_dead_letters` lists and replays it.
EVENTS_DEAD_LETTER_EXCHANGE = env.string("EVENTS_DEAD_LETTER_EXCHANGE", NAMES.dead_letter_exchange)
EVENTS_DEAD_LETTER_QUEUE = env.string("EVENTS_DEAD_LETTER_QUEUE", NAMES.dead_letter_queue)
EVENTS_QUEUE = env.string("EVENTS_QUEUE", NAMES.events_queue)
# `classic` (one RabbitMQ node) or `quorum` (replicated, for a cluster): the kind of the work, events
# and dead-letter queues (apps/events/topology.py; docs/events.md#queue-types). Fixed once declared.
EVENTS_QUEUE_TYPE = env.choice("EVENTS_QUEUE_TYPE", "classic", ["classic", "quorum"])
# Not "celery": queue arguments cannot change on an existing queue, and this one dead-letters.
# Celery's `task_queues` (this queue and EVENTS_QUEUE, both dead-lettering) come from
# `apps.events.topology.work_queues`, loaded when Celery first reads its configuration (project/celery.py).
CELERY_TASK_DEFAULT_QUEUE = env.string("CELERY_TASK_DEFAULT_QUEUE", NAMES.tasks_queue)
# Broadcast (`celery inspect`, remote control) and monitoring events: per service, or two services
# on one vhost would answer each other's `inspect ping` and show in each other's Flower.
CELERY_CONTROL_EXCHANGE = env.string("CELERY_CONTROL_EXCHANGE", NAMES.control_exchange)
CELERY_EVENT_EXCHANGE = env.string("CELERY_EVENT_EXCHANGE", NAMES.event_exchange)
CELERY_TASK_ROUTES = {"apps.events.deliver": {"queue": EVENTS_QUEUE}}
# Publish events when their transaction commits; the periodic relay (beat, or
# `manage.py events_relay`) publishes what that could not, every EVENTS_RELAY_INTERVAL seconds.
EVENTS_RELAY_ON_COMMIT = env.boolean("EVENTS_RELAY_ON_COMMIT", True)
EVENTS_RELAY_INTERVAL = env.number("EVENTS_RELAY_INTERVAL", 5.0, minimum=0.1)
EVENTS_RELAY_BATCH_SIZE = env.integer("EVENTS_RELAY_BATCH_SIZE", 200, minimum=1)
EVENTS_RELAY_MAX_ATTEMPTS = env.integer("EVENTS_RELAY_MAX_ATTEMPTS", 10, minimum=1)
# The database the relay LISTENs on (apps/events/wakeup.py): the server itself when DATABASE_URL is a
# transaction pooler and DATABASE_DIRECT_URL says where it is; behind a pooler without it, none (the
# relay polls every EVENTS_RELAY_INTERVAL: a LISTEN through the pooler would hear nothing).
EVENTS_LISTEN_DATABASE: str | None = (
    DIRECT_ALIAS
    if DIRECT_ALIAS in DATABASES
    else None
    if env.boolean("DATABASE_TRANSACTION_POOLING", False)
    else "default"
)
# Seconds the relay waits for the broker to confirm one publish; past it the broker counts as
# unavailable (the row is left pending, the run stops and releases its row locks).
EVENTS_RELAY_PUBLISH_TIMEOUT = 5.0
# Readiness reports `events_relay` degraded (never 503) when the oldest due pending event has
# waited longer than this many seconds (a relay that is down or behind); 0 leaves the check out.
EVENTS_RELAY_MAX_LAG = env.number("EVENTS_RELAY_MAX_LAG", 0.0)
# Handler retries for transient errors, then the message is dead-lettered.
EVENTS_HANDLER_MAX_RETRIES = env.integer("EVENTS_HANDLER_MAX_RETRIES", 5, minimum=0)
# Backoff (seconds) of both: base * 2**attempt, capped, with jitter.
EVENTS_RETRY_BACKOFF = env.number("EVENTS_RETRY_BACKOFF", 2.0, minimum=0.01)
EVENTS_RETRY_BACKOFF_MAX = env.number("EVENTS_RETRY_BACKOFF_MAX", 300.0, minimum=0.01)
# Invalidations a Redis outage swallowed are replayed this often (apps.caching.missed; docs/caching.md).
CACHING_REPLAY_INTERVAL = env.number("CACHING_REPLAY_INTERVAL", 10.0, minimum=0.1)
# On a Redis Cluster (REDIS_URL=redis+cluster://...): shards of the cache's key layout (docs/caching.md).
CACHING_CLUSTER_SHARDS = env.integer("CACHING_CLUSTER_SHARDS", 16, minimum=1)
CELERY_BEAT_SCHEDULE = {
    "events-relay": {
        "task": "apps.events.relay_outbox",
        "schedule": EVENTS_RELAY_INTERVAL,
        "options": {"expires": EVENTS_RELAY_INTERVAL},
    },
    "cache-replay-missed-invalidations": {
        "task": "apps.caching.replay_missed_invalidations",
        "schedule": CACHING_REPLAY_INTERVAL,
        "options": {"expires": CACHING_REPLAY_INTERVAL},
    },
}

# Accent-Auth: unset means disabled (the admin's session login still works).
ACCENT_AUTH_URL = env.url("ACCENT_AUTH_URL", None, schemes={"http", "https"})
AUTH_HEALTH_CHECKS_ENABLED = env.boolean("AUTH_HEALTH_CHECKS_ENABLED", ACCENT_AUTH_URL is not None)

# ---------------------------------------------------------------------------
# Health probes (apps.health; docs/health.md)
# ---------------------------------------------------------------------------
# Checks: database, cache, broker, accent_auth. Optional ones only degrade readiness.
HEALTH_OPTIONAL_CHECKS = env.strings("HEALTH_OPTIONAL_CHECKS", ["cache", "broker"])
HEALTH_CHECK_TIMEOUT = env.number("HEALTH_CHECK_TIMEOUT", 2.0)
HEALTH_CACHE_SECONDS = env.number("HEALTH_CACHE_SECONDS", 3.0)
# The client is built on first use (apps/accent_auth/client.py); see docs/accent-auth.md.
ACCENT_AUTH_TIMEOUT = env.number("ACCENT_AUTH_TIMEOUT", 2.0, minimum=0.1)
ACCENT_AUTH_CONNECT_TIMEOUT = env.number("ACCENT_AUTH_CONNECT_TIMEOUT", 1.0, minimum=0.1)
ACCENT_AUTH_MAX_CONNECTIONS = env.integer("ACCENT_AUTH_MAX_CONNECTIONS", 20, minimum=1)
# A validated token is cached for at most this long, and never past its expiry.
ACCENT_AUTH_CACHE_TTL = env.integer("ACCENT_AUTH_CACHE_TTL", 60, minimum=1)
# An unknown token is remembered this long, so a bad token cannot hammer Accent-Auth.
ACCENT_AUTH_NEGATIVE_CACHE_TTL = env.integer("ACCENT_AUTH_NEGATIVE_CACHE_TTL", 5, minimum=0)

# ---------------------------------------------------------------------------
# Authentication — https://docs.djangoproject.com/en/5.2/topics/auth/passwords/
# ---------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# ---------------------------------------------------------------------------
# GraphQL (/graphql/) — docs/graphql.md
# ---------------------------------------------------------------------------
# A query nested deeper, with more aliases, or longer (in tokens) than these is refused before it runs.
GRAPHQL_MAX_DEPTH = env.integer("GRAPHQL_MAX_DEPTH", 6, minimum=1)
GRAPHQL_MAX_ALIASES = env.integer("GRAPHQL_MAX_ALIASES", 15, minimum=0)
GRAPHQL_MAX_TOKENS = env.integer("GRAPHQL_MAX_TOKENS", 2000, minimum=1)
# Introspection (`__schema`, `__type`; GraphiQL needs it): on in DEBUG unless set; schema.graphql is public anyway.
GRAPHQL_INTROSPECTION = env.boolean("GRAPHQL_INTROSPECTION", DEBUG)
# Operations at once on one graphql-transport-ws socket (each subscription holds a bounded queue).
GRAPHQL_MAX_SUBSCRIPTIONS = env.integer("GRAPHQL_MAX_SUBSCRIPTIONS", 20, minimum=1)

# ---------------------------------------------------------------------------
# Real-time (WebSocket at /ws/v1/events/) — docs/realtime.md
# ---------------------------------------------------------------------------
REALTIME_AUTH_TIMEOUT = env.number("REALTIME_AUTH_TIMEOUT", 10.0, minimum=0.1)
REALTIME_REVALIDATE_SECONDS = env.number("REALTIME_REVALIDATE_SECONDS", 30.0, minimum=0.1)
REALTIME_MAX_QUEUED_FRAMES = env.integer("REALTIME_MAX_QUEUED_FRAMES", 256, minimum=1)
# Also the ASGI server's own bound (project/asgi_server.py): a larger message is closed with 1009 unread.
REALTIME_MAX_FRAME_BYTES = realtime_max_frame_bytes(env)

# ---------------------------------------------------------------------------
# Internationalisation and static files
# ---------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve straight from the apps' static folders when collectstatic has not run
# (development, tests); production images run collectstatic at build time.
WHITENOISE_USE_FINDERS = env.boolean("WHITENOISE_USE_FINDERS", DEBUG)

# ---------------------------------------------------------------------------
# Security — https://docs.djangoproject.com/en/5.2/ref/checks/#security
# ---------------------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.boolean("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env.integer("DJANGO_SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env.boolean("DJANGO_SECURE_HSTS_PRELOAD", False)
# Preloading binds every subdomain of the registrable domain for years: an explicit
# choice (DJANGO_SECURE_HSTS_PRELOAD), so its deploy-check reminder is silenced.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SECURE_REDIRECT_EXEMPT = [r"^health/", r"^metrics$"]
SESSION_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = not DEBUG
X_FRAME_OPTIONS = "DENY"
DATA_UPLOAD_MAX_MEMORY_SIZE = env.integer("REQUEST_MAX_BODY_BYTES", 1_048_576, minimum=1024)
# Content-Security-Policy (django-csp 4): same-origin resources only, no inline script or style.
# /api/docs/ works under it (apps.security.swagger); docs/security.md#headers.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# CORS (django-cors-headers): closed unless origins are listed.
CORS_ALLOWED_ORIGINS = env.strings("CORS_ALLOWED_ORIGINS", [])
CORS_URLS_REGEX = r"^/api/"
CORS_EXPOSE_HEADERS = ["ETag", "Location", "Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"]
CORS_ALLOW_HEADERS = [
    *["accept", "content-type", "authorization", "x-auth-token", "accent-tenant", "x-request-id"],
    *["if-match", "if-none-match"],  # optimistic concurrency (docs/api.md)
]

# ---------------------------------------------------------------------------
# Rate limits (apps.security; docs/security.md#rate-limits): "N/period" or "off"
# ---------------------------------------------------------------------------
# Load balancers whose X-Forwarded-For is believed (addresses or CIDR networks); none by default.
TRUSTED_PROXIES = env.strings("TRUSTED_PROXIES", [])
RATE_LIMIT_ENABLED = env.boolean("RATE_LIMIT_ENABLED", True)
RATE_LIMIT_PER_IP = env.string("RATE_LIMIT_PER_IP", "600/minute")
RATE_LIMIT_PER_ACTOR = env.string("RATE_LIMIT_PER_ACTOR", "1200/minute")
# Per view, per actor: scope (a view's throttle_scope, else its URL name) = rate.
RATE_LIMIT_SCOPES = env.pairs("RATE_LIMIT_SCOPES", {"documents:bulk-upsert": "60/minute"})
# Each rate is checked when apps.security is ready: a bad one stops start-up naming its variable.
RATE_LIMIT_EXEMPT_PATHS = [r"^/health/", r"^/metrics$"]

# ---------------------------------------------------------------------------
# REST framework and OpenAPI — https://www.django-rest-framework.org/api-guide/settings/
# ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    # drf-spectacular's, plus the problem+json responses of every API operation (docs/api.md#schema).
    "DEFAULT_SCHEMA_CLASS": "apps.core.api.schema.ApiAutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["apps.core.api.renderers.FastJSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    # orjson, strict: no NaN/Infinity or lone surrogates, nesting capped (docs/api.md#hostile-input).
    "DEFAULT_PARSER_CLASSES": ["apps.core.api.parsers.JSONParser"],
    # Token first: it answers 401 with a WWW-Authenticate challenge. With ACCENT_AUTH_URL
    # unset it lets session callers through and refuses tokens with a clear 401.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.accent_auth.authentication.AccentAuthTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "apps.core.api.problems.exception_handler",
    # Atomic, Redis-backed (apps.security): exact under concurrency, unlike DRF's own throttles.
    "DEFAULT_THROTTLE_CLASSES": [
        "apps.security.throttles.ActorRateThrottle",
        "apps.security.throttles.ScopedRateThrottle",
    ],
}
# Optimistic concurrency (docs/api.md#concurrency-etag-and-if-match): writes without If-Match are a 428.
API_REQUIRE_IF_MATCH = env.boolean("API_REQUIRE_IF_MATCH", False)
# Arrays and objects nested deeper than this in a request body are a 400 (apps.core.api.parsers).
API_JSON_MAX_DEPTH = env.integer("API_JSON_MAX_DEPTH", 32, minimum=1)
SPECTACULAR_SETTINGS = {
    "TITLE": env.string("SERVICE_TITLE", NAMES.api_title),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.accent_auth.schema.tenant_header_parameter",
    ],
}

# ---------------------------------------------------------------------------
# Logging — structlog for every line, stdlib logging routed through it
# ---------------------------------------------------------------------------
LOG_LEVEL = env.choice("LOG_LEVEL", "INFO", ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"])
LOG_FORMAT = env.choice("LOG_FORMAT", "console" if DEBUG else "json", ["console", "json"])
# Django calls LOGGING_CONFIG with LOGGING at set-up, before any app loads: it applies this
# dict and configures structlog, so even the first line has its context and redaction.
LOGGING_CONFIG = "apps.observability.logging.configure_logging"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"structlog": {"()": "apps.observability.logging.structlog_formatter", "json": LOG_FORMAT == "json"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structlog"}},
    # Celery's "received"/"succeeded" INFO lines of an event delivery: `event_handled` says it once.
    "filters": {"without_delivery_lines": {"()": "apps.events.task_logs.WithoutDeliveryLines"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # Django's own handlers (its DEFAULT_LOGGING, applied first) are replaced: one rendering, masked.
    "loggers": {
        "django": {"level": "INFO", "handlers": [], "propagate": True},
        "django.server": {"level": "WARNING", "handlers": [], "propagate": True},
        "django.db.backends": {"level": "WARNING"},
        # Our RequestLoggingMiddleware writes one line per request, with context.
        "gunicorn.access": {"level": "WARNING"},
        "celery.worker.strategy": {"filters": ["without_delivery_lines"]},
        "celery.app.trace": {"filters": ["without_delivery_lines"]},
    },
}
# Metrics at /metrics (apps.observability); never query the database at start-up.
PROMETHEUS_EXPORT_MIGRATIONS = False

# Development superuser that `make run` creates (never in production mode).
DEV_SUPERUSER_USERNAME = env.string("DEV_SUPERUSER_USERNAME", "admin")
DEV_SUPERUSER_PASSWORD = env.string("DEV_SUPERUSER_PASSWORD", "admin")
