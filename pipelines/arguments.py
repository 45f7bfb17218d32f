"""Map a validated config onto the typed parameters of a reference pipeline.

>>> from kfp_governance.config import default_config
>>> args = training_arguments(default_config())
>>> args["label"], args["protected_attributes"][0]
('loan', {'name': 'gender', 'privileged': 'Male'})
"""

from __future__ import annotations

from typing import Any

from kfp_governance.config import GovernanceConfig


def training_arguments(config: GovernanceConfig) -> dict[str, Any]:
    """Arguments of the ``training`` pipeline, one per config key it uses."""
    data = config.data
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
        "estimator": config.training.estimator,
        "estimator_params": dict(config.training.params),
        "training_seed": config.training.seed,
    }
