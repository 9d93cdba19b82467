# One image for web, worker and scheduler (see compose.yaml). Multi-stage: front-end packages and Python
# wheels are built in throwaway stages; the runtime stage runs as a non-root user.

# --- front-end packages from the npm registry (package-lock.json) ---
FROM node:20-bookworm-slim AS frontend
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --omit=dev

# --- Python dependencies from the lock file ---
FROM python:3.11-slim-bookworm AS python-deps
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
COPY requirements.lock ./
RUN /opt/venv/bin/pip install --require-hashes -r requirements.lock

# --- runtime ---
FROM python:3.11-slim-bookworm AS runtime
ENV PATH="/opt/venv/bin:$PATH" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=audience_ops.settings.production
RUN groupadd --system app && useradd --system --gid app --home-dir /app --shell /usr/sbin/nologin app
WORKDIR /app
COPY --from=python-deps /opt/venv /opt/venv
COPY --from=frontend /build/node_modules ./node_modules
COPY --chown=app:app . .
# collectstatic needs settings to import; these build-time values never reach a running container.
RUN SECRET_KEY=build-only-$(python -c "import secrets; print(secrets.token_urlsafe(50))") \
    FIELD_ENCRYPTION_KEYS=$(python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())") \
    DATABASE_URL=sqlite:////tmp/build.sqlite3 \
    python manage.py collectstatic --noinput \
 && rm -rf node_modules /tmp/build.sqlite3 \
 && mkdir -p /app/var && chown -R app:app /app/var
USER app
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"
# web (default). Worker: `python manage.py rqworker --with-scheduler default evaluations syncs`.
# Scheduler (recurring jobs): `python manage.py rqcron audience_ops.cron`.
CMD ["gunicorn", "audience_ops.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
