"""Fairness metrics at 1,000,000 rows: AIF360 vs a plain numpy floor vs our executor's computation.

Synthetic rows (seeded): a text protected attribute (privileged ``"A"``, 30%
of rows ``"B"``), labels whose base rate differs by group, and noisy
predictions. Every line computes the five model-bias metrics of
``evaluate_fairness`` (statistical parity, disparate impact, equal
opportunity, average odds and false positive rate differences):

* ``numpy floor``: boolean-mask means over ready 0/1 arrays and a ready
  privileged mask, the least work that gives the five numbers;
* ``ours, metrics``: :func:`kfp_governance.fairness.metrics.assess` on the
  same arrays without bootstrap (one ``bincount``, then eight counts);
* ``ours, metrics + bootstrap``: the same with the 200-resample interval for
  every metric;
* ``ours, per attribute``: what the executor does per attribute after
  prediction: privileged mask from the text column (``split_groups``),
  counts, metrics and the 200-resample bootstrap;
* ``AIF360``: two ``BinaryLabelDataset`` (labels, predictions) and a
  ``ClassificationMetric``; its import is timed separately, in a fresh
  interpreter.

Each time is the best of ``--repeat`` runs. The last column checks that every
engine gives the same numbers as the floor (largest absolute difference).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/fairness_bench.py [--rows 1000000] [--repeat 3] [--no-aif360]

``rows_for_table(...)`` returns ``(header, rows)`` for
``_table.print_table``; ``benchmarks/evaluation.py`` may call it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from kfp_governance.config import ProtectedAttribute
from kfp_governance.fairness.groups import split_groups
from kfp_governance.fairness.metrics import MODEL_METRICS, assess, group_counts

HEADER = ["engine", "seconds", "x numpy floor", "max |diff| vs floor"]
BOOTSTRAP = 200
AIF360_IMPORT = ("import time; s = time.perf_counter(); "
                 "from aif360.datasets import BinaryLabelDataset; "
                 "from aif360.metrics import ClassificationMetric; "
                 "print(time.perf_counter() - s)")


def synthetic(rows: int, seed: int = 0) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """A text protected column and 0/1 labels and predictions with a group gap."""
    rng = np.random.default_rng(seed)
    group = np.where(rng.random(rows) < 0.3, "B", "A")
    privileged = group == "A"
    y_true = (rng.random(rows) < np.where(privileged, 0.30, 0.12)).astype(np.int8)
    score = 0.6 * y_true + 0.5 * rng.random(rows) + np.where(privileged, 0.05, 0.0)
    y_pred = (score >= 0.5).astype(np.int8)
    return pd.Series(group, name="group", dtype=object), y_true, y_pred


def numpy_floor(y_true: np.ndarray, y_pred: np.ndarray, privileged: np.ndarray) -> dict[str, float]:
    """The five metrics by boolean-mask means: the floor."""
    u, p = ~privileged, privileged
    pos, neg = y_true == 1, y_true == 0
    sel_u, sel_p = y_pred[u].mean(), y_pred[p].mean()
    tpr_u, tpr_p = y_pred[u & pos].mean(), y_pred[p & pos].mean()
    fpr_u, fpr_p = y_pred[u & neg].mean(), y_pred[p & neg].mean()
    return {
        "statistical_parity_difference": sel_u - sel_p,
        "disparate_impact": sel_u / sel_p,
        "equal_opportunity_difference": tpr_u - tpr_p,
        "average_odds_difference": 0.5 * ((fpr_u - fpr_p) + (tpr_u - tpr_p)),
        "false_positive_rate_difference": fpr_u - fpr_p,
    }


def ours(y_true, y_pred, privileged, unprivileged, bootstrap: int) -> dict[str, float]:
    """Our executor's metric computation on ready arrays."""
    counts = group_counts(y_true, y_pred, privileged, unprivileged)
    part = assess(counts, "model", min_group_size=30, bootstrap_samples=bootstrap,
                  rng=np.random.default_rng(0))
    return {k: m["value"] for k, m in part["metrics"].items()}


