"""Validate the train and eval splits with TensorFlow Data Validation.

Steps:

1. **Statistics** of each split. With ``runner="InProcess"`` (the default)
   they are computed in this process from Arrow record batches streamed out
   of the Parquet file (``batch_rows`` rows at a time, reading overlapped
   with computing), using TFDV's own in-memory generators whose
   accumulators are merged batch by batch: memory is bounded by the batch,
   not by the file. Any other ``runner`` is an Apache Beam runner
   (``DirectRunner``, ``DataflowRunner``, ``FlinkRunner``, ``SparkRunner``)
   with ``beam_options`` as pipeline flags; see
   :mod:`kfp_governance.validation.beam` for the options each one needs
   (Dataflow: ``--project``, ``--region``, ``--temp_location=gs://...``,
   ``--sdk_container_image=<validation image>``).
2. **Schema**: inferred from the *train* statistics, or loaded from
   ``schema_uri``. Inference decisions (:mod:`kfp_governance.validation.checks`):
   ``infer_feature_shape=False``, so nulls in a column that train always had
   give the single anomaly ``FEATURE_TYPE_LOW_FRACTION_PRESENT`` (not also
   ``INVALID_FEATURE_SHAPE``); categorical domains tolerate up to
   ``1 - min_domain_mass`` (0.1%) of values unseen in train, which are still
   listed as ``unseen_values``; the label is required in the ``TRAINING``
   environment only.
3. **Anomalies**: the eval split validated against the schema (and the train
   split too, which matters when the schema was supplied).
4. **Drift** (when ``baseline_statistics_uri`` is given): the train
   statistics compared with the baseline, Jensen-Shannon divergence for
   numeric and L-infinity distance for categorical features, thresholds from
   :class:`~kfp_governance.config.DriftThresholds` (per-feature overrides
   included). **Skew** likewise against ``serving_statistics_uri``.

Outputs, each at the path given:

- ``train_statistics_path`` / ``eval_statistics_path``: binary
  ``DatasetFeatureStatisticsList`` (TFX's ``FeatureStats.pb`` format; read
  with ``tfdv.load_stats_binary``; usable as a later run's baseline);
- ``schema_path``: the schema as text proto (``tfdv.load_schema_text``),
  including the drift/skew comparators in force;
- ``anomalies_path``: JSON ``{"anomaly_count", "anomalies": [{split, feature,
  kind, severity, short_description, description}], "drift":
  {"baseline_statistics", "thresholds", "features": [{feature, comparator,
  value, threshold, exceeded[, kind, severity, description]}], "exceeded":
  [names]}, "skew": {same}, "unseen_values": [...], "schema": {...}, "rows":
  {...}}``. ``anomalies`` are schema anomalies only (the data does not match
  the schema); drift and skew have their own sections with every measured
  value and threshold, so a gate can allow some drift and no anomaly or the
  other way round;
- ``report_path``: a self-contained HTML report (no network needed).

User mistakes (a missing or empty split, a bad ``schema_uri`` or baseline,
unknown runner, malformed Beam options, a label that is not a column) raise
:class:`~kfp_governance.errors.DataError` or
:class:`~kfp_governance.errors.ConfigError` naming the parameter and value.
TFDV is imported only when :func:`validate_data` runs (it takes 10-30 s).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kfp_governance.config import DriftThresholds
from kfp_governance.errors import ConfigError, DataError
from kfp_governance.hashing import sha256_file, sha256_uri
from kfp_governance.validation.arrow_batches import DEFAULT_BATCH_ROWS
from kfp_governance.validation.checks import DEFAULT_MIN_DOMAIN_MASS

log = logging.getLogger(__name__)

IN_PROCESS = "InProcess"
ANOMALIES_FORMAT_VERSION = 2
DOCUMENT = "kfp-governance/validation/v1"


@dataclass
class ValidationResult:
    """What :func:`validate_data` found; :meth:`metadata` is the artifact metadata."""

    train_rows: int
    eval_rows: int
    features: list[str]
    label: str
    anomalies: list[dict[str, Any]]
    drift: list[dict[str, Any]]
    skew: list[dict[str, Any]]
    unseen_values: list[dict[str, Any]]
    schema_source: str
    schema_sha256: str
    baseline_statistics_uri: str | None
    serving_statistics_uri: str | None
    runner: str
    thresholds: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def feature_count(self) -> int:
        return len(self.features)

    @property
    def anomaly_count(self) -> int:
        return len(self.anomalies)

    @property
    def anomalies_by_feature(self) -> dict[str, list[str]]:
        """``{feature: ["eval:FEATURE_TYPE_LOW_FRACTION_PRESENT", ...]}``; ``(dataset)`` for data-set-level ones."""
        out: dict[str, list[str]] = {}
        for entry in self.anomalies:
            out.setdefault(entry["feature"] or "(dataset)", []).append(f"{entry['split']}:{entry['kind']}")
        return out

    @property
    def drifted_features(self) -> list[str]:
        return [d["feature"] for d in self.drift if d["exceeded"]]

    @property
    def skewed_features(self) -> list[str]:
        return [d["feature"] for d in self.skew if d["exceeded"]]

    def metrics(self) -> dict[str, float]:
        """Numbers for a KFP ``Metrics`` artifact."""
        out = {"train_rows": float(self.train_rows), "eval_rows": float(self.eval_rows),
               "feature_count": float(self.feature_count), "anomaly_count": float(self.anomaly_count)}
        if self.baseline_statistics_uri:
            out["drifted_features"] = float(len(self.drifted_features))
        if self.serving_statistics_uri:
            out["skewed_features"] = float(len(self.skewed_features))
        return out

    def metadata(self) -> dict[str, Any]:
        """Artifact metadata: rows, features, anomalies by feature, drift, schema used, timings (no ``None`` values)."""
        meta = {
            "train_rows": self.train_rows,
            "eval_rows": self.eval_rows,
            "feature_count": self.feature_count,
            "features": self.features,
            "label": self.label,
            "anomaly_count": self.anomaly_count,
            "anomalies_by_feature": self.anomalies_by_feature,
            "drift": [{k: d[k] for k in ("feature", "comparator", "value", "threshold", "exceeded")}
                      for d in self.drift],
            "drifted_features": self.drifted_features,
            "skewed_features": self.skewed_features,
            "schema_source": self.schema_source,
            "schema_sha256": self.schema_sha256,
            "baseline_statistics_uri": self.baseline_statistics_uri,
            "serving_statistics_uri": self.serving_statistics_uri,
            "drift_thresholds": self.thresholds,
            "runner": self.runner,
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
        }
        return {k: v for k, v in meta.items() if v is not None}

    def to_dict(self) -> dict[str, Any]:
        """Everything, as plain JSON-able values."""
        out = asdict(self)
        out.update(anomaly_count=self.anomaly_count, feature_count=self.feature_count)
        return out


class _Timer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


def _check_arguments(train_path, eval_path, label, runner, beam_options, batch_rows) -> None:
    from kfp_governance.sources import source_size

    if not isinstance(label, str) or not label:
        raise ConfigError(f"label is {label!r}", fix="pass the name of the label column")
    if not isinstance(runner, str) or not (runner == IN_PROCESS or runner.endswith("Runner") or "." in runner):
        raise ConfigError(f"runner {runner!r} is neither 'InProcess' nor a Beam runner name",
                          fix="use 'InProcess', 'DirectRunner', 'DataflowRunner', 'FlinkRunner' or 'SparkRunner'")
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
        raise ConfigError(f"batch_rows is {batch_rows!r}", fix="use a positive number of rows, e.g. 65536")
    if beam_options and runner == IN_PROCESS:
        log.warning("beam_options %s are ignored: runner is InProcess", beam_options)
    for what, path in (("train_path", train_path), ("eval_path", eval_path)):
        if source_size(str(path), what=what) == 0:
            raise DataError(f"{what} {str(path)!r} is empty (0 bytes)",
                            fix=f"point {what} at the split the load_data step wrote")


def _statistics(path: str, what: str, *, runner: str, beam_options, batch_rows: int, schema):
    if runner == IN_PROCESS:
        from kfp_governance.validation.statistics import statistics_from_file

        return statistics_from_file(path, what=what, batch_rows=batch_rows, schema=schema)
    from kfp_governance.validation.beam import statistics_with_beam

    return statistics_with_beam(path, runner=runner, beam_options=beam_options, schema=schema)


def validate_data(
    train_path: str | Path,
    eval_path: str | Path,
    *,
    label: str,
    train_statistics_path: str | Path,
    eval_statistics_path: str | Path,
    schema_path: str | Path,
    anomalies_path: str | Path,
    report_path: str | Path,
    schema_uri: str | None = None,
    baseline_statistics_uri: str | None = None,
    serving_statistics_uri: str | None = None,
    drift: DriftThresholds | None = None,
    runner: str = IN_PROCESS,
    beam_options: list[str] | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    min_domain_mass: float = DEFAULT_MIN_DOMAIN_MASS,
) -> ValidationResult:
    """Compute statistics of both splits, infer or load a schema, find anomalies and drift, write the artifacts.

    Parameters
    ----------
    train_path, eval_path : Parquet files of the splits (CSV works too), local path or URI.
    label : the label column; it is validated like every column and required in ``TRAINING`` only.
    train_statistics_path, eval_statistics_path, schema_path, anomalies_path, report_path :
        where to write the outputs (formats in the module docstring).
    schema_uri : a TFDV text schema to validate against instead of inferring one from train.
    baseline_statistics_uri : statistics of an earlier run (e.g. its ``train_statistics_path``);
        when given, the train split's drift against it is measured.
    serving_statistics_uri : statistics of serving data; when given, training/serving skew is measured.
    drift : thresholds (Jensen-Shannon for numeric, L-infinity for categorical, per-feature overrides).
    runner : ``"InProcess"`` (streamed, bounded memory) or a Beam runner name.
    beam_options : Beam pipeline flags such as ``"--project=my-project"`` (Beam runners only).
    batch_rows : rows per Arrow record batch (in-process runner); bounds the memory.
    min_domain_mass : share of a categorical feature's values that must be in the train domain.

    Example
    -------
    >>> import os, tempfile
    >>> from kfp_governance.config import default_config
    >>> from kfp_governance.executors.load_data import load_data
    >>> from kfp_governance.executors.validate_data import validate_data
    >>> out = tempfile.mkdtemp()
    >>> cfg = default_config()
    >>> train, evaluation = os.path.join(out, "train.parquet"), os.path.join(out, "eval.parquet")
    >>> _ = load_data(cfg.data, cfg.split, train, evaluation)
    >>> result = validate_data(
    ...     train, evaluation, label="loan",
    ...     train_statistics_path=os.path.join(out, "train_stats.pb"),
    ...     eval_statistics_path=os.path.join(out, "eval_stats.pb"),
    ...     schema_path=os.path.join(out, "schema.pbtxt"),
    ...     anomalies_path=os.path.join(out, "anomalies.json"),
    ...     report_path=os.path.join(out, "report.html"))
    >>> result.train_rows, result.eval_rows, result.feature_count, result.anomaly_count
    (26049, 6512, 13, 0)
    """
    from kfp_governance.validation import checks, protos, report

    drift = drift if drift is not None else DriftThresholds()
    train_path, eval_path = str(train_path), str(eval_path)
    timer = _Timer()
    _check_arguments(train_path, eval_path, label, runner, beam_options, batch_rows)

    with timer("read inputs"):
        schema = protos.load_schema(schema_uri, "schema_uri") if schema_uri else None
        baseline = (protos.load_statistics(baseline_statistics_uri, "baseline_statistics_uri")
                    if baseline_statistics_uri else None)
        serving = (protos.load_statistics(serving_statistics_uri, "serving_statistics_uri")
                   if serving_statistics_uri else None)
    with timer("import tfdv"):
        import tensorflow_data_validation as tfdv
    options = {"runner": runner, "beam_options": beam_options, "batch_rows": batch_rows, "schema": schema}
    with timer("train statistics"):
        train_stats = _statistics(train_path, "train_path", **options)
    with timer("eval statistics"):
        eval_stats = _statistics(eval_path, "eval_path", **options)
    features = [".".join(f.path.step) or f.name for f in train_stats.datasets[0].features]
    if label not in features:
        raise DataError(f"label column {label!r} (label) is not in train_path {train_path!r}; "
                        f"columns are: {', '.join(features)}", fix="set label to one of those columns")

    with timer("schema"):
        if schema is None:
            schema = checks.infer_schema(train_stats, label=label, min_domain_mass=min_domain_mass)
            schema_source = "inferred from the train split"
        else:
            schema_source = str(schema_uri)
        checks.apply_comparators(schema, drift, skew=True)
    with timer("validate"):
        train_anomalies = checks.validate(train_stats, schema, previous=baseline, serving=serving)
        eval_anomalies = checks.validate(eval_stats, schema)
        anomalies = checks.anomaly_entries(train_anomalies, "train") + checks.anomaly_entries(eval_anomalies, "eval")
        drift_rows = checks.comparison_entries(train_anomalies, "drift") if baseline is not None else []
        skew_rows = checks.comparison_entries(train_anomalies, "skew") if serving is not None else []
        unseen = checks.unseen_values(train_stats, schema, "train") + checks.unseen_values(eval_stats, schema, "eval")

    with timer("write outputs"):

        protos.write_statistics(train_stats, train_statistics_path)
        protos.write_statistics(eval_stats, eval_statistics_path)
        protos.write_schema(schema, schema_path)
        result = ValidationResult(
            train_rows=int(train_stats.datasets[0].num_examples),
            eval_rows=int(eval_stats.datasets[0].num_examples),
            features=features,
            label=label,
            anomalies=anomalies,
            drift=drift_rows,
            skew=skew_rows,
            unseen_values=unseen,
            schema_source=schema_source,
            schema_sha256=sha256_file(schema_path),
            baseline_statistics_uri=baseline_statistics_uri,
            serving_statistics_uri=serving_statistics_uri,
            runner=runner,
            thresholds=drift.model_dump(),
            outputs={"train_statistics": str(train_statistics_path), "eval_statistics": str(eval_statistics_path),
                     "schema": str(schema_path), "anomalies": str(anomalies_path), "report": str(report_path)},
        )
        protos.write_json(_anomalies_document(result, schema_path, schema, {
            "train": train_path, "eval": eval_path, "train_statistics": train_statistics_path,
            "eval_statistics": eval_statistics_path}), anomalies_path)
        result.timings = dict(timer.seconds)
        info = {
            "schema_source": schema_source, "runner": runner, "batch_rows": batch_rows,
            "tfdv_version": tfdv.__version__, "train_path": train_path, "eval_path": eval_path,
            "baseline": baseline_statistics_uri, "serving": serving_statistics_uri,
            "thresholds": result.thresholds, "timings": result.timings,
            "unseen_tolerance": f"{100 * (1 - min_domain_mass):.2g}%",
            "validated": "the train and eval splits",
        }
        html = report.render(report.build_context(
            train_stats=train_stats, eval_stats=eval_stats, schema=schema, label=label, anomalies=anomalies,
            drift=drift_rows, skew=skew_rows, unseen=unseen, info=info))
        Path(report_path).parent.mkdir(parents=True, exist_ok=True)
        Path(report_path).write_text(html, encoding="utf-8")
    result.timings = dict(timer.seconds)
    log.info("validated %d train / %d eval rows, %d features: %d anomalies%s", result.train_rows, result.eval_rows,
             result.feature_count, result.anomaly_count,
             f", {len(result.drifted_features)} drifted" if baseline is not None else "")
    return result


def _anomalies_document(result: ValidationResult, schema_path, schema, paths: dict[str, Any]) -> dict[str, Any]:
    """The validation evidence: which splits (by sha256), statistics and schema it was computed from, and what
    it found. ``data_schema`` is the TFDV schema used (``schema`` would clash with the document's own name)."""
    from kfp_governance.validation import protos

    return {
        "document": DOCUMENT,
        "format_version": ANOMALIES_FORMAT_VERSION,
        "train_data_sha256": sha256_uri(paths["train"]),
        "eval_data_sha256": sha256_uri(paths["eval"]),
        "rows": {"train": result.train_rows, "eval": result.eval_rows},
        "statistics": {split: {"path": str(paths[f"{split}_statistics"]), "sha256": sha256_file(paths[f"{split}_statistics"]),
                               "format": "tfdv-binary"} for split in ("train", "eval")},
        "data_schema": {"source": result.schema_source, "path": str(schema_path), "sha256": result.schema_sha256,
                        "features": protos.schema_features(schema)},
        "anomaly_count": result.anomaly_count,
        "anomalies": result.anomalies,
        "drift": {"baseline_statistics": result.baseline_statistics_uri, "thresholds": result.thresholds,
                  "features": result.drift, "exceeded": result.drifted_features},
        "skew": {"serving_statistics": result.serving_statistics_uri, "thresholds": result.thresholds,
                 "features": result.skew, "exceeded": result.skewed_features},
        "unseen_values": result.unseen_values,
    }
