"""The one small interface every model registry backend implements (MLflow, Vertex AI).

Registration, champion resolution, approval, deployment and ``audit`` talk to
a :class:`Registry` only; the backend is chosen by ``registry.backend`` at run
time (:func:`kfp_governance.registry.open_registry`), so one compiled pipeline
runs against MLflow on-prem or locally and against Vertex AI Model Registry.

Words mean the same on every backend:

- a **version** is one registered model file (by its sha256) with its
  evidence; versions are strings (``"1"``, ``"2"``, ...);
- **aliases** ``challenger`` (the newest blessed version) and ``champion``
  (the version in production) point at one version each;
- the **approval** of a version is ``pending``, ``approved`` or ``rejected``,
  with who and why;
- the **audit trail** of a model is append-only: every registration, gate
  decision, approval, deployment, promotion and rollback is one
  :class:`AuditRecord`, stored with the registry, so ``audit`` answers from the
  registry alone.
"""

from __future__ import annotations

import abc
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

CHAMPION, CHALLENGER = "champion", "challenger"
APPROVAL_STATES = ("pending", "approved", "rejected")
ACTIONS = ("registered", "gate_decision", "approved", "rejected", "deployed", "canary_started", "canary_judged",
           "promoted", "rolled_back", "deploy_skipped", "alias_set")

Approval = Literal["pending", "approved", "rejected"]


@dataclass(frozen=True)
class ModelVersion:
    """One registered version: what it is (model sha256), where its files are, and what is recorded about it."""

    name: str
    version: str
    model_sha256: str
    source_uri: str  # where the model folder (model.joblib, model_record.json) and its evidence live
    aliases: tuple[str, ...] = ()
    approval: Approval = "pending"
    tags: dict[str, str] = field(default_factory=dict)
    created_at: str = ""

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["aliases"] = list(self.aliases)
        return out


@dataclass(frozen=True)
class AuditRecord:
    """One action on a model version: who did what, when, why, with the figures that decided it."""

    action: str
    model_name: str
    version: str | None
    actor: str
    at: str  # ISO 8601, UTC
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    sequence: int = 0  # assigned by the registry: the order records were appended in

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Registry(abc.ABC):
    """A model registry. Every method raises :class:`kfp_governance.errors.RegistryError` (a user-facing
    error: which registry, what failed, the fix) when the registry cannot be reached after a bounded retry."""

    backend: str = ""

    @abc.abstractmethod
    def register(self, name: str, model_dir: Path, *, evidence_dir: Path | None, tags: dict[str, str],
                 run_id: str) -> ModelVersion:
        """Register the model folder (and its evidence files) as a new version of ``name``.

        Idempotent: a version with the same ``run_id`` and model sha256 is returned
        as it is, never duplicated. Nothing is half-registered: on failure no
        version exists.
        """

    @abc.abstractmethod
    def get_version(self, name: str, version: str) -> ModelVersion:
        """The version, or :class:`kfp_governance.errors.RegistryError` naming it when it does not exist."""

    @abc.abstractmethod
    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of ``name``, oldest first (empty when the model is not registered)."""

    @abc.abstractmethod
    def alias(self, name: str, alias: str) -> ModelVersion | None:
        """The version an alias points at, or ``None``."""

    @abc.abstractmethod
    def set_alias(self, name: str, alias: str, version: str) -> None:
        """Point ``alias`` at ``version`` (moving it from any other version)."""

    @abc.abstractmethod
    def delete_alias(self, name: str, alias: str) -> None:
        """Remove ``alias`` if it is set."""

    @abc.abstractmethod
    def set_approval(self, name: str, version: str, state: Approval) -> None:
        """Record the approval state of a version (the audit record says who and why)."""

    @abc.abstractmethod
    def download(self, name: str, version: str, destination: Path) -> Path:
        """Copy the version's model folder into ``destination``; return the folder. The caller verifies the hash."""

    @abc.abstractmethod
    def append_audit(self, record: AuditRecord) -> AuditRecord:
        """Append one record to the model's trail (never overwriting); return it with its sequence number."""

    @abc.abstractmethod
    def audit(self, name: str, version: str | None = None) -> list[AuditRecord]:
        """The model's records (of one version, or all), in the order they were appended."""

    def evidence(self, name: str, version: str) -> dict[str, Any]:
        """The version's registered evidence documents by kind (``blessing``, ``model_card``, ...), parsed JSON.

        Backends that store evidence override this; the default has none.
        """
        return {}

    def identity(self) -> str | None:
        """The authenticated user of this registry client, where the backend has one (else ``None``)."""
        return None
