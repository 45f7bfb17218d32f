"""KFP interface of :mod:`kfp_governance.executors.register_model`."""

from kfp import dsl
from kfp.dsl import Artifact, Input, Model, Output

from kfp_governance.components._image import REGISTRY_IMAGE


@dsl.component(base_image=REGISTRY_IMAGE, install_kfp_package=False)
def register_model(
    model: Input[Model],
    blessing: Input[Artifact],
    model_card_json: Input[Artifact],
    anomalies: Input[Artifact],
    evaluation: Input[Artifact],
    fairness: Input[Artifact],
    explanation: Input[Artifact],
    registration: Output[Artifact],
    registry_backend: str = "mlflow",
    registry_uri: str = "",
    model_name: str = "kfp-governance-model",
    pipeline_run_id: str = "",
    pipeline_run_name: str = "",
):
    """Register the candidate model, blessed or not, with all its evidence; make a blessed one ``challenger``.

    The version holds the model folder and the given evidence files (their
    sha256 in a manifest); its tags summarise them: data URI and sha256,
    schema and statistics hashes, metrics, fairness per attribute, the
    explanation method, the gate's decision, failed checks and policy sha256,
    the model card's location, package version, git commit, image, pipeline
    run and model sha256. The model file's sha256 is checked first, and a
    blessing or evidence about another model is refused. A retried task (same
    ``pipeline_run_id``, same model file) returns the version already
    registered. The audit trail gets ``registered`` and ``gate_decision``.
    ``registration`` is the JSON registration record (name, version, aliases).

    ``registry_uri`` empty means the default of the backend: for ``mlflow``, a
    SQLite file in the user's data folder shared by every local run; an
    MLflow server is ``http://host:port``.

    Usage in a pipeline::

        register = register_model(model=train.outputs["model"], blessing=judge.outputs["blessing"],
                                  model_card_json=card.outputs["model_card_json"],
                                  anomalies=validate.outputs["anomalies"], evaluation=evaluate.outputs["evaluation"],
                                  fairness=fair.outputs["fairness"], explanation=explain.outputs["explanation"],
                                  registry_uri="http://mlflow.kubeflow:5000", model_name="credit-risk",
                                  pipeline_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
                                  pipeline_run_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER)
        register.set_caching_options(False)
    """
    from kfp_governance.config import RegistryConfig
    from kfp_governance.executors.register_model import register_model as execute
    from kfp_governance.launcher import step
    from kfp_governance.registry import open_registry

    with step("register_model"):
        registry = open_registry(RegistryConfig(backend=registry_backend, model_name=model_name,
                                                tracking_uri=registry_uri or None))
        result = execute(
            model.path, model_name=model_name, registry=registry, blessing_json=blessing.path,
            model_card_json=model_card_json.path, validation_json=anomalies.path, evaluation_json=evaluation.path,
            fairness_json=fairness.path, explanation_json=explanation.path, pipeline_run_id=pipeline_run_id,
            pipeline_run_name=pipeline_run_name, expected_model_sha256=model.metadata.get("model_sha256"),
            output_json=registration.path,
        )
        registration.metadata.update(result.metadata())
