"""KFP interface of :mod:`kfp_governance.executors.explain_model`."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Model, Output

from kfp_governance.components._image import TRAINING_IMAGE


@dsl.component(base_image=TRAINING_IMAGE, install_kfp_package=False)
def explain_model(
    model: Input[Model],
    eval_data: Input[Dataset],
    metrics: Output[Metrics],
    explanation: Output[Artifact],
    report: Output[HTML],
    time_budget_s: float = 20.0,
    max_samples: int = 1000,
    seed: int = 0,
):
    """Explain the model with SHAP on a seeded sample of the eval split sized to a time budget.

    The explainer follows the estimator (Tree SHAP, Linear SHAP, or a sampled
    permutation explainer); the sample size, and exact or approximate tree
    SHAP, are chosen from a measured pilot so the step fits
    ``time_budget_s``. Outputs mean |SHAP| per original feature (one-hot
    columns folded back), a summary plot and local explanations.

    Example (runs locally, after ``train_model``)::

        task = explain_model(model=train.outputs["model"], eval_data=load.outputs["eval_data"],
                             time_budget_s=10)
    """
    from kfp_governance.config import ExplainConfig
    from kfp_governance.executors.explain_model import explain_model as execute
    from kfp_governance.launcher import step

    with step("explain_model"):
        result = execute(
            model.path, eval_data.path,
            config=ExplainConfig(time_budget_s=time_budget_s, max_samples=max_samples, seed=seed),
            output_json=explanation.path, output_html=report.path,
            expected_sha256=model.metadata.get("model_sha256"),
        )
        for name, value in result.metadata().items():
            metrics.log_metric(name, value)
        explanation.metadata.update({"model_sha256": result.model_sha256, "explainer": result.explainer,
                                     "rows": result.rows})
