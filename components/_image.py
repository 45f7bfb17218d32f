"""Where component images come from: ``<registry>/<family>:<tag>``.

One place decides every image, as google-cloud-pipeline-components does:
the tag equals the package version, and a platform team points the registry
at its own mirror (air-gapped clusters) when it compiles:

* ``KFP_GOVERNANCE_IMAGE_REGISTRY``: registry and path prefix
  (default ``ghcr.io/kfp-governance``);
* ``KFP_GOVERNANCE_IMAGE_TAG``: the tag (default: the package version);
* ``KFP_GOVERNANCE_IMAGE_PIN_<FAMILY>`` (``_VALIDATION``, ``_TRAINING``,
  ``_REGISTRY``, ``_SERVING``; ``KFP_GOVERNANCE_IMAGE_<FAMILY>`` also works for
  all but the registry family): one family's full reference, which wins over
  both; this is how to pin by digest, since each image has its own
  (``registry.internal/kfp-governance-training@sha256:...``).

The variables are read when this module is first imported, i.e. at compile
time, so set them before importing ``kfp_governance.components``.

>>> image_for("training").endswith(":" + __import__("kfp_governance").__version__)
True
"""

from __future__ import annotations

import os

from kfp_governance import __version__

DEFAULT_REGISTRY = "ghcr.io/kfp-governance"
FAMILIES = ("validation", "training", "registry", "serving")


def image_for(family: str) -> str:
    """The image reference of a runtime family (``validation``, ``training``, ``registry``, ``serving``)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown image family {family!r}; expected one of {FAMILIES}")
    # KFP_GOVERNANCE_IMAGE_PIN_<FAMILY> for every family; the older KFP_GOVERNANCE_IMAGE_<FAMILY> too, except for the
    # registry family, whose old name is the registry prefix's variable.
    pinned = os.environ.get(f"KFP_GOVERNANCE_IMAGE_PIN_{family.upper()}")
    if not pinned and family != "registry":
        pinned = os.environ.get(f"KFP_GOVERNANCE_IMAGE_{family.upper()}")
    if pinned:
        return pinned
    registry = os.environ.get("KFP_GOVERNANCE_IMAGE_REGISTRY", DEFAULT_REGISTRY).rstrip("/")
    tag = os.environ.get("KFP_GOVERNANCE_IMAGE_TAG", __version__)
    separator = "" if tag.startswith("@") else ":"
    return f"{registry}/kfp-governance-{family}{separator}{tag}"


VALIDATION_IMAGE = image_for("validation")
TRAINING_IMAGE = image_for("training")
REGISTRY_IMAGE = image_for("registry")
SERVING_IMAGE = image_for("serving")


def record_image(task) -> None:
    """Tell a pipeline task the image reference it runs in, for the lineage it records.

    Sets ``KFP_GOVERNANCE_IMAGE`` on the task's container (KFP and Vertex AI
    pass it to the pod; ``kfp.local`` ignores it, so local runs record
    ``local``). With a digest-pinned reference the digest is recorded too.
    """
    task.set_env_variable("KFP_GOVERNANCE_IMAGE", task.container_spec.image)
