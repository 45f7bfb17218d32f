"""The reference ``training`` pipeline: the evidence a model needs before it may be registered.

load → resolve champion → validate → train → evaluate → fairness → explain → gate → model card →
register → deploy.

Every run parameter is a typed pipeline parameter, visible in the KFP and
Vertex AI UIs; ``kfp-governance run`` and ``submit`` map the YAML config
onto them (see :mod:`kfp_governance.pipelines.arguments`). Tasks whose
result depends on something outside their inputs (a data URI, a baseline,
a champion) never reuse a cached result.

>>> from kfp_governance.pipelines.training import training
>>> training.name
'kfp-governance-training'
"""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import HTML, Artifact, ClassificationMetrics, Dataset, Markdown, Metrics, Model

from kfp_governance.components import (
    deploy_model,
    evaluate_fairness,
    evaluate_model,
    explain_model,
    gate,
    generate_model_card,
    load_data,
    register_model,
    resolve_champion,
    train_model,
    validate_data,
)
from kfp_governance.components._image import record_image

PIPELINE_NAME = "kfp-governance-training"


class TrainingOutputs(NamedTuple):
    train_data: Dataset
    eval_data: Dataset
    model: Model
    metrics: Metrics
    classification_metrics: ClassificationMetrics
    evaluation: Artifact
    train_statistics: Artifact
    anomalies: Artifact
    validation_report: HTML
    fairness: Artifact
    fairness_report: HTML
    explanation: Artifact
    explanation_report: HTML
    blessing: Artifact
    gate_summary: Markdown
    model_card: HTML
    model_card_json: Artifact
    registration: Artifact
    deployment: Artifact
    deployment_summary: Markdown


