"""How many bootstrap resamples the fairness intervals need for a width that does not move with the seed.

On the default run (bundled UCI Adult, ``default_config()``: load_data, then
train_model with the configured estimator, then evaluate_fairness), the 95%
interval of every model-bias metric of every protected attribute is computed
for ``--seeds`` values of ``FairnessConfig.seed`` at each resample count. For
each metric the width (high minus low) is compared across seeds:

* ``max rel dev``: the largest ``|width(seed) - mean width| / mean width``
  over the seeds; the column shows the worst metric, named beside it;
* ``median rel dev``: the median of that number over the metrics;
* ``rel sd (worst)``: the largest standard deviation / mean over the metrics;
* ``seconds``: the median over seeds of evaluate_fairness's own metrics time
  (grouping, counts, bootstrap, intervals; prediction excluded).

The default of ``FairnessConfig.bootstrap_samples`` is the smallest count
from which on every measured count has ``max rel dev`` at most
``--tolerance`` (10%): the maximum over a handful of seeds is itself noisy,
so one lucky count below a failing one does not qualify.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bootstrap_stability.py [--seeds 10] [--samples 200 500 1000 2000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _table import print_table

from kfp_governance.config import FairnessConfig, default_config
from kfp_governance.executors.evaluate_fairness import evaluate_fairness
from kfp_governance.executors.load_data import load_data
from kfp_governance.executors.train_model import train_model

HEADER = ["resamples", "max rel dev", "worst metric", "median rel dev", "rel sd (worst)", "seconds"]


def widths(model_dir: str, train: str, evaluation: str, attributes, samples: int, seed: int,
           section: str = "model") -> tuple[dict[str, float], float]:
    """``{"<attribute>.<metric>": interval width}`` of one evaluate_fairness run, and its metrics seconds."""
    result = evaluate_fairness(model_dir, train, evaluation, protected_attributes=attributes,
                               config=FairnessConfig(bootstrap_samples=samples, seed=seed),
                               output_json=None, output_html=None)
    out = {}
    for name, entry in result.attributes.items():
        for metric, value in entry[section]["metrics"].items():
            if value["interval"]:
                lo, hi = value["interval"]
                out[f"{name}.{metric}"] = hi - lo
    return out, result.seconds["metrics"]


def spread(per_seed: list[dict[str, float]]) -> dict[str, tuple[float, float]]:
    """``metric -> (max relative deviation from the mean width, relative standard deviation)`` over seeds."""
    out = {}
    for metric in per_seed[0]:
        values = [w[metric] for w in per_seed]
        mean = statistics.fmean(values)
        out[metric] = (max(abs(v - mean) for v in values) / mean, statistics.pstdev(values) / mean)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--samples", type=int, nargs="+", default=[200, 500, 1000, 2000])
    parser.add_argument("--tolerance", type=float, default=0.10)
    parser.add_argument("--section", choices=["model", "data"], default="model")
    args = parser.parse_args(argv)

    cfg = default_config()
    out = tempfile.mkdtemp(prefix="bootstrap-stability-")
    train, evaluation, model_dir = f"{out}/train.parquet", f"{out}/eval.parquet", f"{out}/model"
    started = time.perf_counter()
    load_data(cfg.data, cfg.split, train, evaluation)
    train_model(train, model_dir, label=cfg.data.label, positive_label=cfg.data.positive_label,
                estimator=cfg.training.estimator, params=cfg.training.params, seed=cfg.training.seed)
    print(f"default run: {cfg.training.estimator} on {cfg.data.uri} prepared in {time.perf_counter() - started:.1f} s;"
          f" {args.seeds} seeds; {args.section} metrics of {[a.name for a in cfg.data.protected_attributes]}")

    rows, chosen = [], None
    for samples in args.samples:
        runs = [widths(model_dir, train, evaluation, cfg.data.protected_attributes, samples, seed, args.section)
                for seed in range(args.seeds)]
        result = spread([w for w, _ in runs])
        worst_metric, (worst_dev, _) = max(result.items(), key=lambda kv: kv[1][0])
        rows.append([samples, worst_dev, worst_metric, statistics.median(d for d, _ in result.values()),
                     max(sd for _, sd in result.values()), statistics.median(s for _, s in runs)])
        if worst_dev > args.tolerance:
            chosen = None
        elif chosen is None:
            chosen = samples
    print_table(f"95% interval width across seeds ({args.section} metrics, tolerance {args.tolerance:.0%})", HEADER, rows)
    print(f"smallest count from which on all are within tolerance: {chosen or 'none of those measured'}")


if __name__ == "__main__":
    main()
