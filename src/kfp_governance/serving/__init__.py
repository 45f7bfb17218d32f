"""Serving backends: where a registered model answers (a local process, KServe, Vertex AI), chosen by ``serving.backend``.

Importing this package is light: each backend's module imports its platform
client only when used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kfp_governance.serving.base import Endpoint, Rollout, ServingBackend

__all__ = ["Endpoint", "Rollout", "ServingBackend", "open_serving"]


def open_serving(config: Any, *, state_dir: str | Path | None = None, **options: Any) -> ServingBackend:
    """The serving backend ``config.serving.backend`` names (``config`` is a GovernanceConfig or its ServingConfig).

    ``local`` → :class:`~kfp_governance.serving.local.LocalProcessBackend` (state in ``state_dir``, default
    ``$KFP_GOVERNANCE_HOME/serving``); ``kserve`` → :class:`~kfp_governance.serving.kserve.KServeBackend`
    (``namespace`` and ``api`` in ``options`` or the config); ``vertex`` →
    ``kfp_governance.serving.vertex.VertexBackend``. ``options`` go to the backend's constructor.
    """
    serving = getattr(config, "serving", config)
    backend = getattr(serving, "backend", None) or (serving.get("backend") if isinstance(serving, dict) else None)
    settings = serving if isinstance(serving, dict) else getattr(serving, "__dict__", {})
    if backend == "local":
        from kfp_governance.registry.mlflow_registry import default_home
        from kfp_governance.serving.local import LocalProcessBackend

        directory = state_dir or settings.get("state_dir") or default_home() / "serving"
        options.setdefault("allow_pickle", bool(settings.get("allow_pickle", False)))
        return LocalProcessBackend(directory, **options)
    if backend == "kserve":
        from kfp_governance.serving.kserve import KServeBackend

        namespace = options.pop("namespace", None) or settings.get("namespace") or "default"
        return KServeBackend(namespace, **options)
    if backend == "vertex":
        import importlib

        module = importlib.import_module("kfp_governance.serving.vertex")
        if not settings.get("project") or not settings.get("location"):
            from kfp_governance.errors import ConfigError

            raise ConfigError("serving.backend is 'vertex' but serving.project or serving.location is not set",
                              fix="set serving.project and serving.location")
        options.setdefault("machine_type", settings.get("machine_type") or "n1-standard-2")
        return module.VertexEndpointBackend(settings["project"], settings["location"], **options)
    from kfp_governance.errors import ConfigError

    raise ConfigError(f"serving.backend must be 'local', 'kserve' or 'vertex', got {backend!r}",
                      fix="set serving.backend in the config")
