"""The one small interface every serving backend implements (a local process, KServe, Vertex AI).

Deployment (``kfp_governance.executors.deploy_model``) talks to a
:class:`ServingBackend` only, chosen by ``serving.backend`` at run time. The
canary is addressed directly, apart from the champion, so it can be judged
on its own answers before it takes all traffic.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Endpoint:
    """Where one deployed model version answers: the base URL of the KServe v1/v2 protocol, and its model name."""

    url: str  # e.g. http://127.0.0.1:8080 ; v1: {url}/v1/models/{model}:predict ; v2: {url}/v2/models/{model}/infer
    model: str
    version: str
    model_sha256: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Rollout:
    """The state of a deployment: the stable (champion) endpoint, the canary, and the canary's traffic share."""

    service: str
    stable: Endpoint | None
    canary: Endpoint | None
    canary_percent: int


class ServingBackend(abc.ABC):
    backend: str = ""

    @abc.abstractmethod
    def start_canary(self, service: str, model_dir: Path, *, version: str, model_sha256: str,
                     percent: int) -> Rollout:
        """Deploy ``model_dir`` beside the current stable version, taking ``percent`` of the traffic.

        The model file's sha256 must equal ``model_sha256`` or nothing is deployed.
        Resumable: a retried call for the same version returns the running canary.
        """

    @abc.abstractmethod
    def promote(self, service: str) -> Rollout:
        """The canary becomes the stable version at 100% of the traffic; the old stable one is removed."""

    @abc.abstractmethod
    def rollback(self, service: str) -> Rollout:
        """Remove the canary; the stable version keeps (or gets back) 100% of the traffic."""

    @abc.abstractmethod
    def status(self, service: str) -> Rollout | None:
        """What is deployed now, or ``None`` when nothing is."""

    @abc.abstractmethod
    def stop(self, service: str) -> None:
        """Remove everything deployed for ``service`` (local processes are stopped)."""
