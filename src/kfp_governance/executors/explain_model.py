"""Explain a trained model with SHAP on a seeded sample of the eval split: reproducible evidence.

The explainer follows the estimator (see :mod:`kfp_governance.explain.explainers`):
Tree SHAP for tree ensembles, Linear SHAP for linear models, a sampled
permutation explainer otherwise; each explains the model in its native
additive output space (probability for random forests and the permutation
explainer, log-odds for gradient boosting and logistic regression), recorded
as ``method.output_space``.

Method and rows are chosen by :mod:`kfp_governance.explain.plan` from facts
that do not change between runs: the model's size (trees, leaves and their
depths), the number of columns, the eval rows and ``config.max_samples``.
Exact Tree SHAP is used when its estimated work fits a fixed limit,
approximate Tree SHAP otherwise, and ``method.reason`` says why. No clock
influences the choice, so the same model, data and config give the same
JSON and HTML, byte for byte, on a quiet or a busy machine.

``config.time_limit_s`` is only a stop: rows are explained in batches of
``BATCH_ROWS`` and the elapsed time is checked between batches; past the
limit the step raises :class:`~kfp_governance.errors.TimeLimitError` instead
of explaining fewer rows. A row's values do not depend on its batch.
Timings go to :meth:`ExplanationResult.metadata` (the KFP Metrics artifact)
and the log, never into the JSON or the report.

Rows: a seeded permutation of the eval split's rows; the explained rows are
its first ``rows`` entries (so a smaller sample is a prefix of a larger one),
and the background (linear and permutation explainers) a separate seeded
draw.

Importance: SHAP values of one-hot columns are summed per original feature
and row, then the mean of the absolute sums is taken (see
:mod:`kfp_governance.explain.report`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kfp_governance.config import ExplainConfig
from kfp_governance.errors import ConfigError, DataError, TimeLimitError
from kfp_governance.explain.explainers import make_adapter, resolve_kind
from kfp_governance.explain.report import (
    bar_chart_png,
    fold,
    importance,
    local_explanations,
    render_html,
    summary_png,
    waterfall_rows,
)
from kfp_governance.hashing import sha256_file
from kfp_governance.model_io import load_model, read_record
from kfp_governance.tabular import read_split

log = logging.getLogger(__name__)

SCHEMA = "kfp-governance/explanation/v1"
BATCH_ROWS = 50  # rows explained between two checks of the time limit
PERMUTATION_BACKGROUND_ROWS = 100
ADDITIVITY_TOLERANCE = 1e-6
OUTPUT_UNITS = {"probability": "probability", "log_odds": "log-odds"}


@dataclass
class ExplanationResult:
    """What ``explain_model`` found and how; :meth:`to_json` is the JSON file's content.

    ``timings`` (seconds) is the only part that depends on the machine; it
    goes to :meth:`metadata` and never into the JSON or the report.
    """

    model_sha256: str
    eval_data_sha256: str
    estimator: str | None
    explainer: str
    explainer_class: str
    exact: bool
    algorithm: str
    output_space: str
    reason: str
    expected_value: float
    eval_rows: int
    rows: int
    background_rows: int
    seed: int
    row_indices: list[int]
    feature_importance: list[dict[str, Any]]
    local_explanations: list[dict[str, Any]]
    plan: dict[str, Any]
    additivity: dict[str, Any]
    model_facts: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def metadata(self, top_k: int = 10) -> dict[str, float]:
        """Flat numbers for a KFP ``Metrics`` artifact: the sample, the method, the timings and
        ``shap.<feature>`` (mean |SHAP|) for the ``top_k`` most important features."""
        meta: dict[str, float] = {
            "rows": float(self.rows),
            "background_rows": float(self.background_rows),
            "exact": float(self.exact),
            "expected_value": self.expected_value,
            "additivity_max_error": self.additivity["max_abs_error"],
            "estimated_work_units": float(self.plan["estimated_units"]),
        }
        meta.update({name: float(value) for name, value in self.timings.items()})
        for entry in self.feature_importance[:top_k]:
            meta[f"shap.{entry['feature']}"] = entry["mean_abs_shap"]
        return meta

    def to_json(self) -> dict[str, Any]:
        """The JSON document written to ``output_json`` (schema ``kfp-governance/explanation/v1``)."""
        return {
            "schema": SCHEMA,
            "model_sha256": self.model_sha256,
            "eval_data_sha256": self.eval_data_sha256,
            "estimator": self.estimator,
            "method": {"explainer": self.explainer, "explainer_class": self.explainer_class, "exact": self.exact,
                       "algorithm": self.algorithm, "output_space": self.output_space, "reason": self.reason},
            "expected_value": self.expected_value,
            "sample": {"eval_rows": self.eval_rows, "rows": self.rows, "background_rows": self.background_rows,
                       "seed": self.seed, "row_indices": self.row_indices},
            "importance_method": "mean over explained rows of |sum of the SHAP values of the feature's columns|",
            "feature_importance": self.feature_importance,
            "local_explanations": self.local_explanations,
            "plan": self.plan,
            "additivity": self.additivity,
            "model": self.model_facts,
            "versions": self.versions,
        }


def _explain_config(config: ExplainConfig | Mapping[str, Any]) -> ExplainConfig:
    if isinstance(config, ExplainConfig):
        return config
    if isinstance(config, Mapping):
        from pydantic import ValidationError

        from kfp_governance.config import format_validation_error

        try:
            return ExplainConfig.model_validate(dict(config))
        except ValidationError as err:
            raise ConfigError(format_validation_error(err, "(explain)"), fix="correct the explain section") from None
    raise ConfigError(f"config must be an ExplainConfig or a mapping, got {type(config).__name__}",
                      fix="pass GovernanceConfig.explain")


def _plan_block(plan, max_samples: int) -> dict[str, Any]:
    """The JSON's ``plan``: the deterministic cost estimate (``method`` carries the choice and the reason)."""
    block = {key: value for key, value in plan.to_json().items()
             if key not in ("explainer", "exact", "algorithm", "reason")}
    return dict(block, max_samples=max_samples, batch_rows=BATCH_ROWS)


