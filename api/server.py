"""Serve the API with uvicorn: check the keys and the bind address, then run until stopped."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import uvicorn

from api.app import create_app
from api.auth import check_bind, load_keys
from core.settings import ApiSettings

log = logging.getLogger(__name__)


def serve(root: Path, settings: ApiSettings, host: str | None = None, port: int | None = None,
          log_level: str = "warning") -> None:
    """Serve the workspace at `root` on `host`:`port` (default the settings') until stopped.

    Refuses (`InputError`) a non-loopback host without keys, before anything starts.
    """
    keys = load_keys(settings)
    bind = host or settings.host
    check_bind(bind, keys)
    torch.set_num_threads(settings.torch_threads)
    app = create_app(Path(root), settings, keys)
    config = uvicorn.Config(app, host=bind, port=settings.port if port is None else port,
                            log_level=log_level, access_log=False, lifespan="on",
                            timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    log.info("scoring API for %s on http://%s:%d (%s)", root, bind, config.port,
             "API keys required" if keys.required else "loopback only, no keys")
    server.run()
