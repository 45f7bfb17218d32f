"""KFP interface of :mod:`kfp_governance.executors.model_card`."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Model, Output

from kfp_governance.components._image import TRAINING_IMAGE


@dsl.component(base_image=TRAINING_IMAGE, install_kfp_package=False)
def generate_model_card(
    model: Input[Model],
    train_data: Input[Dataset],
    anomalies: Input[Artifact],
    evaluation: Input[Artifact],
    fairness: Input[Artifact],
    explanation: Input[Artifact],
    blessing: Input[Artifact],
    model_card: Output[HTML],
    model_card_json: Output[Artifact],
    card: dict = {},
    pipeline_job_name: str = "",
    pipeline_job_id: str = "",
):
    """Generate the model card (HTML and JSON) from the run's evidence only.

    ``card`` carries what people write (``intended_use``, ``limitations``,
    ``owners``, ``risk_notes``, ...); everything else is read from the
    artifacts: warnings (one-class predictions, fairness warnings, failed
    sanity checks, mismatched hashes) at the top, the data (source, split,
    statistics and schema hashes, the schema's features), the effective
    training parameters, the code and image that trained the model, metrics,
    fairness per group with intervals, the explanation's method, and the gate's
    checks and verdict. It runs after the gate, so it shows the verdict;
    approval and deployments show as not recorded until registration records
    them. ``model_card_json`` validates against
    ``kfp_governance/schemas/model_card.v1.json``.

    Usage in a pipeline::

        card = generate_model_card(model=train.outputs["model"], train_data=load.outputs["train_data"],
                                   anomalies=validate.outputs["anomalies"],
                                   evaluation=evaluate.outputs["evaluation"], fairness=fair.outputs["fairness"],
                                   explanation=explain.outputs["explanation"], blessing=judge.outputs["blessing"],
                                   card={"intended_use": "pre-screening", "limitations": "US data only"})
    """
    from kfp_governance.executors.model_card import generate_model_card as execute
    from kfp_governance.launcher import step

    with step("generate_model_card"):
        result = execute(
            model.path, card_config=card, data=dict(train_data.metadata), validation_json=anomalies.path,
            evaluation_json=evaluation.path, fairness_json=fairness.path, explanation_json=explanation.path,
            blessing_json=blessing.path, run={"pipeline_job_name": pipeline_job_name,
                                              "pipeline_job_id": pipeline_job_id},
            output_json=model_card_json.path, output_html=model_card.path,
        )
        model_card_json.metadata.update({"model_sha256": result["model_details"]["model_sha256"],
                                         "decision": result["governance"]["decision"],
                                         "warnings": len(result["warnings"])})
