# One image for all three services; the command picks the service:
#   python -m services.booking | python -m services.scheduler | python -m services.notifier
# Build: docker build -t inspiration-talks .

# ---- builder: build the project's wheels, install them into a virtualenv ----
FROM python:3.11.13-slim-bookworm AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
# .dockerignore lets through only pyproject.toml, README.md, shared/ and services/.
COPY . .
RUN python -m venv /opt/venv \
    && pip wheel --no-cache-dir --wheel-dir /wheels . \
    && /opt/venv/bin/pip install --no-cache-dir --no-index --find-links=/wheels /wheels/*.whl

# ---- runtime: no build tools, no pip cache, non-root ------------------------
FROM python:3.11.13-slim-bookworm AS runtime

LABEL org.opencontainers.image.title="inspiration-talks" \
      org.opencontainers.image.description="Booking, scheduler and notifier services for inspiration talks"

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HEALTHCHECK_PORT=8080

RUN groupadd --system --gid 10001 app \
    && useradd --system --no-log-init --uid 10001 --gid app \
       --home-dir /app --shell /usr/sbin/nologin app

# Only the virtualenv with the installed wheels comes over: no sources, no
# wheel files, no build tools.
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /app
USER 10001:10001

EXPOSE 8080 8081 8082

# Each service answers GET /healthz on its own port; set HEALTHCHECK_PORT to
# 8081 (scheduler) or 8082 (notifier). The slim image has no curl: use Python.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('HEALTHCHECK_PORT', '8080'), timeout=4)"]

# SIGTERM (the default stop signal) lets a service finish in-flight work.
CMD ["python", "-m", "services.booking"]
