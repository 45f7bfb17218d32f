"""KFP interface of :mod:`kfp_governance.executors.evaluate_model`."""

from kfp import dsl
from kfp.dsl import ClassificationMetrics, Dataset, Input, Metrics, Model, Output

from kfp_governance.components._image import TRAINING_IMAGE


@dsl.component(base_image=TRAINING_IMAGE, install_kfp_package=False)
def evaluate_model(
    model: Input[Model],
    eval_data: Input[Dataset],
    metrics: Output[Metrics],
    classification_metrics: Output[ClassificationMetrics],
    evaluation: Output[Dataset],
):
    """Score the model on the eval split: accuracy, ROC AUC, precision, recall, F1, log loss.

    ``metrics`` and ``classification_metrics`` (ROC curve, confusion matrix)
    render in the KFP and Vertex AI UIs; ``evaluation`` is the same evidence
    as JSON for the gate and the model card. The model file's sha256 is
    checked against the Model artifact's metadata before it is loaded.

    Example (runs locally, after ``train_model``)::

        task = evaluate_model(model=train.outputs["model"], eval_data=load.outputs["eval_data"])
    """
    from kfp_governance.executors.evaluate_model import evaluate_model as execute
    from kfp_governance.launcher import step

    with step("evaluate_model"):
        result = execute(model.path, eval_data.path, expected_sha256=model.metadata.get("model_sha256"),
                         output_json=evaluation.path)
        for name, value in result.metrics.items():
            metrics.log_metric(name, round(value, 6))
        metrics.log_metric("eval_rows", result.rows)
        curve = result.roc_curve
        classification_metrics.log_roc_curve(curve["fpr"], curve["tpr"], curve["thresholds"])
        matrix = result.confusion_matrix
        classification_metrics.log_confusion_matrix(matrix["categories"], matrix["matrix"])
        evaluation.metadata.update({"model_sha256": result.model_sha256, "rows": result.rows, **result.metrics})
