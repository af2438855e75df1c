# syntax=docker/dockerfile:1
# One image for all four services; compose picks the service with its command, e.g.
#   docker run clusterxchange python -m services.registration
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# README.md* so that the build works whether or not the readme exists yet.
COPY pyproject.toml README.md* ./
COPY shared ./shared
COPY services ./services
# The project and its runtime dependencies only: the [dev] extra is never installed.
RUN pip wheel --wheel-dir /wheels .

FROM python:${PYTHON_VERSION}-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN groupadd --system --gid 10001 cxc \
    && useradd --system --uid 10001 --gid cxc --home-dir /home/cxc --create-home --shell /usr/sbin/nologin cxc
# Bind-mount the wheels so they never land in a layer of the final image.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels clusterxchange
WORKDIR /home/cxc
USER 10001:10001
EXPOSE 8001 8002 8003 8004
CMD ["cxc", "--help"]
