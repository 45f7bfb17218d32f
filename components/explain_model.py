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
    time_limit_s: float = 600.0,
    max_samples: int = 1000,
    seed: int = 0,
):
    """Explain the model with SHAP on a seeded sample of the eval split; the evidence is reproducible.

    The explainer follows the estimator (Tree SHAP, Linear SHAP, or a sampled
    permutation explainer). The method and the sample are chosen from the
    model's size (trees, leaves and their depths, columns), the eval rows and
    ``max_samples`` with a fixed cost model, never from timing: exact Tree
    SHAP when its estimated work fits, else approximate Tree SHAP, with the
    reason recorded in the explanation's ``method``. The same model, data and
    settings give the same JSON and HTML on any machine. ``time_limit_s``
    only stops a step that runs too long, with an error naming the fix.
    Outputs mean |SHAP| per original feature (one-hot columns folded back),
    a summary plot and local explanations; timings go to ``metrics`` only.

    Usage in a pipeline::

        explain = explain_model(model=train.outputs["model"], eval_data=load.outputs["eval_data"],
                                max_samples=500, time_limit_s=900.0)
    """
    from kfp_governance.config import ExplainConfig
    from kfp_governance.executors.explain_model import explain_model as execute
    from kfp_governance.launcher import step

    with step("explain_model"):
        result = execute(
            model.path, eval_data.path,
            config=ExplainConfig(time_limit_s=time_limit_s, max_samples=max_samples, seed=seed),
            output_json=explanation.path, output_html=report.path,
            expected_sha256=model.metadata.get("model_sha256"),
        )
        for name, value in result.metadata().items():
            metrics.log_metric(name, value)
        explanation.metadata.update({"schema": "kfp-governance/explanation/v1", "model_sha256": result.model_sha256,
                                     "eval_data_sha256": result.eval_data_sha256, "explainer": result.explainer,
                                     "exact": result.exact, "algorithm": result.algorithm, "rows": result.rows})
