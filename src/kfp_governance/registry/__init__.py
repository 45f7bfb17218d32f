"""Model registries behind one interface, chosen by ``registry.backend`` at run time.

:func:`open_registry` returns the backend the configuration names: ``mlflow``
(a SQLite file in a per-user folder by default, an MLflow server when
``tracking_uri`` is ``http(s)://...``) or ``vertex`` (Vertex AI Model
Registry). Backends import their client libraries only when opened, so
importing this package stays light.

>>> from kfp_governance.registry import CHAMPION, CHALLENGER, open_registry
>>> CHAMPION, CHALLENGER
('champion', 'challenger')
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kfp_governance.errors import ConfigError
from kfp_governance.registry.base import (
    ACTIONS,
    APPROVAL_STATES,
    CHALLENGER,
    CHAMPION,
    Approval,
    AuditRecord,
    ModelVersion,
    Registry,
)

if TYPE_CHECKING:
    from kfp_governance.config import RegistryConfig

BACKENDS = ("mlflow", "vertex")


def open_registry(config: RegistryConfig | None = None, **overrides: Any) -> Registry:
    """The registry ``config`` names (``None``: the default, MLflow in the per-user SQLite file).

    ``overrides`` replace config fields (``backend=``, ``tracking_uri=``), as the
    components pass them from pipeline parameters. For ``vertex`` the settings
    come from ``VertexRegistry.from_config`` when that backend has one, else from
    ``config.vertex`` (``project``, ``location``, ``staging_uri``, optional
    ``serving_image``, default the serving image of this package version).
    """
    backend = overrides.get("backend") or (config.backend if config is not None else "mlflow")
    tracking_uri = overrides.get("tracking_uri", config.tracking_uri if config is not None else None) or None
    if backend == "mlflow":
        from kfp_governance.registry.mlflow_registry import MlflowRegistry

        return MlflowRegistry(tracking_uri)
    if backend == "vertex":
        from kfp_governance.registry.vertex import VertexRegistry

        if hasattr(VertexRegistry, "from_config"):
            return VertexRegistry.from_config(config, **overrides)
        vertex = getattr(config, "vertex", None)
        if vertex is None:
            raise ConfigError("registry.backend is 'vertex' but registry.vertex is not set",
                              fix="set registry.vertex.project, .location and .staging_uri")
        from kfp_governance.components._image import image_for

        return VertexRegistry(vertex.project, vertex.location, vertex.staging_uri,
                              overrides.get("serving_image") or getattr(vertex, "serving_image", None)
                              or image_for("serving"))
    raise ConfigError(f"unknown registry backend {backend!r} (registry.backend)",
                      fix=f"choose one of {', '.join(BACKENDS)}")


__all__ = ["open_registry", "BACKENDS", "Registry", "ModelVersion", "AuditRecord", "Approval", "CHAMPION",
           "CHALLENGER", "APPROVAL_STATES", "ACTIONS"]
