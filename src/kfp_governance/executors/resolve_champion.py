"""Give the gate the current champion: its model folder (downloaded, hash-verified), sha256 and version.

On a first run (the model is not registered yet, or no version is
``champion``) the result is empty: ``model_dir`` ``""``, and the gate skips
its regression checks with a reason, as for any first model.

The downloaded ``model.joblib`` must have the sha256 recorded in the
registry for that version (``model_sha256``); a changed file is refused with
an :class:`~kfp_governance.errors.IntegrityError`, never handed to the gate.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kfp_governance.errors import IntegrityError
from kfp_governance.model_io import verify_model
from kfp_governance.registry import CHAMPION

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChampionResult:
    """The champion's local folder, sha256 and version; all ``""`` when there is no champion yet."""

    model_dir: str = ""
    model_sha256: str = ""
    version: str = ""

    @property
    def found(self) -> bool:
        return bool(self.version)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def resolve_champion(registry: Any, *, model_name: str, output_dir: str | Path) -> ChampionResult:
    """Download the ``champion`` of ``model_name`` into ``output_dir`` and verify it; empty on a first run.

    ``registry`` is a :class:`~kfp_governance.registry.base.Registry`, a
    :class:`~kfp_governance.config.RegistryConfig` or ``None`` (the per-user
    local MLflow registry).
    """
    from kfp_governance.executors.register_model import as_registry

    registry = as_registry(registry)
    champion = registry.alias(model_name, CHAMPION)
    if champion is None:
        log.info("model %s has no %s yet: first run", model_name, CHAMPION)
        return ChampionResult()
    if not champion.model_sha256:
        raise IntegrityError(f"version {champion.version} of {model_name!r} has no recorded model_sha256",
                             fix="register the champion with kfp-governance's register_model, then set the alias")
    folder = registry.download(model_name, champion.version, Path(output_dir))
    try:
        verify_model(folder, champion.model_sha256)
    except IntegrityError as err:
        raise IntegrityError(f"the champion of {model_name!r} (version {champion.version}) does not match its "
                             f"registered sha256 {champion.model_sha256[:12]}: {err.what}",
                             fix="the registered files changed after registration: register the model again and "
                                 "set the champion alias on the new version") from None
    log.info("champion of %s: version %s (%s)", model_name, champion.version, champion.model_sha256[:12])
    return ChampionResult(model_dir=str(folder), model_sha256=champion.model_sha256, version=champion.version)


__all__ = ["ChampionResult", "resolve_champion"]
