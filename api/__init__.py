"""The scoring API: live next-item, intent, churn and segment scores over HTTP (`insight api`).

Modules, one job each: :mod:`api.app` (the FastAPI app and its routes), :mod:`api.schemas`
(request and response models), :mod:`api.auth` (API keys, loopback-only mode),
:mod:`api.event_log` (the fsync'd append log of live events), :mod:`api.compact` (folding
that log into the workspace tables), :mod:`api.live_models` (checkpoints in memory, swapped
when a new one is published), :mod:`api.histories` (each user's stored plus live events),
:mod:`api.behavior` (intent, churn and segment from the saved models), :mod:`api.scoring`
(one user's or one session's scores), :mod:`api.state` (what one server process holds),
:mod:`api.audiences` (the audience builder's route), :mod:`api.metrics` (Prometheus text) and
:mod:`api.server` (uvicorn).
"""
