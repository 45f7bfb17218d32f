"""KFP interface of :mod:`kfp_governance.executors.validate_data`."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Output

from kfp_governance.components._image import VALIDATION_IMAGE


@dsl.component(base_image=VALIDATION_IMAGE, install_kfp_package=False)
def validate_data(
    train_data: Input[Dataset],
    eval_data: Input[Dataset],
    train_statistics: Output[Artifact],
    eval_statistics: Output[Artifact],
    schema: Output[Artifact],
    anomalies: Output[Artifact],
    report: Output[HTML],
    metrics: Output[Metrics],
    schema_uri: str = "",
    baseline_statistics_uri: str = "",
    serving_statistics_uri: str = "",
    drift_numeric_threshold: float = 0.1,
    drift_categorical_threshold: float = 0.1,
    drift_feature_thresholds: dict = {},
    runner: str = "InProcess",
    beam_options: list = [],
):
    """Validate both splits with TFDV: statistics, schema, anomalies, drift against a baseline.

    Statistics are computed in-process from streamed Arrow batches (or on an
    Apache Beam ``runner``). The schema is inferred from the train split
    unless ``schema_uri`` names one; the eval split is validated against it.
    With ``baseline_statistics_uri`` (TFDV statistics of an earlier window,
    e.g. an earlier run's ``train_statistics``), drift is measured per feature;
    with ``serving_statistics_uri`` (statistics of the data the model is
    served), training/serving skew, with the same thresholds.
    ``anomalies`` is machine-readable JSON; ``report`` is a self-contained
    HTML page that renders in the KFP UI without network access.

    Usage in a pipeline::

        validate = validate_data(train_data=load.outputs["train_data"], eval_data=load.outputs["eval_data"],
                                 baseline_statistics_uri="gs://bucket/last-month/train_statistics")
    """
    from kfp_governance.config import DriftThresholds
    from kfp_governance.executors.validate_data import validate_data as execute
    from kfp_governance.launcher import step

    with step("validate_data"):
        result = execute(
            train_data.path, eval_data.path, label=train_data.metadata["label"],
            train_statistics_path=train_statistics.path, eval_statistics_path=eval_statistics.path,
            schema_path=schema.path, anomalies_path=anomalies.path, report_path=report.path,
            schema_uri=schema_uri or None, baseline_statistics_uri=baseline_statistics_uri or None,
            serving_statistics_uri=serving_statistics_uri or None,
            drift=DriftThresholds(numeric=drift_numeric_threshold, categorical=drift_categorical_threshold,
                                  features=drift_feature_thresholds),
            runner=runner, beam_options=list(beam_options),
        )
        for name, value in result.metrics().items():
            metrics.log_metric(name, value)
        meta = result.metadata()
        anomalies.metadata.update(meta)
        schema.metadata.update({"source": meta["schema_source"], "sha256": meta["schema_sha256"]})
        train_statistics.metadata.update({"split": "train", "rows": result.train_rows, "format": "tfdv-binary"})
        eval_statistics.metadata.update({"split": "eval", "rows": result.eval_rows, "format": "tfdv-binary"})
