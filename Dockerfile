# syntax=docker/dockerfile:1
# Multi-stage: build the locked virtualenv with uv, then copy it into a slim runtime
# image that runs as an unprivileged user under gunicorn.

FROM python:3.11-slim-bookworm AS build
ENV UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy
WORKDIR /app
RUN pip install --no-cache-dir "uv==0.13.9"
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project
# .dockerignore decides what this copies: no secrets, local state, caches or devtools/ (the stand-in
# Accent-Auth is for `make run` and the tests; tests/project/test_dockerignore.py proves it stays out).
COPY . .
RUN DJANGO_DEBUG=false DJANGO_SECRET_KEY=collectstatic-only-not-a-real-secret-0123456789abcdefghij \
    DJANGO_ALLOWED_HOSTS=build .venv/bin/python manage.py collectstatic --noinput

FROM python:3.11-slim-bookworm AS runtime
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_DEBUG=false \
    PORT=8000
RUN groupadd --system --gid 10001 app && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home app
WORKDIR /app
COPY --from=build --chown=10001:10001 /app /app
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\", \"8000\")}/health/live', timeout=2)"]
# Bind, workers, Prometheus multiprocess directory, post-fork tracing: project/gunicorn_config.py.
CMD ["gunicorn", "--config", "python:project.gunicorn_config", "project.wsgi:application"]
