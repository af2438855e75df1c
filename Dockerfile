# syntax=docker/dockerfile:1
# One image for all four services; compose picks the service with its command, e.g.
#   docker run clusterxchange python -m services.registration
# It holds the runtime dependencies only, pinned by requirements/runtime.lock (`make lock`): never the
# [embedded] extra (embedded PostgreSQL has no linux-aarch64 wheel) nor [dev], so it builds on arm64 too.
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY requirements/runtime.lock ./requirements/runtime.lock
RUN pip wheel --wheel-dir /wheels -r requirements/runtime.lock
# README.md* so that the build works whether or not the readme exists yet.
COPY pyproject.toml README.md* ./
COPY shared ./shared
COPY services ./services
COPY cxc ./cxc
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM python:${PYTHON_VERSION}-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# smtp-tls: where compose's smtp-tls job writes Mailpit's certificate; created here so that the named
# volume mounted on it starts out owned by the service user.
RUN groupadd --system --gid 10001 cxc \
    && useradd --system --uid 10001 --gid cxc --home-dir /home/cxc --create-home --shell /usr/sbin/nologin cxc \
    && install -d -o cxc -g cxc /home/cxc/smtp-tls
# Bind-mount the wheels so they never land in a layer of the final image.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    --mount=type=bind,from=build,source=/src/requirements,target=/requirements \
    pip install --no-index --find-links /wheels -r /requirements/runtime.lock \
    && pip install --no-index --no-deps --find-links /wheels clusterxchange
WORKDIR /home/cxc
USER 10001:10001
EXPOSE 8001 8002 8003 8004
CMD ["cxc", "--help"]
