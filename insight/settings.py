"""One settings object for the whole application.

Values come, in increasing priority, from the defaults below, an optional YAML file
(`INSIGHT_CONFIG=path/to/settings.yaml`), and `INSIGHT_*` environment variables
(nested fields use `__`, e.g. `INSIGHT_INGEST__CHUNK_ROWS=500000`).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)


class IngestSettings(BaseModel):
    """How raw files are read into the workspace."""

    chunk_rows: int = Field(1_000_000, description="Rows per streamed chunk (bounds memory).")
    block_size_bytes: int = Field(16 << 20, description="CSV reader block size.")


class Settings(BaseSettings):
    """Application settings; see the module docstring for the sources."""

    model_config = SettingsConfigDict(env_prefix="INSIGHT_", env_nested_delimiter="__")

    workspace: Path = Field(Path("workspace"), description="Workspace directory.")
    log_level: str = "WARNING"
    ingest: IngestSettings = IngestSettings()

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
