"""Explain a trained model with SHAP on a seeded sample of the eval split, within a time budget.

The explainer follows the estimator (see :mod:`kfp_governance.explain.explainers`):
Tree SHAP for tree ensembles, Linear SHAP for linear models, a sampled
permutation explainer otherwise; each explains the model in its native
additive output space (probability for random forests and the permutation
explainer, log-odds for gradient boosting and logistic regression), recorded
as ``output_space``.

Rows: a seeded permutation of the eval split's rows; the explained rows are
its first ``rows`` entries, and the background (linear and permutation
explainers) a separate seeded draw. ``rows`` is at most
``config.max_samples`` and is chosen from a measured pilot so that the whole
step fits ``config.time_budget_s`` (see :mod:`kfp_governance.explain.plan`).
Because ``rows`` follows the measured speed, two runs on machines of
different speed may explain different numbers of rows; the order, and so
every row both runs explain, is the same for the same seed.

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
from kfp_governance.errors import ConfigError, DataError
from kfp_governance.explain import plan as planning
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
from kfp_governance.model_io import load_model, read_record
from kfp_governance.tabular import read_split

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
# Seconds kept back for the plots, the HTML and the JSON after SHAP (measured
# 0.5-0.9 s for 1,000 rows on the project's busy 2-core machine).
RENDER_RESERVE_S = 1.5
PERMUTATION_BACKGROUND_ROWS = 100
ADDITIVITY_TOLERANCE = 1e-6
OUTPUT_UNITS = {"probability": "probability", "log_odds": "log-odds"}


@dataclass
class ExplanationResult:
    """What ``explain_model`` found and how; :meth:`to_json` is the JSON file's content."""

    model_sha256: str
    estimator: str | None
    explainer: str
    explainer_class: str
    output_space: str
    approximate: bool | None
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

    def metadata(self, top_k: int = 10) -> dict[str, float]:
        """Flat numbers for a KFP ``Metrics`` artifact: the sample, the timing and ``shap.<feature>``
        (mean |SHAP|) for the ``top_k`` most important features."""
        meta: dict[str, float] = {
            "rows": float(self.rows),
            "background_rows": float(self.background_rows),
            "expected_value": self.expected_value,
            "additivity_max_error": self.additivity["max_abs_error"],
            "time_budget_s": self.plan["time_budget_s"],
            "estimated_shap_seconds": self.plan["estimated_shap_seconds"],
            "shap_seconds": self.plan["actual_shap_seconds"],
            "step_seconds": self.plan["step_seconds"],
        }
        if self.approximate is not None:
            meta["approximate"] = float(self.approximate)
        for entry in self.feature_importance[:top_k]:
            meta[f"shap.{entry['feature']}"] = entry["mean_abs_shap"]
        return meta

    def to_json(self) -> dict[str, Any]:
        """The JSON document written to ``output_json``."""
        return {
            "schema_version": SCHEMA_VERSION,
            "model_sha256": self.model_sha256,
            "estimator": self.estimator,
            "explainer": self.explainer,
            "explainer_class": self.explainer_class,
            "approximate": self.approximate,
            "output_space": self.output_space,
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


def _seed_rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed % 2**32, stream])


