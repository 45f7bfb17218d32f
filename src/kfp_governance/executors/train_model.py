"""Train a scikit-learn ``Pipeline`` (preprocessing + estimator) from config, reproducibly.

The fitted pipeline is saved with a record of everything that produced it
(see :mod:`kfp_governance.model_io`).

>>> from kfp_governance.config import default_config
>>> from kfp_governance.executors.load_data import load_data
>>> from kfp_governance.executors.train_model import train_model
>>> import tempfile, os
>>> out = tempfile.mkdtemp(); cfg = default_config()
>>> _ = load_data(cfg.data, cfg.split, f"{out}/train.parquet", f"{out}/eval.parquet")
>>> result = train_model(f"{out}/train.parquet", f"{out}/model", label="loan", positive_label=">50K",
...                      estimator="logistic_regression", params={"C": 0.5})
>>> result.record["estimator"], len(result.record["model_sha256"])
('logistic_regression', 64)
"""

from __future__ import annotations

import json
import logging
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kfp_governance.config import ESTIMATORS
from kfp_governance.errors import ConfigError, DataError
from kfp_governance.hashing import sha256_file
from kfp_governance.lineage import code_version
from kfp_governance.model_io import save_model
from kfp_governance.tabular import column_kinds, features_and_label, read_split

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    record: dict[str, Any]

    def metadata(self) -> dict[str, Any]:
        """Flat, UI-friendly subset of the record for artifact metadata."""
        keys = ("framework", "estimator", "model_sha256", "label", "positive_label", "train_rows",
                "fit_seconds", "seed")
        meta = {k: self.record[k] for k in keys}
        meta["features"] = self.record["features"]
        meta["params"] = self.record["params"]
        meta["training_data_sha256"] = self.record["training_data"]["split_sha256"]
        meta["source_sha256"] = self.record["training_data"].get("source_sha256")
        meta["versions"] = self.record["versions"]
        return meta


def _estimator(name: str, params: dict[str, Any], seed: int):
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    if name not in ESTIMATORS:
        raise ConfigError(f"unknown estimator {name!r} (training.estimator)",
                          fix=f"choose one of {', '.join(ESTIMATORS)}")
    base = {
        "logistic_regression": lambda: LogisticRegression(max_iter=1000, random_state=seed),
        "random_forest": lambda: RandomForestClassifier(n_estimators=100, min_samples_leaf=5, n_jobs=1,
                                                        random_state=seed),
        "hist_gradient_boosting": lambda: HistGradientBoostingClassifier(random_state=seed),
    }[name]()
    try:
        base.set_params(**params)
    except ValueError as err:
        valid = ", ".join(sorted(base.get_params()))
        raise ConfigError(f"training.params: {str(err).splitlines()[0]}",
                          fix=f"use parameters of {type(base).__name__}: {valid}") from None
    try:
        base._validate_params()  # types and ranges, before any data is read: check-config and run agree
    except (ValueError, TypeError) as err:
        raise ConfigError(f"training.params: {str(err).splitlines()[0]}",
                          fix="correct the parameter's value (see the estimator's scikit-learn documentation)") from None
    return base


def check_estimator(name: str, params: dict[str, Any], seed: int = 0) -> str:
    """Build the estimator exactly as training will and validate its parameters; return its class name.

    Raises :class:`~kfp_governance.errors.ConfigError` naming the parameter and
    the bad value, so ``check-config`` refuses what training would refuse.

    >>> check_estimator("hist_gradient_boosting", {"max_iter": 200})
    'HistGradientBoostingClassifier'
    >>> check_estimator("hist_gradient_boosting", {"max_iter": 200.5})
    Traceback (most recent call last):
    ...
    kfp_governance.errors.ConfigError: training.params: The 'max_iter' parameter of HistGradientBoostingClassifier \
must be an int in the range [1, inf). Got 200.5 instead.; fix: correct the parameter's value (see the estimator's \
scikit-learn documentation)
    """
    return type(_estimator(name, params, seed)).__name__


def parse_estimator_params(text: str | dict[str, Any] | None) -> dict[str, Any]:
    """The estimator parameters from their JSON text (how they cross a pipeline without losing types).

    >>> parse_estimator_params('{"max_iter": 200, "learning_rate": 0.1}')
    {'max_iter': 200, 'learning_rate': 0.1}
    >>> parse_estimator_params("[200]")
    Traceback (most recent call last):
    ...
    kfp_governance.errors.ConfigError: estimator_params must be a JSON object of parameter names and values, \
got '[200]'; fix: pass e.g. '{"max_iter": 200}' (json.dumps of a dict)
    """
    if text is None or text == "":
        return {}
    if isinstance(text, dict):
        return dict(text)
    try:
        value = json.loads(text)
    except (TypeError, json.JSONDecodeError):
        value = None
    if not isinstance(value, dict):
        raise ConfigError(f"estimator_params must be a JSON object of parameter names and values, got {text!r}",
                          fix="pass e.g. '{\"max_iter\": 200}' (json.dumps of a dict)")
    return value


