"""KFP interface of :mod:`kfp_governance.executors.evaluate_model`."""

from kfp import dsl
from kfp.dsl import Artifact, ClassificationMetrics, Dataset, Input, Metrics, Model, Output

from kfp_governance.components._image import TRAINING_IMAGE


@dsl.component(base_image=TRAINING_IMAGE, install_kfp_package=False)
def evaluate_model(
    model: Input[Model],
    eval_data: Input[Dataset],
    metrics: Output[Metrics],
    classification_metrics: Output[ClassificationMetrics],
    evaluation: Output[Artifact],
    champion_model_uri: str = "",
    champion_model_sha256: str = "",
):
    """Score the model on the eval split: accuracy, ROC AUC, precision, recall, F1, log loss.

    ``metrics`` and ``classification_metrics`` (ROC curve, confusion matrix)
    render in the KFP and Vertex AI UIs; ``evaluation`` is the same evidence
    as JSON for the gate and the model card. The model file's sha256 is
    checked against the Model artifact's metadata before it is loaded. With
    ``champion_model_uri`` (a model directory by path or URI), the champion
    is re-scored on the same eval rows and the differences are recorded; it
    is loaded only if its model file's sha256 equals ``champion_model_sha256``
    (the pinned, e.g. registered, hash) or, when that is empty, the one in its
    own record.

    Usage in a pipeline::

        evaluate = evaluate_model(model=train.outputs["model"], eval_data=load.outputs["eval_data"])
    """
    from kfp_governance.executors.evaluate_model import evaluate_model as execute
    from kfp_governance.launcher import step
    from kfp_governance.model_io import local_model_dir

    with step("evaluate_model"):
        champion = local_model_dir(champion_model_uri) if champion_model_uri else None
        result = execute(model.path, eval_data.path, expected_sha256=model.metadata.get("model_sha256"),
                         champion_dir=champion, champion_sha256=champion_model_sha256 or None,
                         output_json=evaluation.path)
        for name, value in result.metrics.items():
            metrics.log_metric(name, round(value, 6))
        metrics.log_metric("eval_rows", result.rows)
        curve = result.roc_curve
        classification_metrics.log_roc_curve(curve["fpr"], curve["tpr"], curve["thresholds"])
        matrix = result.confusion_matrix
        classification_metrics.log_confusion_matrix(matrix["categories"], matrix["matrix"])
        evaluation.metadata.update({"model_sha256": result.model_sha256, "eval_data_sha256": result.eval_data_sha256,
                                    "rows": result.rows, **result.metrics})
        if result.champion:
            evaluation.metadata["champion_model_sha256"] = result.champion["model_sha256"]
            for name, delta in result.deltas.items():
                metrics.log_metric(f"delta_vs_champion.{name}", round(delta, 6))
