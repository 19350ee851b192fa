# Image Mapper: one image, both processes (design.md#the-job, #commands).
#   image-mapper serve-hooks     Metacontroller's sync hooks, plain HTTP on 8080 (the default)
#   image-mapper serve-webhook   the pod admission webhook, HTTPS on 8443
# Build: docker build -t image-mapper:latest .

FROM python:3.11.14-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/image-mapper
# Pinned runtime dependencies first: this layer is reused until requirements.txt changes.
COPY requirements.txt ./
RUN /opt/image-mapper/bin/pip install --no-cache-dir --requirement requirements.txt
COPY pyproject.toml README.md ./
COPY hooks/ hooks/
# The package with its server extra (what serve-hooks and serve-webhook need), held to the pins:
# everything is installed above, so this only checks that the extra asks for nothing else.
RUN /opt/image-mapper/bin/pip install --no-cache-dir --constraint requirements.txt '.[server]'

FROM python:3.11.14-slim-bookworm
ENV PATH=/opt/image-mapper/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN groupadd --system --gid 65532 image-mapper \
    && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin image-mapper
COPY --from=build /opt/image-mapper /opt/image-mapper
# Numeric, so that runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 8080 8443
ENTRYPOINT ["image-mapper"]
CMD ["serve-hooks"]
