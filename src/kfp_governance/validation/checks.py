"""Schema inference, drift/skew comparators, and anomalies as plain records.

Decisions (see also the module docstring of the executor):

- The schema is inferred from the **train** statistics with
  ``infer_feature_shape=False``: a column that was always present gets
  ``presence.min_fraction: 1`` and ``value_count {min: 1 max: 1}`` but no
  ``shape``. Data with nulls in such a column then raises exactly one
  anomaly, ``FEATURE_TYPE_LOW_FRACTION_PRESENT``, instead of that plus
  ``INVALID_FEATURE_SHAPE`` (which only matters for dense TensorFlow inputs,
  and the models here are scikit-learn pipelines).
- Categorical domains get ``distribution_constraints.min_domain_mass``
  (default 0.999): a category never seen in train makes an anomaly only if
  it covers more than 0.1% of the validated rows. A rare value that a random
  split happened to put only into eval is not an error; the values that were
  tolerated are still listed (``unseen_values``) so nothing is hidden.
- The schema has environments ``TRAINING`` and ``SERVING``; the label is
  required in ``TRAINING`` only, so the same schema validates serving data
  without a label. Splits are validated in ``TRAINING``.
- Drift comparators (and skew comparators) are set on every feature from
  :class:`~kfp_governance.config.DriftThresholds`: Jensen-Shannon divergence
  for numeric features, L-infinity distance for categorical ones (strings,
  and integers the schema marks categorical or boolean). They replace any
  comparator a supplied schema had, so the configured thresholds are the ones
  in force, and the written schema records them.
"""

from __future__ import annotations

from typing import Any

from kfp_governance.config import DriftThresholds
from kfp_governance.errors import ConfigError

TRAINING, SERVING = "TRAINING", "SERVING"
DEFAULT_MIN_DOMAIN_MASS = 0.999


def infer_schema(train_stats, *, label: str | None = None, min_domain_mass: float = DEFAULT_MIN_DOMAIN_MASS):
    """A TFDV schema inferred from train statistics, with the decisions listed in this module's docstring."""
    import tensorflow_data_validation as tfdv

    if not 0.0 < min_domain_mass <= 1.0:
        raise ConfigError(f"min_domain_mass is {min_domain_mass}", fix="use a fraction in (0, 1], e.g. 0.999")
    schema = tfdv.infer_schema(train_stats, infer_feature_shape=False)
    schema.default_environment.extend([TRAINING, SERVING])
    for feature in schema.feature:
        if feature.HasField("domain") or feature.HasField("string_domain"):
            feature.distribution_constraints.min_domain_mass = min_domain_mass
        if feature.name == label:
            feature.not_in_environment.append(SERVING)
    return schema


def feature_names(schema) -> list[str]:
    """Names of the schema's features, in order."""
    return [feature.name for feature in schema.feature]


def is_categorical(feature) -> bool:
    """True for string features and integers the schema marks categorical or boolean."""
    from tensorflow_metadata.proto.v0 import schema_pb2

    if feature.type == schema_pb2.BYTES:
        return True
    if feature.type == schema_pb2.INT:
        return feature.HasField("bool_domain") or (feature.HasField("int_domain") and feature.int_domain.is_categorical)
    return False


def threshold_for(name: str, drift: DriftThresholds, categorical: bool) -> float:
    """The drift threshold of one feature: its override, else the numeric or categorical default."""
    if name in drift.features:
        return drift.features[name]
    return drift.categorical if categorical else drift.numeric


def apply_comparators(schema, drift: DriftThresholds, *, skew: bool = True) -> None:
    """Set drift (and skew) comparators on every feature of ``schema``, in place.

    Raises :class:`ConfigError` if ``drift.features`` names a feature the schema lacks.
    """
    names = feature_names(schema)
    unknown = sorted(set(drift.features) - set(names))
    if unknown:
        raise ConfigError(f"drift thresholds name feature(s) {unknown} (drift_thresholds.features) that are not "
                          f"in the schema; features are: {', '.join(names)}",
                          fix="correct or remove those names in validation.drift_thresholds.features")
    for feature in schema.feature:
        categorical = is_categorical(feature)
        threshold = threshold_for(feature.name, drift, categorical)
        feature.drift_comparator.Clear()
        feature.skew_comparator.Clear()
        comparators = [feature.drift_comparator]
        if skew and SERVING not in feature.not_in_environment:  # the label is not served
            comparators.append(feature.skew_comparator)
        for comparator in comparators:
            if categorical:
                comparator.infinity_norm.threshold = threshold
            else:
                comparator.jensen_shannon_divergence.threshold = threshold


