"""Benchmark: SHAP cost by model and rows, and the whole explain_model step at the default settings.

Two tables, on the bundled UCI Adult data (12 features, 65 one-hot columns):

1. SHAP alone (preprocessing included) on 1,000 and 10,000 rows for a random
   forest (exact and approximate Tree SHAP) and hist gradient boosting, with
   each model's size and the cost model's work units a row
   (:mod:`kfp_governance.explain.plan`); ``ns_per_unit`` is what to compare
   with the calibration written in that module. A measurement predicted to
   take longer than ``--max-seconds`` is run on fewer rows and extrapolated
   linearly (marked).
2. The whole ``explain_model`` step at the default ``explain`` settings
   (``max_samples=1000``, ``time_limit_s=600``) for each estimator, each in a
   fresh Python process as a KFP component runs it, so imports count. The
   method and rows come from the deterministic plan; the seconds are
   measured here only (they are not in the explanation JSON).

Run ``OMP_NUM_THREADS=1 python benchmarks/explain_bench.py`` (``--quick``
for a 1k-row-only pass). ``benchmarks/evaluation.py`` calls
:func:`shap_cost_rows` and :func:`step_rows`, or :func:`main`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

MODELS = {  # name -> (estimator, params)
    "random_forest": ("random_forest", {}),
    "random_forest_full_depth": ("random_forest", {"min_samples_leaf": 1}),
    "hist_gradient_boosting": ("hist_gradient_boosting", {}),
    "logistic_regression": ("logistic_regression", {}),
}


def prepare(folder: str | Path, models: tuple[str, ...] = tuple(MODELS)) -> dict[str, Any]:
    """Split the bundled Adult data and train ``models`` into ``folder``; return their paths."""
    from kfp_governance.config import default_config
    from kfp_governance.executors.load_data import load_data
    from kfp_governance.executors.train_model import train_model

    folder = Path(folder)
    config = default_config()
    train, evaluation = folder / "train.parquet", folder / "eval.parquet"
    if not evaluation.exists():
        load_data(config.data, config.split, train, evaluation)
    paths = {"train": train, "eval": evaluation, "models": {}}
    for name in models:
        directory = folder / name
        if not (directory / "model_record.json").exists():
            estimator, params = MODELS[name]
            train_model(train, directory, label=config.data.label, positive_label=config.data.positive_label,
                        estimator=estimator, params=params, seed=0)
        paths["models"][name] = directory
    return paths


def _adapter(model_dir: Path, frame):
    from kfp_governance.explain.explainers import make_adapter, resolve_kind
    from kfp_governance.model_io import load_model, read_record

    record = read_record(model_dir)
    model = load_model(model_dir)
    X = frame[record["features"]]
    kind = resolve_kind(model)
    return make_adapter(kind, model, record["transformed_feature_sources"], X, X.head(1000), seed=0), X


def _timed(adapter, X, mode: str) -> float:
    started = time.perf_counter()
    adapter.explain(X, mode)
    return time.perf_counter() - started


def shap_cost_rows(paths: dict[str, Any], sizes: tuple[int, ...] = (1000, 10000),
                   max_seconds: float = 30.0) -> list[dict[str, Any]]:
    """SHAP seconds on ``sizes`` rows for the tree models, exact and approximate for the forests.

    Rows come from the whole Adult data (train and eval splits), so 10,000
    rows exist. A case predicted over ``max_seconds`` runs on the rows that
    fit and is extrapolated.
    """
    import pandas as pd

    frame = pd.concat([pd.read_parquet(paths["eval"]), pd.read_parquet(paths["train"])], ignore_index=True)
    table = []
    for name in ("random_forest", "random_forest_full_depth", "hist_gradient_boosting"):
        if name not in paths["models"]:
            continue
        adapter, X = _adapter(paths["models"][name], frame)
        facts = adapter.describe()
        size = (f"{facts['trees']} trees, {facts['mean_leaves']:.0f} leaves/tree, depth {facts['mean_depth']:.0f} "
                f"(max {facts['max_depth']})")
        modes = ("exact", "approximate") if name.startswith("random_forest") else ("exact",)
        for mode in modes:
            units = facts["exact_units_per_row"] if mode == "exact" else facts["approximate_units_per_row"]
            adapter.explain(X.head(2), mode)  # warm-up: one-time costs are not SHAP's per-row cost
            probe = min(20, sizes[0])
            rate = _timed(adapter, X.head(probe), mode) / probe
            largest: tuple[int, float] | None = None  # (rows, seconds) of the largest measurement so far
            for n in sorted(sizes):
                if rate * n <= max_seconds:
                    largest = (n, _timed(adapter, X.head(n), mode))
                elif largest is None or largest[0] < 0.5 * max_seconds / rate:
                    m = max(probe, int(max_seconds / rate))
                    largest = (m, _timed(adapter, X.head(m), mode))
                measured = largest[0]
                seconds = largest[1] * n / measured
                table.append({"model": name, "size": size, "mode": mode, "rows": n, "seconds": round(seconds, 3),
                              "ms_per_row": round(1000 * seconds / n, 3), "units_per_row": units,
                              "ns_per_unit": round(1e9 * seconds / n / units, 2),
                              "note": "" if measured == n else f"extrapolated from {measured} rows"})
    return table


_STEP = """
import json, sys, time
started = time.perf_counter()
from kfp_governance.config import ExplainConfig
from kfp_governance.executors.explain_model import explain_model
imported = time.perf_counter() - started
model_dir, eval_path, out = sys.argv[1:4]
result = explain_model(model_dir, eval_path, config=ExplainConfig(), output_json=out + ".json",
                       output_html=out + ".html")