@dsl.pipeline(name=PIPELINE_NAME,
              description="Governed training: load and split data, validate it with TFDV, train a scikit-learn "
                          "model, evaluate performance, fairness and explanations, judge them against a policy "
                          "and write a blessing and a model card.")
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
    schema_uri: str = "",
    baseline_statistics_uri: str = "",
    serving_statistics_uri: str = "",
    drift_numeric_threshold: float = 0.1,
    drift_categorical_threshold: float = 0.1,
    drift_feature_thresholds: dict = {},
    validation_runner: str = "InProcess",
    beam_options: list = [],
    estimator: str = "hist_gradient_boosting",
    estimator_params: str = "{}",
    training_seed: int = 0,
    champion_model_uri: str = "",
    champion_model_sha256: str = "",
    fairness_min_group_size: int = 30,
    fairness_bootstrap_samples: int = 2000,
    fairness_seed: int = 0,
    explain_time_limit_s: float = 600.0,
    explain_max_samples: int = 1000,
    explain_seed: int = 0,
    gate_policy: dict = {},
    model_card: dict = {},
    registry_backend: str = "mlflow",
    registry_uri: str = "",
    model_name: str = "kfp-governance-model",
    serving_backend: str = "local",
    serving_settings: dict = {},
    approval_rule: str = "required",
    approvers: list = [],
    deployment_policy: dict = {},
    alerts_webhook_env: str = "KFP_GOVERNANCE_ALERT_WEBHOOK",
) -> TrainingOutputs:
    load = load_data(
        data_uri=data_uri, label=label, positive_label=positive_label, data_format=data_format,
        features=features, na_values=na_values, protected_attributes=protected_attributes,
        eval_fraction=eval_fraction, split_seed=split_seed,
    ).set_display_name("load data")
    load.set_caching_options(False)  # the bytes behind a URI can change between runs

    validate = validate_data(
        train_data=load.outputs["train_data"], eval_data=load.outputs["eval_data"], schema_uri=schema_uri,
        baseline_statistics_uri=baseline_statistics_uri, serving_statistics_uri=serving_statistics_uri,
        drift_numeric_threshold=drift_numeric_threshold,
        drift_categorical_threshold=drift_categorical_threshold, drift_feature_thresholds=drift_feature_thresholds,
        runner=validation_runner, beam_options=beam_options,
    ).set_display_name("validate data")
    validate.set_caching_options(False)  # reads a schema, a baseline and serving statistics by URI

    current = resolve_champion(
        registry_backend=registry_backend, registry_uri=registry_uri, model_name=model_name,
        pinned_uri=champion_model_uri, pinned_sha256=champion_model_sha256,
    ).set_display_name("resolve champion")
    current.set_caching_options(False)  # the champion alias moves when a model is promoted
    champion_uri, champion_sha256 = current.outputs["champion_uri"], current.outputs["champion_sha256"]

    train = train_model(
        train_data=load.outputs["train_data"], estimator=estimator, estimator_params=estimator_params,
        seed=training_seed,
    ).set_display_name("train model")

    evaluate = evaluate_model(
        model=train.outputs["model"], eval_data=load.outputs["eval_data"], champion_model_uri=champion_uri,
        champion_model_sha256=champion_sha256,
    ).set_display_name("evaluate model")
    evaluate.set_caching_options(False)  # the champion behind a URI changes when a model is promoted

    fair = evaluate_fairness(
        model=train.outputs["model"], train_data=load.outputs["train_data"], eval_data=load.outputs["eval_data"],
        protected_attributes=protected_attributes, min_group_size=fairness_min_group_size,
        bootstrap_samples=fairness_bootstrap_samples, seed=fairness_seed, champion_model_uri=champion_uri,
        champion_model_sha256=champion_sha256,
    ).set_display_name("evaluate fairness")
    fair.set_caching_options(False)

    explain = explain_model(
        model=train.outputs["model"], eval_data=load.outputs["eval_data"], time_limit_s=explain_time_limit_s,
        max_samples=explain_max_samples, seed=explain_seed,
    ).set_display_name("explain model")

    judge = gate(
        model=train.outputs["model"], train_data=load.outputs["train_data"], eval_data=load.outputs["eval_data"],
        anomalies=validate.outputs["anomalies"],
        evaluation=evaluate.outputs["evaluation"], fairness=fair.outputs["fairness"],
        explanation=explain.outputs["explanation"], policy=gate_policy, protected_attributes=protected_attributes,
    ).set_display_name("gate")

    card = generate_model_card(
        model=train.outputs["model"], train_data=load.outputs["train_data"], anomalies=validate.outputs["anomalies"],
        evaluation=evaluate.outputs["evaluation"], fairness=fair.outputs["fairness"],
        explanation=explain.outputs["explanation"], blessing=judge.outputs["blessing"], card=model_card,
        pipeline_job_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER, pipeline_job_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
    ).set_display_name("model card")

    register = register_model(
        model=train.outputs["model"], blessing=judge.outputs["blessing"], model_card_json=card.outputs["model_card_json"],
        anomalies=validate.outputs["anomalies"], evaluation=evaluate.outputs["evaluation"],
        fairness=fair.outputs["fairness"], explanation=explain.outputs["explanation"],
        registry_backend=registry_backend, registry_uri=registry_uri, model_name=model_name,
        pipeline_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER, pipeline_run_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
    ).set_display_name("register model")
    register.set_caching_options(False)  # every run registers its candidate

    deploy = deploy_model(
        registration=register.outputs["registration"], blessing=judge.outputs["blessing"],
        eval_data=load.outputs["eval_data"], registry_backend=registry_backend, registry_uri=registry_uri,
        serving_backend=serving_backend, serving_settings=serving_settings, approval_rule=approval_rule,
        approvers=approvers, deployment_policy=deployment_policy, protected_attributes=protected_attributes,
        alerts_webhook_env=alerts_webhook_env,
    ).set_display_name("deploy model")
    deploy.set_caching_options(False)  # acts on the registry and the serving platform

    for task in (load, current, validate, train, evaluate, fair, explain, judge, card, register, deploy):
        record_image(task)

    return TrainingOutputs(
        train_data=load.outputs["train_data"],
        eval_data=load.outputs["eval_data"],
        model=train.outputs["model"],
        metrics=evaluate.outputs["metrics"],
        classification_metrics=evaluate.outputs["classification_metrics"],
        evaluation=evaluate.outputs["evaluation"],
        train_statistics=validate.outputs["train_statistics"],
        anomalies=validate.outputs["anomalies"],
        validation_report=validate.outputs["report"],
        fairness=fair.outputs["fairness"],
        fairness_report=fair.outputs["report"],
        explanation=explain.outputs["explanation"],
        explanation_report=explain.outputs["report"],
        blessing=judge.outputs["blessing"],
        gate_summary=judge.outputs["summary"],
        model_card=card.outputs["model_card"],
        model_card_json=card.outputs["model_card_json"],
        registration=register.outputs["registration"],
        deployment=deploy.outputs["deployment"],
        deployment_summary=deploy.outputs["summary"],
    )