def validate(stats, schema, *, previous=None, serving=None):
    """``tfdv.validate_statistics`` in the ``TRAINING`` environment when the schema has one."""
    import tensorflow_data_validation as tfdv

    environment = TRAINING if TRAINING in schema.default_environment else None
    return tfdv.validate_statistics(stats, schema, environment=environment, previous_statistics=previous,
                                    serving_statistics=serving)


def _reasons(anomalies):
    """``(feature or None, AnomalyInfo, Reason)`` for every reason, data-set-level ones last."""
    infos = sorted(anomalies.anomaly_info.items())
    if anomalies.HasField("dataset_anomaly_info"):
        infos.append((None, anomalies.dataset_anomaly_info))
    for name, info in infos:
        for reason in info.reason:
            yield name, info, reason


def _reason_check(kind: str, reason) -> str:
    """``schema``, or ``drift``/``skew`` for comparator anomalies (TFDV names the control data set)."""
    if not kind.startswith("COMPARATOR_"):
        return "schema"
    return "skew" if "serving" in reason.short_description else "drift"


def anomaly_entries(anomalies, split: str) -> list[dict[str, Any]]:
    """One record per schema anomaly reason (drift and skew are in :func:`comparison_entries`).

    Keys: split, feature (None for the whole data set), kind (TFDV's anomaly
    type), severity, short_description, description.
    """
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    severity_name = anomalies_pb2.AnomalyInfo.Severity.Name
    kind_name = anomalies_pb2.AnomalyInfo.Type.Name
    entries = []
    for name, info, reason in _reasons(anomalies):
        kind = kind_name(reason.type)
        if _reason_check(kind, reason) != "schema":
            continue
        entries.append({
            "split": split,
            "feature": name,
            "kind": kind,
            "severity": severity_name(info.severity),
            "short_description": reason.short_description,
            "description": reason.description,
        })
    return entries


def comparison_entries(anomalies, check: str) -> list[dict[str, Any]]:
    """Every measured feature of a ``drift`` or ``skew`` check.

    Keys: feature, comparator, value, threshold, exceeded, and for exceeded
    ones TFDV's anomaly kind, severity and description. A feature TFDV could
    not compare (``COMPARATOR_CONTROL_DATA_MISSING``: absent from the
    baseline) has value None and ``exceeded`` False, with that kind.
    """
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    type_name = anomalies_pb2.DriftSkewInfo.Measurement.Type.Name
    kind_name = anomalies_pb2.AnomalyInfo.Type.Name
    severity_name = anomalies_pb2.AnomalyInfo.Severity.Name
    found = {}
    for name, info, reason in _reasons(anomalies):
        kind = kind_name(reason.type)
        if _reason_check(kind, reason) == check:
            found[name] = {"kind": kind, "severity": severity_name(info.severity), "description": reason.description}
    comparators = {"L_INFTY": "infinity_norm", "JENSEN_SHANNON_DIVERGENCE": "jensen_shannon_divergence"}
    out = []
    for info in anomalies.drift_skew_info:
        name = ".".join(info.path.step)
        measurements = info.drift_measurements if check == "drift" else info.skew_measurements
        for m in measurements:
            entry = {
                "feature": name,
                "comparator": comparators.get(type_name(m.type), type_name(m.type).lower()),
                "value": float(m.value),
                "threshold": float(m.threshold),
                "exceeded": bool(m.value > m.threshold),
            }
            if entry["exceeded"] and name in found:
                entry.update(found.pop(name))
            out.append(entry)
    for name, anomaly in found.items():  # not measured, e.g. the feature is missing from the control data
        out.append({"feature": name, "comparator": None, "value": None, "threshold": None, "exceeded": False,
                    **anomaly})
    return sorted(out, key=lambda e: e["feature"] or "")


def unseen_values(stats, schema, split: str, limit: int = 20) -> list[dict[str, Any]]:
    """Categorical values of ``stats`` outside the schema's domain, with counts (tolerated or not).

    Read from the statistics' rank histogram (up to 1,000 most frequent values).
    """
    domains = {d.name: set(d.value) for d in schema.string_domain}
    features = {f.name: f for f in schema.feature}
    out = []
    for fstats in stats.datasets[0].features:
        name = ".".join(fstats.path.step) or fstats.name
        feature = features.get(name)
        if feature is None or not fstats.HasField("string_stats"):
            continue
        domain = set(feature.string_domain.value) if feature.HasField("string_domain") else domains.get(feature.domain)
        if not domain:
            continue
        histogram = fstats.string_stats.rank_histogram.buckets
        total = fstats.string_stats.common_stats.tot_num_values or 1.0
        extra = [(b.label, b.sample_count) for b in histogram if b.label not in domain]
        if extra:
            out.append({
                "split": split,
                "feature": name,
                "values": [{"value": label, "count": int(count)} for label, count in extra[:limit]],
                "distinct": len(extra),
                "fraction": sum(c for _, c in extra) / total,
            })
    return out
