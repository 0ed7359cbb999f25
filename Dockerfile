# Edgeward container image.
#   docker build -t edgeward .                        # the proxy
#   docker build -t edgeward:dev --build-arg EXTRAS=demo .   # plus demo backend and dev IdP
# Multi-stage: the build stage installs into a virtualenv; the runtime stage copies only
# that virtualenv, so no compilers, pip caches or sources beyond the package end up in it.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ARG EXTRAS=""
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY proxy ./proxy
COPY demo_backend ./demo_backend
RUN /opt/venv/bin/pip install ".${EXTRAS:+[$EXTRAS]}"

FROM ${PYTHON_IMAGE} AS runtime
# A fixed numeric uid/gid so Kubernetes runAsNonRoot can verify it without a passwd lookup.
RUN groupadd --system --gid 10001 edgeward \
 && useradd --system --uid 10001 --gid edgeward --no-create-home --shell /usr/sbin/nologin edgeward
COPY --from=build /opt/venv /opt/venv
COPY deploy/examples/edgeward.yaml /etc/edgeward/edgeward.yaml
# The root filesystem may be read-only at run time: no .pyc writes, unbuffered JSON logs.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    EDGEWARD_LISTEN=0.0.0.0:8080 \
    EDGEWARD_ADMIN_LISTEN=0.0.0.0:9090
USER 10001:10001
EXPOSE 8080 9090
# /livez checks only that the process serves (no dependencies), so a Redis or IdP outage
# never gets the container restarted; readiness is /readyz, for orchestrators.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9090/livez', timeout=2)"]
ENTRYPOINT ["edgeward"]
CMD ["run", "--config", "/etc/edgeward/edgeward.yaml"]
