"""KFP interface of :mod:`kfp_governance.executors.gate`."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Markdown, Metrics, Model, Output

from kfp_governance.components._image import TRAINING_IMAGE


@dsl.component(base_image=TRAINING_IMAGE, install_kfp_package=False)
def gate(
    model: Input[Model],
    train_data: Input[Dataset],
    eval_data: Input[Dataset],
    anomalies: Input[Artifact],
    evaluation: Input[Artifact],
    fairness: Input[Artifact],
    explanation: Input[Artifact],
    blessing: Output[Artifact],
    summary: Output[Markdown],
    metrics: Output[Metrics],
    policy: dict = {},
    protected_attributes: list = [],
):
    """Judge the evidence against a policy and write a blessing artifact.

    The blessing (JSON, and its metadata) records ``blessed``, every check
    with metric, value, threshold, comparison and verdict, the champion it
    compared against and the policy's sha256. Registration and deployment
    read it; they do not re-decide. An empty ``policy`` means the documented
    default policy; a policy with no threshold is refused. ``summary``
    renders in the KFP UI.

    The gate hashes the model file (checked against the Model's recorded
    sha256) and both split files itself: evidence that names another model
    or split, or does not match its published schema, fails and is not used.

    Usage in a pipeline::

        judge = gate(model=train.outputs["model"], train_data=load.outputs["train_data"],
                    eval_data=load.outputs["eval_data"], anomalies=validate.outputs["anomalies"],
                    evaluation=evaluate.outputs["evaluation"], fairness=fair.outputs["fairness"],
                    explanation=explain.outputs["explanation"], policy={"min_roc_auc": 0.85},
                    protected_attributes=[{"name": "gender", "privileged": "Male"}])
    """
    from kfp_governance.executors.gate import gate as execute
    from kfp_governance.hashing import sha256_file
    from kfp_governance.launcher import step
    from kfp_governance.model_io import verify_model

    with step("gate"):
        model_file = verify_model(model.path, model.metadata.get("model_sha256"))
        result = execute(
            policy or None, model_sha256=sha256_file(model_file), train_data_sha256=sha256_file(train_data.path),
            eval_data_sha256=sha256_file(eval_data.path),
            protected_attributes=[a["name"] for a in protected_attributes],
            validation_json=anomalies.path, evaluation_json=evaluation.path, fairness_json=fairness.path,
            explanation_json=explanation.path, output_json=blessing.path, output_markdown=summary.path,
        )
        blessing.metadata.update(result.metadata())
        metrics.log_metric("blessed", 1 if result.blessed else 0)
        for verdict, count in result.counts().items():
            metrics.log_metric(f"checks_{verdict}", count)
