"""Where and how reproducibly torch runs: seeds, device choice, mixed precision."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int, *, deterministic: bool = True) -> None:
    """Seed python, numpy and torch; optionally request deterministic torch kernels.

    Deterministic mode uses ``warn_only`` so an op without a deterministic kernel warns
    instead of failing (CUDA also needs ``CUBLAS_WORKSPACE_CONFIG``, set here if absent).
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def select_device(preference: str = "auto", *, num_threads: int = 2) -> torch.device:
    """Pick CUDA when available (or as requested), else CPU with a bounded thread count."""
    if preference == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(preference)
    if device.type == "cpu":
        torch.set_num_threads(max(1, min(os.cpu_count() or 1, num_threads)))
    return device


def autocast_dtype(device: torch.device, enabled: bool) -> torch.dtype | None:
    """bf16 where supported, else fp16; only on CUDA (CPU runs in fp32)."""
    if not enabled or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
