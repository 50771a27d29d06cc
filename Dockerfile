# syntax=docker/dockerfile:1
#
# hostns-operator container image.
#
# Two stages:
#   build    Debian 12 with its own python3 (3.11): a virtualenv at /venv, filled with
#            the same recipe as the README (`pip install -r requirements.lock` then
#            `pip install --no-deps .`), so the image and a developer install cannot drift.
#   runtime  distroless python3-debian12 (Python 3.11 at /usr/bin/python3, no shell, no
#            package manager), running as UID/GID 65532.
#
# Why Debian's python3 and not the python:3.11-slim image for the build stage: a venv's
# bin/python3 is a symlink to the interpreter that created it. python:3.11-slim keeps its
# interpreter in /usr/local/bin, distroless keeps Debian's in /usr/bin, so a venv built on
# python:3.11-slim has a dangling interpreter in distroless. Building with Debian 12's own
# /usr/bin/python3 (the interpreter distroless ships) keeps the link valid. This is the
# pattern of distroless' own examples/python3-requirements.
#
# Base images are pinned by tag AND digest. The digests were not pulled here (no Docker
# engine or registry access in this workplace); each was taken from public, bot-maintained
# (Renovate) Dockerfiles that agree on it for that tag:
#   debian:bookworm-20240311-slim  sha256:ccb33c3a... (also published as debian:12-slim then)
#   gcr.io/distroless/python3-debian12:nonroot  sha256:17b27c84...
# Re-pin both with `docker buildx imagetools inspect <tag>` (or Renovate) when updating.

FROM debian:bookworm-20240311-slim@sha256:ccb33c3ac5b02588fc1d9e4fc09b952e433d0c54d8618d0ee1afadf1f3cf2455 AS build

ARG DEBIAN_FRONTEND=noninteractive
# python3-venv pulls python3.11-venv and python3.11 (3.11.2, the same upstream release as
# the distroless runtime). Every dependency in requirements.lock ships cp311 manylinux
# wheels for amd64 and arm64, so no compiler is installed.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends python3-venv=3.11.2-1+b1 \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /venv

WORKDIR /src
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Dependencies first: this layer is rebuilt only when the lock changes.
COPY requirements.lock ./
RUN /venv/bin/pip install --no-cache-dir -r requirements.lock

COPY pyproject.toml README.md ./
COPY operator/ operator/
# The package itself, without dependencies (they are exactly the lock's); then drop the
# installer from the runtime venv (nothing installs anything at run time) and prove the
# console script imports.
RUN /venv/bin/pip install --no-cache-dir --no-deps . \
    && /venv/bin/python3 -m pip uninstall --yes pip setuptools \
    && /venv/bin/hostns --help > /dev/null


FROM gcr.io/distroless/python3-debian12:nonroot@sha256:17b27c84c985a53d0cd2adef4f196ca327fa9b6755369be605cf45533b4e700b

LABEL org.opencontainers.image.title="hostns-operator" \
      org.opencontainers.image.description="Kubernetes operator that detects pods attached to host namespaces (hostNetwork, hostPID, hostIPC), with image-based exceptions." \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/hostns/hostns-operator" \
      org.opencontainers.image.base.name="gcr.io/distroless/python3-debian12:nonroot" \
      org.opencontainers.image.base.digest="sha256:17b27c84c985a53d0cd2adef4f196ca327fa9b6755369be605cf45533b4e700b"

# The venv is owned by root and read-only for the operator's user. pip compiled every
# module to bytecode at install time, so with PYTHONDONTWRITEBYTECODE nothing is written
# at run time: the container runs with readOnlyRootFilesystem.
COPY --from=build /venv /venv

ENV PATH=/venv/bin:/usr/bin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 65532:65532

# /metrics (Prometheus) and /healthz (liveness), see `hostns run --port`.
EXPOSE 8080

# No HEALTHCHECK: Kubernetes ignores it and probes /healthz itself (deploy/base), and the
# image has no HTTP client to run one with.
# checkov:skip=CKV_DOCKER_2: Kubernetes ignores HEALTHCHECK; liveness/readiness probes on /healthz are in deploy/base.

ENTRYPOINT ["/venv/bin/hostns", "run"]
