"""Score a model on the eval split: accuracy, ROC AUC, precision, recall, F1, log loss.

With a champion model, the champion is re-scored on the *same* eval split,
so the comparison never mixes numbers measured on different data.

>>> from kfp_governance.config import default_config
>>> from kfp_governance.executors.load_data import load_data
>>> from kfp_governance.executors.train_model import train_model
>>> from kfp_governance.executors.evaluate_model import evaluate_model
>>> import tempfile; out = tempfile.mkdtemp(); cfg = default_config()
>>> _ = load_data(cfg.data, cfg.split, f"{out}/train.parquet", f"{out}/eval.parquet")
>>> _ = train_model(f"{out}/train.parquet", f"{out}/model", label="loan", positive_label=">50K",
...                 estimator="logistic_regression")
>>> result = evaluate_model(f"{out}/model", f"{out}/eval.parquet")
>>> 0.8 < result.metrics["roc_auc"] <= 1.0
True
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kfp_governance.errors import ConfigError, DataError
from kfp_governance.hashing import sha256_file
from kfp_governance.model_io import load_model, read_record
from kfp_governance.tabular import features_and_label, read_split

log = logging.getLogger(__name__)

SCHEMA = "kfp-governance/evaluation/v1"
METRICS = ("accuracy", "roc_auc", "precision", "recall", "f1", "log_loss")
MAX_CURVE_POINTS = 101


@dataclass
class EvaluationResult:
    metrics: dict[str, float]
    rows: int
    positive_rate: float
    roc_curve: dict[str, list[float]]
    confusion_matrix: dict[str, Any]
    model_sha256: str
    eval_data_sha256: str = ""
    prediction_counts: dict[str, int] = field(default_factory=dict)
    champion: dict[str, Any] | None = None
    deltas: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, **asdict(self)}


def score(y_true: np.ndarray, y_score: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """The headline metrics from labels (0/1) and positive-class probabilities.

    >>> score(np.array([0, 1, 1, 0]), np.array([0.1, 0.9, 0.6, 0.4]))["accuracy"]
    1.0
    """
    from sklearn import metrics

    y_pred = (y_score >= threshold).astype(int)
    return {
        "accuracy": float(metrics.accuracy_score(y_true, y_pred)),
        "roc_auc": float(metrics.roc_auc_score(y_true, y_score)),
        "precision": float(metrics.precision_score(y_true, y_pred, zero_division=0)),
        "recall": float(metrics.recall_score(y_true, y_pred, zero_division=0)),
        "f1": float(metrics.f1_score(y_true, y_pred, zero_division=0)),
        "log_loss": float(metrics.log_loss(y_true, np.clip(y_score, 1e-15, 1 - 1e-15), labels=[0, 1])),
    }


def _curve(y_true: np.ndarray, y_score: np.ndarray) -> dict[str, list[float]]:
    from sklearn.metrics import roc_curve

    fpr, tpr, thresholds = roc_curve(y_true, y_score)
    if len(fpr) > MAX_CURVE_POINTS:  # keep the curve's shape, not every step
        keep = np.unique(np.linspace(0, len(fpr) - 1, MAX_CURVE_POINTS).round().astype(int))
        fpr, tpr, thresholds = fpr[keep], tpr[keep], thresholds[keep]
    thresholds = np.minimum(thresholds, 1.0)  # sklearn's first threshold is +inf
    return {"fpr": fpr.round(6).tolist(), "tpr": tpr.round(6).tolist(), "thresholds": thresholds.round(6).tolist()}


def predict_scores(model_dir: str | Path, frame, expected_sha256: str | None = None,
                   what: str = "eval split") -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Load a model (hash-checked) and return ``(y_true, positive-class scores, record)``."""
    record = read_record(model_dir)
    model = load_model(model_dir, expected_sha256)
    # the hash the file was just verified against: the evidence names the bytes that were scored
    record = dict(record, model_sha256=expected_sha256 or record.get("model_sha256"))
    X, y = features_and_label(frame, record["features"], record["label"], record["positive_label"], what)
    return y, model.predict_proba(X)[:, 1], record


def check_comparable(record: dict[str, Any], champion: dict[str, Any]) -> None:
    """The champion answers the same question as the model: same label, positive label and features.

    A champion trained for another problem cannot be compared (and replacing it
    would change what clients must send): usually two problems share one
    registry name.
    """
    mine = (record["label"], str(record["positive_label"]), list(record["features"]))
    theirs = (champion.get("label"), str(champion.get("positive_label")), list(champion.get("features") or []))
    if mine != theirs:
        added = sorted(set(mine[2]) - set(theirs[2]))
        missing = sorted(set(theirs[2]) - set(mine[2]))
        raise ConfigError(
            f"the champion (model {str(champion.get('model_sha256'))[:12]}) was trained for label {theirs[0]!r} = "
            f"{theirs[1]!r} on {len(theirs[2])} features, this model for {mine[0]!r} = {mine[1]!r} on {len(mine[2])}"
            + (f" (new: {added})" if added else "") + (f" (dropped: {missing})" if missing else ""),
            fix="give this problem a registry name of its own (registry.model_name), or pin a comparable champion "
                "(champion.model_uri)")


def evaluate_model(model_dir: str | Path, eval_path: str | Path, *, expected_sha256: str | None = None,
                   champion_dir: str | Path | None = None, champion_sha256: str | None = None,
                   output_json: str | Path | None = None) -> EvaluationResult:
    """Score the model on ``eval_path``; with ``champion_dir``, score the champion on the same rows.

    Both models are loaded only after their sha256 checks: the model's against
    ``expected_sha256`` (or its record), the champion's against
    ``champion_sha256`` (the pinned hash, e.g. the registered one) or its record.
    The document names the model's sha256 and the eval split's, and counts
    the predicted classes (a model that predicts one class is never blessed).
    """
    frame = read_split(eval_path, "eval split")
    y, y_score, record = predict_scores(model_dir, frame, expected_sha256)
    if len(np.unique(y)) < 2:
        raise DataError(f"the eval split's label {record['label']!r} has one class only; ROC AUC is undefined",
                        fix="use a larger eval_fraction or data with both outcomes")
    metrics = score(y, y_score)
    y_pred = (y_score >= 0.5).astype(int)
    from sklearn.metrics import confusion_matrix

    matrix = confusion_matrix(y, y_pred, labels=[0, 1]).tolist()
    positive = record["positive_label"]
    result = EvaluationResult(
        metrics=metrics,
        rows=int(len(y)),
        positive_rate=float(y.mean()),
        roc_curve=_curve(y, y_score),
        confusion_matrix={"categories": [f"not {positive}", positive], "matrix": matrix},
        model_sha256=record["model_sha256"],
        eval_data_sha256=sha256_file(eval_path),
        prediction_counts={"positive": int(y_pred.sum()), "negative": int(len(y_pred) - y_pred.sum())},
    )
    if champion_dir:
        check_comparable(record, read_record(champion_dir))
        c_y, c_score, c_record = predict_scores(champion_dir, frame, champion_sha256, what="eval split (champion)")
        champion_metrics = score(c_y, c_score)
        result.champion = {"model_sha256": c_record["model_sha256"], "estimator": c_record.get("estimator"),
                           "metrics": champion_metrics}
        result.deltas = {k: metrics[k] - champion_metrics[k] for k in METRICS}
    log.info("evaluated on %d rows: %s", result.rows, ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
    if output_json:
        Path(output_json).parent.mkdir(parents=True, exist_ok=True)
        Path(output_json).write_text(json.dumps(result.to_json(), indent=2), encoding="utf-8")
    return result
