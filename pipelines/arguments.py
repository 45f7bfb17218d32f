"""Map a validated config onto the typed parameters of a reference pipeline.

>>> from kfp_governance.config import default_config
>>> args = training_arguments(default_config())
>>> args["label"], args["protected_attributes"][0]
('loan', {'name': 'gender', 'privileged': 'Male'})
"""

from __future__ import annotations

import json
from typing import Any

from kfp_governance.config import GovernanceConfig


def training_arguments(config: GovernanceConfig) -> dict[str, Any]:
    """Arguments of the ``training`` pipeline, one per config key it uses."""
    data, validation = config.data, config.validation
    drift = validation.drift_thresholds
    return {
        "data_uri": data.uri,
        "label": data.label,
        "positive_label": data.positive_label,
        "data_format": data.format,
        "features": list(data.features or []),
        "na_values": list(data.na_values),
        "protected_attributes": [p.model_dump() for p in data.protected_attributes],
        "eval_fraction": config.split.eval_fraction,
        "split_seed": config.split.seed,
        "schema_uri": validation.schema_uri or "",
        "baseline_statistics_uri": validation.baseline_statistics or "",
        "serving_statistics_uri": validation.serving_statistics or "",
        "drift_numeric_threshold": drift.numeric,
        "drift_categorical_threshold": drift.categorical,
        "drift_feature_thresholds": dict(drift.features),
        "validation_runner": validation.runner,
        "beam_options": list(validation.beam_options),
        "estimator": config.training.estimator,
        # JSON text: a dict parameter would arrive with every integer turned into a float.
        "estimator_params": json.dumps(config.training.params, sort_keys=True),
        "training_seed": config.training.seed,
        "champion_model_uri": config.champion.model_uri if config.champion else "",
        "champion_model_sha256": (config.champion.model_sha256 or "") if config.champion else "",
        "fairness_min_group_size": config.fairness.min_group_size,
        "fairness_bootstrap_samples": config.fairness.bootstrap_samples,
        "fairness_seed": config.fairness.seed,
        "explain_time_limit_s": config.explain.time_limit_s,
        "explain_max_samples": config.explain.max_samples,
        "explain_seed": config.explain.seed,
        "gate_policy": config.gates.model_dump(mode="json", exclude_unset=True) if config.gates else {},
        "model_card": config.model_card.model_dump(mode="json", exclude_defaults=True),
        "registry_backend": config.registry.backend,
        "registry_uri": config.registry.tracking_uri or "",
        "model_name": config.registry.model_name,
        "serving_backend": config.serving.backend,
        "serving_settings": config.serving.model_dump(mode="json", exclude={"backend"}, exclude_defaults=True),
        "approval_rule": config.approval.rule,
        "approvers": list(config.approval.approvers),
        "deployment_policy": config.deployment.model_dump(mode="json", exclude_defaults=True),
        "alerts_webhook_env": config.alerts.webhook_env,
    }