def _seed_rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed % 2**32, stream])


def _explain_rows(adapter, X, order: np.ndarray, rows: int, mode: str, limit_s: float, started: float,
                  what: str) -> list:
    """Explain ``X.iloc[order[:rows]]`` in batches of ``BATCH_ROWS``; stop with an error past ``limit_s``."""
    parts = []
    for start in range(0, rows, BATCH_ROWS):
        elapsed = time.monotonic() - started
        if elapsed > limit_s:
            raise TimeLimitError(
                f"explain_model exceeded explain.time_limit_s={limit_s:g} after {elapsed:.1f} s, with {start:,} of "
                f"{rows:,} rows explained ({what})",
                fix="lower explain.max_samples or raise explain.time_limit_s")
        parts.append(adapter.explain(X.iloc[order[start:min(start + BATCH_ROWS, rows)]], mode))
    return parts


def explain_model(model_dir: str | Path, eval_path: str | Path, *, config: ExplainConfig | Mapping[str, Any],
                  output_json: str | Path, output_html: str | Path, expected_sha256: str | None = None,
                  explainer: str = "auto") -> ExplanationResult:
    """Explain the model in ``model_dir`` on a sample of ``eval_path``; write JSON and an HTML report.

    ``config`` gives the largest sample (``max_samples``), the seed and the
    time limit of the step. How and how many rows are explained follows from
    the model's size and the data only (see the module docstring), so the
    outputs are reproducible. ``expected_sha256`` (e.g. from the Model
    artifact's metadata) is checked against ``model.joblib`` before loading; a
    mismatch raises :class:`~kfp_governance.errors.IntegrityError`.
    ``explainer`` overrides the choice by estimator (``auto``, ``tree``,
    ``linear``, ``permutation``).

    Raises :class:`~kfp_governance.errors.DataError` when ``eval_path`` is
    missing, has no rows or lacks a feature column the model was trained on,
    and :class:`~kfp_governance.errors.TimeLimitError` when the step runs past
    ``config.time_limit_s``.

    >>> import tempfile
    >>> from kfp_governance.config import ExplainConfig, default_config
    >>> from kfp_governance.executors.load_data import load_data
    >>> from kfp_governance.executors.train_model import train_model
    >>> from kfp_governance.executors.explain_model import explain_model
    >>> out = tempfile.mkdtemp(); cfg = default_config()
    >>> _ = load_data(cfg.data, cfg.split, f"{out}/train.parquet", f"{out}/eval.parquet")
    >>> _ = train_model(f"{out}/train.parquet", f"{out}/model", label="loan", positive_label=">50K",
    ...                 estimator="hist_gradient_boosting")
    >>> result = explain_model(f"{out}/model", f"{out}/eval.parquet", config=ExplainConfig(max_samples=200),
    ...                        output_json=f"{out}/explanation.json", output_html=f"{out}/explanation.html")
    >>> result.explainer, result.exact, result.algorithm, result.output_space, result.rows
    ('tree', True, 'tree_path_dependent', 'log_odds', 200)
    >>> result.additivity["max_abs_error"] < 1e-6
    True
    """
    started = time.monotonic()  # for the time limit and the timings in metadata() only, never for a choice
    config = _explain_config(config)
    limit_s = float(config.time_limit_s)
    frame = read_split(eval_path, "eval_path")
    eval_sha256 = sha256_file(eval_path)
    record = read_record(model_dir)
    model = load_model(model_dir, expected_sha256)
    model_sha256 = expected_sha256 or record["model_sha256"]  # load_model verified the file against it
    features = list(record["features"])
    missing = [name for name in features if name not in frame.columns]
    if missing:
        raise DataError(f"eval_path {str(eval_path)!r} lacks feature column(s) {missing} the model was trained on; "
                        f"it has {list(frame.columns)}", fix="explain on a split with the training columns")
    X = frame[features].reset_index(drop=True)  # index = row position in the eval split
    eval_rows = len(X)
    kind = resolve_kind(model, explainer)

    order = _seed_rng(config.seed, 0).permutation(eval_rows)
    target = min(config.max_samples, eval_rows)
    background_size = {"tree": 0, "linear": target,
                       "permutation": min(PERMUTATION_BACKGROUND_ROWS, eval_rows)}[kind]
    background_index = np.sort(_seed_rng(config.seed, 1).permutation(eval_rows)[:background_size])
    sources = record.get("transformed_feature_sources") or []
    adapter = make_adapter(kind, model, sources, X, X.iloc[background_index], config.seed)
    plan = adapter.plan(target)
    rows = plan.rows
    log.info("explain_model plan: %s %s on %d rows: %s", adapter.explainer_class, plan.algorithm, rows, plan.reason)

    shap_started = time.monotonic()
    parts = _explain_rows(adapter, X, order, rows, plan.mode, limit_s, started,
                          f"{adapter.explainer_class}, {plan.algorithm}")
    shap_seconds = time.monotonic() - shap_started
    values = np.vstack([part.values for part in parts])
    expected_value = parts[0].expected_value
    row_index = order[:rows]
    X_rows = X.iloc[row_index]
    log.info("explained %d rows with %s (%s) in %.2f s", rows, adapter.explainer_class, plan.algorithm, shap_seconds)

    outputs = adapter.output(X_rows)
    scale = max(1.0, float(np.max(np.abs(outputs), initial=0.0)))
    error = float(np.max(np.abs(values.sum(axis=1) + expected_value - outputs)))
    if error > ADDITIVITY_TOLERANCE * scale:
        log.warning("SHAP values do not add up to the model output: max error %.3g", error)
    scores = adapter.scores(X_rows)
    folded = fold(values, adapter.sources, features)
    ranked = importance(folded, features)
    for entry in ranked:
        entry["columns"] = [c for c, s in zip(adapter.columns, adapter.sources) if s == entry["feature"]]
    local = local_explanations(folded, expected_value, outputs, scores, X_rows, row_index, features)

    import shap
    import sklearn

    result = ExplanationResult(
        model_sha256=model_sha256,
        eval_data_sha256=eval_sha256,
        estimator=record.get("estimator"),
        explainer=kind,
        explainer_class=adapter.explainer_class,
        exact=plan.exact,
        algorithm=plan.algorithm,
        output_space=adapter.output_space,
        reason=plan.reason,
        expected_value=float(expected_value),
        eval_rows=eval_rows,
        rows=rows,
        background_rows=adapter.background_rows,
        seed=config.seed,
        row_indices=[int(i) for i in row_index],
        feature_importance=ranked,
        local_explanations=local,
        plan=_plan_block(plan, config.max_samples),
        additivity={"max_abs_error": error, "tolerance": ADDITIVITY_TOLERANCE,
                    "holds": error <= ADDITIVITY_TOLERANCE * scale, "space": adapter.output_space},
        model_facts=dict(adapter.describe(),
                         estimator_class=type(getattr(model, "named_steps", {}).get("model", model)).__name__),
        versions={"shap": shap.__version__, "scikit-learn": sklearn.__version__},
    )

    render_started = time.monotonic()
    unit = OUTPUT_UNITS[adapter.output_space]
    html = render_html({
        "r": result.to_json(),
        "unit": unit,
        "bar_png": bar_chart_png(ranked, unit),
        "summary_png": summary_png(folded, X_rows, ranked, features, unit, config.seed),
        "max_importance": max((e["mean_abs_shap"] for e in ranked), default=0.0) or 1.0,
        "waterfalls": [dict(e, chart=waterfall_rows(e)) for e in local],
    })
    Path(output_html).parent.mkdir(parents=True, exist_ok=True)
    Path(output_html).write_text(html, encoding="utf-8")
    Path(output_json).parent.mkdir(parents=True, exist_ok=True)
    Path(output_json).write_text(json.dumps(result.to_json(), indent=2), encoding="utf-8")
    step_seconds = time.monotonic() - started
    result.timings = {"time_limit_s": limit_s, "shap_seconds": round(shap_seconds, 3),
                      "render_seconds": round(time.monotonic() - render_started, 3),
                      "step_seconds": round(step_seconds, 3)}
    log.info("explain_model: %s (%s), %d rows, %.2f s of a %g s limit", adapter.explainer_class, plan.algorithm,
             rows, step_seconds, limit_s)
    return result
