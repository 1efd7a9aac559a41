# syntax=docker/dockerfile:1
# smpp-gateway container: `docker build -t smpp-gateway .` (see docs/operations.md, "Container").
#
# Two stages: the builder makes a virtualenv with the gateway and its dependencies; the
# final image copies only that venv onto the same slim Python base (the venv's python is a
# symlink to the base image's), runs as a non-root user, and keeps config and state in
# volumes.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/smpp-gateway
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway ./gateway
RUN /opt/smpp-gateway/bin/pip install . \
 && /opt/smpp-gateway/bin/smpp-gateway --help > /dev/null

FROM ${PYTHON_IMAGE}
# A fixed uid/gid, so volume ownership can be prepared on the host (chown 10001:10001).
RUN groupadd --system --gid 10001 smpp-gateway \
 && useradd --system --uid 10001 --gid smpp-gateway --no-create-home \
        --home-dir /var/lib/smpp-gateway --shell /usr/sbin/nologin smpp-gateway \
 && mkdir -p /etc/smpp-gateway /var/lib/smpp-gateway \
 && chown smpp-gateway:smpp-gateway /var/lib/smpp-gateway \
 && chmod 0700 /var/lib/smpp-gateway
COPY --from=builder /opt/smpp-gateway /opt/smpp-gateway
# Every setting at its default; mount your own file (or a volume) over /etc/smpp-gateway,
# or override single settings with SMPP_GATEWAY_* variables.
COPY config/gateway.example.toml /etc/smpp-gateway/gateway.toml

# A container must listen beyond its own loopback to be reachable at all, so the image
# overrides the loopback default of http.listen. The API still needs an API key.
ENV PATH=/opt/smpp-gateway/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    SMPP_GATEWAY_HTTP_LISTEN=0.0.0.0:8080 \
    SMPP_GATEWAY_STORE_PATH=/var/lib/smpp-gateway/gateway.db

# numeric, so Kubernetes runAsNonRoot can verify it
USER 10001:10001
WORKDIR /var/lib/smpp-gateway
EXPOSE 8080
VOLUME ["/etc/smpp-gateway", "/var/lib/smpp-gateway"]

# No curl in the slim image: the check is Python's urllib, on the port of http.listen.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; port = os.environ.get('SMPP_GATEWAY_HTTP_LISTEN', ':8080').rsplit(':', 1)[1]; urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4)"]

# gunicorn's master is PID 1: it handles SIGTERM (HTTP workers, then the engine drains and
# unbinds, then the dispatcher; exit 0) and reaps its children. Give `docker stop` more
# than http.graceful_timeout: docker stop -t 60.
STOPSIGNAL SIGTERM
ENTRYPOINT ["smpp-gateway"]
CMD ["run", "--config", "/etc/smpp-gateway/gateway.toml"]
