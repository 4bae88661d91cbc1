# Herald: one image for every process (entry points by argument):
#   herald operator | send | import | receiver | simulator | approve
# Multi-stage: the build stage makes a virtualenv; the final stage copies only it.
# Runs as a numeric non-root user and works with a read-only root filesystem (no
# bytecode written at run time; pods mount an emptyDir on /tmp).

ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/herald
# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml constraints.txt README.md ./
COPY crds ./crds
COPY controllers ./controllers
COPY sender ./sender
COPY herald ./herald
RUN /opt/herald/bin/pip install --no-compile -c constraints.txt . \
    && /opt/herald/bin/python -m compileall -q /opt/herald/lib

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="herald" \
      org.opencontainers.image.description="Kubernetes-native SMS campaigns over SMPP 3.4" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/herald/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=build /opt/herald /opt/herald
# Numeric, so Kubernetes can check runAsNonRoot without reading /etc/passwd.
USER 10001:10001
EXPOSE 8080 9090
ENTRYPOINT ["herald"]
CMD ["operator"]
