# The gateway's image: Python 3.11 slim, the locked dependencies only, run as a non-root user.
# docker build -t llm-gateway . && docker run -e DJANGO_SECRET_KEY=... -e MONGO_URI=... -p 8000:8000 llm-gateway
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# uv from PyPI, the same pin scripts/bootstrap.sh uses; never a Python download.
ENV UV_PYTHON_DOWNLOADS=never UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PROJECT_ENVIRONMENT=/app/.venv
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app
# The lock alone first, so a code change does not reinstall the dependencies.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 gateway \
    && useradd --system --uid 10001 --gid gateway --home-dir /var/lib/gateway --create-home --shell /usr/sbin/nologin gateway
WORKDIR /app
COPY --from=build /app/.venv /app/.venv
# The code stays owned by root and read-only to the gateway user; it writes only under /var/lib/gateway
# (the usage spool: mount a volume there) and /tmp.
COPY . /app
RUN mkdir -p /app/staticfiles && chmod 0755 /app/deploy/entrypoint.sh
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LITELLM_LOCAL_MODEL_COST_MAP=True \
    LOG_FORMAT=json \
    GATEWAY_SPOOL_DIR=/var/lib/gateway/spool
USER gateway:gateway
EXPOSE 8000
# Liveness only (no I/O behind /healthz); /readyz is for the load balancer.
HEALTHCHECK --interval=10s --timeout=3s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
ENTRYPOINT ["/app/deploy/entrypoint.sh"]
CMD ["serve"]