def build_pipeline(estimator: str, params: dict[str, Any], numeric: list[str], categorical: list[str],
                   seed: int = 0):
    """Preprocessing (impute; scale for linear models; one-hot categories) and the estimator."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric_steps = [("impute", SimpleImputer(strategy="median"))]
    if estimator == "logistic_regression":
        numeric_steps.append(("scale", StandardScaler()))
    categorical_steps = [
        ("impute", SimpleImputer(strategy="constant", fill_value="(missing)")),
        ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
    ]
    transformers = []
    if numeric:
        transformers.append(("num", Pipeline(numeric_steps), numeric))
    if categorical:
        transformers.append(("cat", Pipeline(categorical_steps), categorical))
    preprocess = ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)
    return Pipeline([("preprocess", preprocess), ("model", _estimator(estimator, params, seed))])


def feature_sources(pipeline) -> list[str]:
    """For each column the preprocessing outputs, the original feature it came from.

    One-hot columns of ``workclass`` all map to ``workclass``; used to fold
    explanations back onto the features a person recognises.
    """
    preprocess = pipeline.named_steps["preprocess"]
    sources: list[str] = []
    for name, transformer, columns in preprocess.transformers_:
        if name == "num":
            sources.extend(columns)
        elif name == "cat":
            onehot = transformer.named_steps["onehot"]
            for column, categories in zip(columns, onehot.categories_):
                sources.extend([column] * len(categories))
    return sources


def _json_safe(params: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(params, default=repr))


def train_model(train_path: str | Path, model_dir: str | Path, *, label: str, positive_label: str,
                features: list[str] | None = None, estimator: str = "hist_gradient_boosting",
                params: dict[str, Any] | None = None, seed: int = 0,
                data_lineage: dict[str, Any] | None = None) -> TrainResult:
    """Fit the pipeline on ``train_path`` and save it in ``model_dir`` with its record.

    ``features`` defaults to every column but the label; ``data_lineage``
    (e.g. source URI and sha256 from ``load_data``) is copied into the record.
    """
    import numpy as np
    import pandas as pd
    import sklearn

    params = dict(params or {})
    frame = read_split(train_path, "training split")
    features = features or [c for c in frame.columns if c != label]
    X, y = features_and_label(frame, features, label, positive_label, "training split")
    if len(np.unique(y)) < 2:
        raise DataError(f"the training split's label {label!r} has one class only",
                        fix="use data with both outcomes")
    numeric, categorical = column_kinds(X)
    pipeline = build_pipeline(estimator, params, numeric, categorical, seed)
    log.info("fitting %s on %d rows x %d features", estimator, len(X), len(features))
    started = time.perf_counter()
    try:
        pipeline.fit(X, y)
    except (ValueError, TypeError) as err:
        if type(err).__name__ == "InvalidParameterError":
            raise ConfigError(f"training.params: {err}", fix="correct the parameter's value") from None
        raise
    fit_seconds = time.perf_counter() - started
    record = {
        "framework": "scikit-learn",
        "estimator": estimator,
        "estimator_class": type(pipeline.named_steps["model"]).__name__,
        "params": _json_safe(pipeline.named_steps["model"].get_params()),
        "params_requested": _json_safe(params),
        "seed": seed,
        "label": label,
        "positive_label": str(positive_label),
        "features": features,
        "numeric_features": numeric,
        "categorical_features": categorical,
        "transformed_feature_sources": feature_sources(pipeline),
        "train_rows": int(len(X)),
        "train_positive_rate": float(y.mean()),
        "fit_seconds": round(fit_seconds, 3),
        "training_data": dict(data_lineage or {}, split_sha256=sha256_file(train_path)),
        "versions": {
            "python": platform.python_version(),
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
            "pandas": pd.__version__,
        },
        "code": code_version(),
    }
    record = save_model(pipeline, model_dir, record)
    log.info("saved model %s (sha256 %s) in %.1f s", Path(model_dir) / "model.joblib", record["model_sha256"][:12],
             fit_seconds)
    return TrainResult(record)
