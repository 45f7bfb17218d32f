"""KFP interface of :mod:`kfp_governance.executors.evaluate_fairness`."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Model, Output

from kfp_governance.components._image import TRAINING_IMAGE


@dsl.component(base_image=TRAINING_IMAGE, install_kfp_package=False)
def evaluate_fairness(
    model: Input[Model],
    train_data: Input[Dataset],
    eval_data: Input[Dataset],
    protected_attributes: list,
    metrics: Output[Metrics],
    fairness: Output[Artifact],
    report: Output[HTML],
    min_group_size: int = 30,
    bootstrap_samples: int = 2000,
    seed: int = 0,
    champion_model_uri: str = "",
    champion_model_sha256: str = "",
):
    """Fairness per protected attribute with AIF360's definitions: data bias and model bias.

    ``protected_attributes`` is a list of ``{"name": ..., "privileged": ...}``
    where ``privileged`` is a value or a numeric comparison such as ``">=25"``.
    For each: statistical parity difference and disparate impact of the
    training labels, and of the model's eval predictions also equal
    opportunity, average odds and false positive rate differences, each with
    group sizes, per-group rates and a bootstrap 95% interval. Groups smaller
    than ``min_group_size`` are reported as insufficient. With
    ``champion_model_uri``, the champion is scored on the same eval rows
    (loaded only if its sha256 equals ``champion_model_sha256``, or its
    record's when that is empty).

    Usage in a pipeline::

        fair = evaluate_fairness(model=train.outputs["model"], train_data=load.outputs["train_data"],
                                 eval_data=load.outputs["eval_data"],
                                 protected_attributes=[{"name": "gender", "privileged": "Male"}])
    """
    from kfp_governance.config import FairnessConfig
    from kfp_governance.executors.evaluate_fairness import evaluate_fairness as execute
    from kfp_governance.launcher import step
    from kfp_governance.model_io import local_model_dir

    with step("evaluate_fairness"):
        result = execute(
            model.path, train_data.path, eval_data.path, protected_attributes=protected_attributes,
            config=FairnessConfig(min_group_size=min_group_size, bootstrap_samples=bootstrap_samples, seed=seed),
            output_json=fairness.path, output_html=report.path, expected_sha256=model.metadata.get("model_sha256"),
            champion_dir=local_model_dir(champion_model_uri) if champion_model_uri else None,
            champion_sha256=champion_model_sha256 or None,
        )
        for name, value in result.metadata().items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                metrics.log_metric(name, value)
        fairness.metadata.update({"model_sha256": model.metadata.get("model_sha256"),
                                  "attributes": [a["name"] for a in protected_attributes]})