print(json.dumps({"imported": imported, "plan": result.plan, "rows": result.rows, "explainer": result.explainer_class,
                  "exact": result.exact, "algorithm": result.algorithm, "reason": result.reason,
                  "timings": result.timings, "additivity": result.additivity["max_abs_error"],
                  "top": [e["feature"] for e in result.feature_importance[:3]]}))
"""


def step_rows(paths: dict[str, Any], models: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """The whole ``explain_model`` step at the default settings, each model in a fresh process."""
    table = []
    for name in models or tuple(paths["models"]):
        out = Path(paths["eval"]).parent / f"explanation-{name}"
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", _STEP, str(paths["models"][name]), str(paths["eval"]), str(out)],
                              check=False, capture_output=True, text=True,
                              env={**os.environ, "PYTHONWARNINGS": "ignore"})
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"explain_model on {name} failed:\n{done.stderr[-3000:]}")
        info = json.loads(done.stdout.strip().splitlines()[-1])
        plan, timings = info["plan"], info["timings"]
        table.append({
            "model": name,
            "explainer": info["explainer"],
            "exact": info["exact"],
            "algorithm": info["algorithm"],
            "rows": info["rows"],
            "estimated_units": plan["estimated_units"],
            "shap_s": timings["shap_seconds"],
            "ns_per_unit": round(1e9 * timings["shap_seconds"] / max(plan["estimated_units"], 1), 2),
            "step_s": timings["step_seconds"],
            "process_s": round(wall, 2),
            "additivity_error": info["additivity"],
            "top_features": ", ".join(info["top"]),
            "reason": info["reason"],
        })
    return table


def format_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A plain-text table of ``columns`` from ``rows``."""
    cells = [[str(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) if cells else len(c) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in cells]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Prepare the data and models, run both benchmarks and print their tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", help="keep data and models here between runs (default: a temporary folder)")
    parser.add_argument("--max-seconds", type=float, default=30.0,
                        help="longest single SHAP measurement before extrapolating (default 30)")
    parser.add_argument("--quick", action="store_true", help="1,000 rows only")
    parser.add_argument("--steps-only", action="store_true", help="only the whole-step table")
    args = parser.parse_args(argv)
    folder = args.workdir or tempfile.mkdtemp(prefix="explain-bench-")
    Path(folder).mkdir(parents=True, exist_ok=True)
    print(f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}; data and models in {folder}", flush=True)
    paths = prepare(folder)

    import shap
    import sklearn

    if not args.steps_only:
        print(f"\nSHAP alone, Adult rows (shap {shap.__version__}, scikit-learn {sklearn.__version__})")
        sizes = (1000,) if args.quick else (1000, 10000)
        cost = shap_cost_rows(paths, sizes=sizes, max_seconds=args.max_seconds)
        print(format_table(cost, ["model", "size", "mode", "rows", "seconds", "ms_per_row", "units_per_row",
                                  "ns_per_unit", "note"]), flush=True)

    print("\nWhole explain_model step, default settings (max_samples=1000, time_limit_s=600), fresh process each")
    steps = step_rows(paths)
    print(format_table(steps, ["model", "explainer", "exact", "algorithm", "rows", "estimated_units", "shap_s",
                               "ns_per_unit", "step_s", "process_s", "additivity_error"]))
    print("\nwhy each plan:")
    for row in steps:
        print(f"  {row['model']}: {row['reason']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