def ours_per_attribute(column: pd.Series, y_true, y_pred) -> dict[str, float]:
    """What the executor does per attribute after prediction: mask from text, counts, metrics, bootstrap."""
    groups = split_groups(column, ProtectedAttribute(name="group", privileged="A"))
    return ours(y_true, y_pred, groups.privileged, groups.unprivileged, BOOTSTRAP)


def aif360(y_true, y_pred, privileged) -> dict[str, float]:
    """AIF360's ClassificationMetric on the same rows."""
    from aif360.datasets import BinaryLabelDataset
    from aif360.metrics import ClassificationMetric

    def dataset(labels):
        df = pd.DataFrame({"group": privileged.astype(np.float64), "y": labels.astype(np.float64)})
        return BinaryLabelDataset(df=df, label_names=["y"], protected_attribute_names=["group"],
                                  favorable_label=1.0, unfavorable_label=0.0)

    metric = ClassificationMetric(dataset(y_true), dataset(y_pred), unprivileged_groups=[{"group": 0.0}],
                                  privileged_groups=[{"group": 1.0}])
    return {name: float(getattr(metric, name)()) for name in MODEL_METRICS}


def best_of(fn: Callable[[], dict[str, float]], repeat: int) -> tuple[float, dict[str, float]]:
    """The shortest wall time of ``repeat`` calls, and the last call's result."""
    times, result = [], {}
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return min(times), result


def aif360_import_seconds() -> float:
    """AIF360's import time in a fresh interpreter (what a component pays once)."""
    out = subprocess.run([sys.executable, "-c", AIF360_IMPORT], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def rows_for_table(rows: int = 1_000_000, repeat: int = 3, with_aif360: bool = True,
                   seed: int = 0) -> tuple[list[str], list[list[object]]]:
    """Run every engine on ``rows`` synthetic rows; return ``(header, table rows)`` for ``print_table``."""
    column, y_true, y_pred = synthetic(rows, seed)
    privileged = (column == "A").to_numpy()
    unprivileged = ~privileged
    floor_s, floor = best_of(lambda: numpy_floor(y_true, y_pred, privileged), repeat)

    def diff(values: dict[str, float]) -> float:
        return max(abs(values[k] - floor[k]) for k in MODEL_METRICS)

    lines: list[tuple[str, float, float | None]] = [("numpy floor (ready arrays and mask)", floor_s, 0.0)]
    for label, fn in (
        ("ours, metrics (counts, no bootstrap)", lambda: ours(y_true, y_pred, privileged, unprivileged, 0)),
        (f"ours, metrics + bootstrap ({BOOTSTRAP})",
         lambda: ours(y_true, y_pred, privileged, unprivileged, BOOTSTRAP)),
        (f"ours, per attribute (mask from text + metrics + bootstrap {BOOTSTRAP})",
         lambda: ours_per_attribute(column, y_true, y_pred)),
    ):
        seconds, values = best_of(fn, repeat)
        lines.append((label, seconds, diff(values)))
    if with_aif360:
        lines.append(("AIF360 import (fresh interpreter, once per process)", aif360_import_seconds(), None))
        seconds, values = best_of(lambda: aif360(y_true, y_pred, privileged), repeat)
        lines.append(("AIF360 ClassificationMetric (2 datasets + 5 metrics)", seconds, diff(values)))
    table = [[label, seconds, f"{seconds / floor_s:.1f}x",
              "" if d is None else f"{d:.1e}"] for label, seconds, d in lines]
    return [f"{HEADER[0]} ({rows:,} rows)", *HEADER[1:]], table


def main(argv: list[str] | None = None) -> None:
    """Print the table (best of ``--repeat`` runs at ``--rows`` rows)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-aif360", action="store_true", help="skip AIF360 (its import takes seconds)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).parent))
    from _table import print_table

    header, table = rows_for_table(args.rows, args.repeat, not args.no_aif360)
    print_table(f"fairness model-bias metrics, {args.rows:,} rows, seconds (best of {args.repeat})", header, table)


if __name__ == "__main__":
    main()
