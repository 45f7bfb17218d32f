"""The reference ``training`` pipeline: load, validate, train, evaluate.

Every run parameter is a typed pipeline parameter, visible in the KFP and
Vertex AI UIs; ``kfp-governance run`` and ``submit`` map the YAML config
onto them (see :mod:`kfp_governance.pipelines.arguments`).

>>> from kfp_governance.pipelines.training import training
>>> training.name
'kfp-governance-training'
"""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import ClassificationMetrics, Dataset, Metrics, Model

from kfp_governance.components import evaluate_model, load_data, train_model

PIPELINE_NAME = "kfp-governance-training"


class TrainingOutputs(NamedTuple):
    train_data: Dataset
    eval_data: Dataset
    model: Model
    metrics: Metrics
    classification_metrics: ClassificationMetrics
    evaluation: Dataset


@dsl.pipeline(name=PIPELINE_NAME,
              description="Governed training: load and split data, validate it with TFDV, train a "
                          "scikit-learn model, evaluate it.")
def training(
    data_uri: str,
    label: str,
    positive_label: str,
    data_format: str = "auto",
    features: list = [],
    na_values: list = [],
    protected_attributes: list = [],
    eval_fraction: float = 0.2,
    split_seed: int = 42,
    estimator: str = "hist_gradient_boosting",
    estimator_params: dict = {},
    training_seed: int = 0,
) -> TrainingOutputs:
    load = load_data(
        data_uri=data_uri, label=label, positive_label=positive_label, data_format=data_format,
        features=features, na_values=na_values, protected_attributes=protected_attributes,
        eval_fraction=eval_fraction, split_seed=split_seed,
    ).set_display_name("load data")
    # The source behind a URI can change between runs with the same parameters:
    # never reuse a cached split.
    load.set_caching_options(False)
    train = train_model(
        train_data=load.outputs["train_data"], estimator=estimator, estimator_params=estimator_params,
        seed=training_seed,
    ).set_display_name("train model")
    evaluate = evaluate_model(
        model=train.outputs["model"], eval_data=load.outputs["eval_data"],
    ).set_display_name("evaluate model")
    return TrainingOutputs(
        train_data=load.outputs["train_data"],
        eval_data=load.outputs["eval_data"],
        model=train.outputs["model"],
        metrics=evaluate.outputs["metrics"],
        classification_metrics=evaluate.outputs["classification_metrics"],
        evaluation=evaluate.outputs["evaluation"],
    )
