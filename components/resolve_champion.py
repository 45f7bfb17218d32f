"""KFP interface of :mod:`kfp_governance.executors.resolve_champion`."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Model, Output

from kfp_governance.components._image import REGISTRY_IMAGE


@dsl.component(base_image=REGISTRY_IMAGE, install_kfp_package=False)
def resolve_champion(
    champion: Output[Model],
    registry_backend: str = "mlflow",
    registry_uri: str = "",
    model_name: str = "kfp-governance-model",
    pinned_uri: str = "",
    pinned_sha256: str = "",
) -> NamedTuple("Outputs", [("champion_uri", str), ("champion_sha256", str), ("champion_version", str)]):
    """Find the registry's ``champion`` of ``model_name`` and hand it to the gate, or nothing on a first run.

    The champion's model folder is downloaded into ``champion`` and its
    ``model.joblib`` must have the sha256 the registry recorded for that
    version: a changed file fails the step. ``champion_uri`` is the folder's
    path (pass it, with ``champion_sha256``, wherever a champion model URI and
    its pinned hash are expected); all three outputs are ``""`` when the model
    has no champion yet, and the evaluation and the gate then treat the
    candidate as a first model. ``registry_uri`` empty means the backend's
    default (for ``mlflow``: the per-user SQLite file every local run shares).
    ``pinned_uri`` (with ``pinned_sha256``), the config's ``champion:``, names
    the champion instead of the registry: it is passed on as it is, and the
    tasks that read it verify its hash.

    Usage in a pipeline::

        current = resolve_champion(registry_uri="http://mlflow.kubeflow:5000", model_name="credit-risk")
        current.set_caching_options(False)
        evaluate = evaluate_model(model=train.outputs["model"], eval_data=load.outputs["eval_data"],
                                  champion_model_uri=current.outputs["champion_uri"],
                                  champion_model_sha256=current.outputs["champion_sha256"])
    """
    from collections import namedtuple

    from kfp_governance.config import RegistryConfig
    from kfp_governance.executors.resolve_champion import resolve_champion as execute
    from kfp_governance.launcher import step
    from kfp_governance.registry import open_registry

    outputs = namedtuple("Outputs", ["champion_uri", "champion_sha256", "champion_version"])
    if pinned_uri:
        champion.metadata.update({"model_sha256": pinned_sha256, "pinned_uri": pinned_uri, "found": True})
        return outputs(pinned_uri, pinned_sha256, "")
    with step("resolve_champion"):
        registry = open_registry(RegistryConfig(backend=registry_backend, model_name=model_name,
                                                tracking_uri=registry_uri or None))
        result = execute(registry, model_name=model_name, output_dir=champion.path)
        champion.metadata.update({"model_sha256": result.model_sha256, "version": result.version,
                                  "model_name": model_name, "found": result.found})
    # Where the next task can read the folder: its URI on a cluster (gs://, read through Vertex's /gcs mount),
    # the local path under kfp.local.
    where = champion.uri if "://" in champion.uri and not champion.uri.startswith("file://") else champion.path
    return outputs(where if result.found else "", result.model_sha256, result.version)