def explain_model(model_dir: str | Path, eval_path: str | Path, *, config: ExplainConfig | Mapping[str, Any],
                  output_json: str | Path, output_html: str | Path, expected_sha256: str | None = None,
                  explainer: str = "auto") -> ExplanationResult:
    """Explain the model in ``model_dir`` on a sample of ``eval_path``; write JSON and an HTML report.

    ``config`` gives the time budget for the whole step, the largest sample
    and the seed. ``expected_sha256`` (e.g. from the Model artifact's
    metadata) is checked against ``model.joblib`` before loading; a mismatch
    raises :class:`~kfp_governance.errors.IntegrityError`. ``explainer``
    overrides the choice by estimator (``auto``, ``tree``, ``linear``,
    ``permutation``).

    Raises :class:`~kfp_governance.errors.DataError` when ``eval_path`` is
    missing, has no rows or lacks a feature column the model was trained on.

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
    >>> result.explainer, result.output_space, result.rows
    ('tree', 'log_odds', 200)
    >>> result.additivity["max_abs_error"] < 1e-6
    True
    """
    started = time.perf_counter()

    def elapsed() -> float:
        return time.perf_counter() - started

    config = _explain_config(config)
    budget = float(config.time_budget_s)
    frame = read_split(eval_path, "eval_path")
    record = read_record(model_dir)
    model = load_model(model_dir, expected_sha256)
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
    import matplotlib.figure  # noqa: F401  (imported now so that its cost counts as time already spent)

    # Pilots: measure each mode, preferred first, on the first rows of the sample.
    pilots: dict[str, planning.Pilot] = {}
    pilot_parts: dict[str, list] = {}
    skipped: dict[str, str] = {}
    for position, mode in enumerate(adapter.modes):
        remaining = max(budget - elapsed() - RENDER_RESERVE_S, 0.0)
        if pilots:
            best = next(iter(pilots.values()))
            if best.rows + planning.rows_within(remaining * planning.SAFETY, best.seconds_per_row,
                                                target - best.rows) >= target:
                break  # the preferred mode fits every row: no need to measure the others
        allowance = planning.PILOT_FRACTION * remaining
        predicted = adapter.predicted_seconds_per_row(mode)
        last_resort = position == len(adapter.modes) - 1 and not pilots  # the step must explain something
        pilot, parts = planning.run_pilot(
            lambda start, stop, mode=mode: adapter.explain(X.iloc[order[start:stop]], mode),
            mode, target, allowance, predicted, required=last_resort)
        if pilot is None:
            skipped[mode] = (f"predicted {predicted:.3g} s/row from the model's size, more than the pilot's "
                             f"allowance of {allowance:.2f} s ({planning.PILOT_FRACTION:.0%} of the time left)")
            continue
        pilots[mode], pilot_parts[mode] = pilot, parts
        log.info("pilot %s %s: %d rows in %.3f s, %.3g s/row", kind, mode, pilot.rows, pilot.seconds,
                 pilot.seconds_per_row)

    shap_budget = max(budget - elapsed() - RENDER_RESERVE_S, 0.0) * planning.SAFETY
    plan = planning.choose_plan(target, shap_budget, pilots, adapter.modes, skipped)
    pilot = pilots[plan.mode]
    parts = list(pilot_parts[plan.mode])
    rows = max(plan.rows, pilot.rows)
    tick = time.perf_counter()
    if rows > pilot.rows:
        parts.append(adapter.explain(X.iloc[order[pilot.rows:rows]], plan.mode))
    shap_seconds = pilot.seconds + (time.perf_counter() - tick)
    values = np.vstack([part.values for part in parts])[:rows]
    expected_value = parts[0].expected_value
    row_index = order[:rows]
    X_rows = X.iloc[row_index]
    log.info("explained %d rows with %s (%s) in %.2f s (estimated %.2f s)", rows, adapter.explainer_class,
             plan.mode, shap_seconds, plan.estimated_seconds)

    outputs = adapter.output(X_rows)
    error = float(np.max(np.abs(values.sum(axis=1) + expected_value - outputs))) if rows else 0.0
    if error > ADDITIVITY_TOLERANCE * max(1.0, float(np.max(np.abs(outputs)))):
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
        model_sha256=record.get("model_sha256", ""),
        estimator=record.get("estimator"),
        explainer=kind,
        explainer_class=adapter.explainer_class,
        output_space=adapter.output_space,
        approximate=(plan.mode == "approximate") if kind == "tree" else None,
        expected_value=float(expected_value),
        eval_rows=eval_rows,
        rows=rows,
        background_rows=adapter.background_rows,
        seed=config.seed,
        row_indices=[int(i) for i in row_index],
        feature_importance=ranked,
        local_explanations=local,
        plan={
            "time_budget_s": budget,
            "max_samples": config.max_samples,
            "target_rows": target,
            "mode": plan.mode,
            "reason": plan.reason,
            "pilots": [p.to_json() for p in pilots.values()],
            "skipped_modes": skipped,
            "seconds_per_row": float(f"{plan.seconds_per_row:.4g}"),
            "shap_budget_s": plan.shap_budget_s,
            "estimated_shap_seconds": plan.estimated_seconds,
            "actual_shap_seconds": round(shap_seconds, 3),
            "over_budget_planned": plan.over_budget,
            "render_reserve_s": RENDER_RESERVE_S,
            "step_seconds": None,  # filled in below, once the report is written
            "within_budget": None,
        },
        additivity={"max_abs_error": error, "tolerance": ADDITIVITY_TOLERANCE,
                    "holds": error <= ADDITIVITY_TOLERANCE * max(1.0, float(np.max(np.abs(outputs), initial=0.0))),
                    "space": adapter.output_space},
        model_facts=dict(adapter.describe(),
                         estimator_class=type(getattr(model, "named_steps", {}).get("model", model)).__name__),
        versions={"shap": shap.__version__, "scikit-learn": sklearn.__version__},
    )

    tick = time.perf_counter()
    unit = OUTPUT_UNITS[adapter.output_space]
    html = render_html({
        "r": result.to_json(),
        "unit": unit,
        "seconds_before_report": round(tick - started, 3),
        "bar_png": bar_chart_png(ranked, unit),
        "summary_png": summary_png(folded, X_rows, ranked, features, unit, config.seed),
        "max_importance": max((e["mean_abs_shap"] for e in ranked), default=0.0) or 1.0,
        "waterfalls": [dict(e, chart=waterfall_rows(e)) for e in local],
    })
    Path(output_html).parent.mkdir(parents=True, exist_ok=True)
    Path(output_html).write_text(html, encoding="utf-8")
    result.plan["render_seconds"] = round(time.perf_counter() - tick, 3)
    result.plan["step_seconds"] = round(elapsed(), 3)
    result.plan["within_budget"] = result.plan["step_seconds"] <= budget
    Path(output_json).parent.mkdir(parents=True, exist_ok=True)
    Path(output_json).write_text(json.dumps(result.to_json(), indent=2), encoding="utf-8")
    log.info("explain_model: %s, %d rows, %.2f s of a %.0f s budget", adapter.explainer_class, rows,
             result.plan["step_seconds"], budget)
    return result
