# syntax=docker/dockerfile:1
# AI-SRE image: one image for the API, the worker and the migrate job (see docker-compose.yml).
#   docker build -t ai-sre .
#   docker run --rm -p 8000:8000 -e AI_SRE_... ai-sre            # API
#   docker run --rm -e AI_SRE_... ai-sre aisre worker              # worker

ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------------------------
# builder: resolve the locked dependency set into /app/.venv with uv
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

# uv comes from PyPI through pip: no installer script, no binary download from elsewhere.
ARG UV_VERSION=0.13.8
RUN pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"

# Use the image's interpreter (the runtime stage has the same one at the same path), never a
# downloaded one; compile bytecode now because the runtime user cannot write it later.
ENV UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy

WORKDIR /app

# Dependencies first: this layer is rebuilt only when pyproject.toml or uv.lock change,
# not on every source edit.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project

# Then the project itself. One COPY per directory: a multi-source COPY would flatten them.
# README.md is needed because pyproject's `readme` makes hatchling read it during the build.
COPY README.md ./
COPY domain ./domain
COPY adapters ./adapters
COPY activities ./activities
COPY workflows ./workflows
COPY worker ./worker
COPY api ./api
COPY cli ./cli
COPY config ./config
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev

# ---------------------------------------------------------------------------------------------
# runtime: same base image, no uv, no build tools, non-root
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

RUN groupadd --system --gid 10001 aisre \
    && useradd --system --uid 10001 --gid aisre --create-home --home-dir /home/aisre \
       --shell /usr/sbin/nologin aisre

WORKDIR /app

# Code and venv stay owned by root (read-only for the service user); the venv's scripts point
# at /app/.venv/bin/python, so it must live at the same path as in the builder.
COPY --from=builder /app /app
RUN mkdir -p /app/data && chown aisre:aisre /app/data

# Numeric so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001

EXPOSE 8000

# slim has no curl: probe with the standard library. Only meaningful for the API command;
# docker-compose.yml disables it for the worker and the migrate job.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4); sys.exit(0 if r.status == 200 else 1)"]

# Bind to all interfaces: inside a container 127.0.0.1 is unreachable from the published port.
CMD ["aisre", "api", "--host", "0.0.0.0", "--port", "8000"]
