"""Checks run before a pipeline starts, so a bad config or data file fails in
a second with one message instead of minutes later inside a task.

The same checks run again inside the components (a cluster run has no
preflight), so this module only calls the executors' own checks.
"""

from __future__ import annotations

from kfp_governance.config import GovernanceConfig
from kfp_governance.executors.load_data import binary_label, check_columns, read_table


def check_data(config: GovernanceConfig) -> dict[str, int]:
    """Read the data once: label, features and protected attributes exist, both groups of each occur.

    Returns the row and column counts. Raises :class:`~kfp_governance.errors.DataError`.
    """
    table = read_table(config.data)
    features = check_columns(config.data, table.column_names)
    binary_label(table.column(config.data.label), config.data.positive_label)
    if config.data.protected_attributes:
        from kfp_governance.executors.evaluate_fairness import check_protected_attributes

        names = [p.name for p in config.data.protected_attributes]
        check_protected_attributes(table.select(names).to_pandas(), config.data.protected_attributes)
    return {"rows": table.num_rows, "columns": table.num_columns, "features": len(features)}
