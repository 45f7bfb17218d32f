"""Checks run before a pipeline starts, so a bad config or data file fails in
a second with one message instead of minutes later inside a task.

The same checks run again inside the components (a cluster run has no
preflight), so this module only calls the executors' own checks.
"""

from __future__ import annotations

from kfp_governance.config import GovernanceConfig
from kfp_governance.executors.load_data import binary_label, check_columns, read_table


def check_data(config: GovernanceConfig) -> dict[str, int]:
    """Read the data once: label, features and protected attributes exist, both groups of each occur;
    and the estimator accepts its parameters (what ``check-config`` accepts, ``run`` runs).

    Returns the row and column counts. Raises :class:`~kfp_governance.errors.DataError`
    or :class:`~kfp_governance.errors.ConfigError`.
    """
    from kfp_governance.executors.train_model import check_estimator

    check_estimator(config.training.estimator, config.training.params, config.training.seed)
    check_champion(config)
    table = read_table(config.data)
    features = check_columns(config.data, table.column_names)
    binary_label(table.column(config.data.label), config.data.positive_label)
    if config.data.protected_attributes:
        from kfp_governance.executors.evaluate_fairness import check_protected_attributes

        names = [p.name for p in config.data.protected_attributes]
        check_protected_attributes(table.select(names).to_pandas(), config.data.protected_attributes)
    return {"rows": table.num_rows, "columns": table.num_columns, "features": len(features)}


def check_champion(config: GovernanceConfig) -> None:
    """A local champion is a model folder whose file matches the pinned (or its recorded) sha256.

    Remote champions are checked by the tasks that read them, with the same rule.
    """
    champion = config.champion
    if champion is None or "://" in champion.model_uri.removeprefix("file://"):
        return
    from pathlib import Path

    from kfp_governance.errors import ConfigError, EvidenceError
    from kfp_governance.model_io import verify_model

    path = Path(champion.model_uri.removeprefix("file://"))
    if not path.is_dir():
        what = "is a file, not a model folder" if path.exists() else "does not exist"
        raise ConfigError(f"champion.model_uri {champion.model_uri!r} {what}",
                          fix="point champion.model_uri at the model folder train_model wrote (model.joblib and "
                              "model_record.json)")
    try:
        verify_model(path, champion.model_sha256)
    except EvidenceError as err:
        raise ConfigError(f"champion.model_uri: {err.what}",
                          fix="use the champion's original files, or correct champion.model_sha256") from None
