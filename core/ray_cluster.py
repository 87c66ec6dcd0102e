"""Ray for the scale-out engines (`insight score|index --engine ray`): connect, size, release.

One place decides how the engines reach Ray: an address (`auto` for the cluster this node
belongs to, `HOST:PORT` of a head node, or a `ray://` client address), or none to start a
private local Ray for the run; how many model actors to run; and whether each gets a GPU.
A Ray already initialised by the caller (a test fixture, a notebook) is used as it is and
left running.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from core.errors import InputError, WorkspaceError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ActorPlan:
    """How many model actors to run and what each one asks Ray for."""

    workers: int
    num_cpus: float
    num_gpus: float

    def map_batches_args(self) -> dict[str, Any]:
        """Keyword arguments of `Dataset.map_batches` that place the actors."""
        from ray.data import ActorPoolStrategy

        return {"compute": ActorPoolStrategy(size=self.workers), "num_cpus": self.num_cpus,
                "num_gpus": self.num_gpus}


@contextlib.contextmanager
def ray_session(address: str | None = None) -> Iterator[Any]:
    """Yield the `ray` module connected to `address` (None: a new local Ray, shut down after).

    A connection failure becomes a `WorkspaceError` naming the address.
    """
    import ray

    if ray.is_initialized():
        yield ray
        return
    try:
        ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING,
                 configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = address or "a new local instance"
        raise WorkspaceError(f"cannot start or reach Ray at {where}: {exc}") from exc
    log.info("ray: connected to %s (%s)", address or "a new local instance",
             ray.cluster_resources())
    try:
        yield ray
    finally:
        ray.shutdown()


def plan_actors(workers: int | None = None) -> ActorPlan:
    """Actors for a running Ray: one GPU each when the cluster has GPUs, else a CPU share each.

    `workers` defaults to the cluster's GPUs (or CPUs); more actors than a cluster can place
    would wait forever, so that is refused up front.
    """
    import ray

    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    cpus = max(1, int(resources.get("CPU", 1)))
    capacity = gpus or cpus
    if workers is not None and workers < 1:
        raise InputError(f"--workers must be at least 1 (got {workers})")
    chosen = workers or capacity
    if chosen > capacity:
        unit = "GPUs" if gpus else "CPUs"
        raise InputError(f"--workers {chosen} is more than the Ray cluster's {capacity} {unit}")
    # One CPU stays free for Ray Data's read tasks: actors holding every CPU would starve
    # them and the pipeline would never start (the actors run one torch thread each anyway).
    share = min(1.0, max(0.1, (cpus - 1) / chosen))
    return ActorPlan(workers=chosen, num_cpus=round(share, 2), num_gpus=1.0 if gpus else 0.0)


@contextlib.contextmanager
def ordered_data(progress: bool) -> Iterator[None]:
    """Make Ray Data keep input order (outputs line up with the in-process engine's) and show
    or hide its progress bars, restoring the driver's previous settings afterwards."""
    from ray.data import DataContext

    ctx = DataContext.get_current()
    saved = (ctx.execution_options.preserve_order, ctx.enable_progress_bars)
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = progress
    try:
        yield
    finally:
        ctx.execution_options.preserve_order, ctx.enable_progress_bars = saved
