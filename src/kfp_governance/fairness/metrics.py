"""Group fairness metrics with AIF360's definitions, from per-group confusion counts.

Every metric here is a function of eight numbers: for each group
(unprivileged, privileged) the counts of true negatives, false positives,
false negatives and true positives. So the metrics are computed from one
``np.bincount`` over the rows, and the bootstrap resamples those counts,
not the rows (see :func:`bootstrap_counts`): 200 resamples of 1,000,000 rows
cost about as much as 200 resamples of 100.

Definitions (AIF360's; "favorable" is the positive label; unprivileged
minus privileged, so a negative gap disfavors the unprivileged group):

- data bias, on the training labels ``Y``:
  statistical parity difference ``P(Y=1|unpriv) - P(Y=1|priv)``,
  disparate impact ``P(Y=1|unpriv) / P(Y=1|priv)``;
- model bias, on eval predictions ``Ŷ``:
  statistical parity difference ``P(Ŷ=1|unpriv) - P(Ŷ=1|priv)``,
  disparate impact ``P(Ŷ=1|unpriv) / P(Ŷ=1|priv)``,
  equal opportunity difference ``TPR_unpriv - TPR_priv``,
  average odds difference ``((FPR_unpriv - FPR_priv) + (TPR_unpriv - TPR_priv)) / 2``,
  false positive rate difference ``FPR_unpriv - FPR_priv``.

>>> import numpy as np
>>> y_true = np.array([1, 0, 1, 0, 1, 0])
>>> y_pred = np.array([1, 0, 0, 0, 1, 1])
>>> privileged = np.array([True, True, True, False, False, False])
>>> counts = group_counts(y_true, y_pred, privileged, ~privileged)
>>> counts.tolist()  # rows: unprivileged, privileged; columns: tn, fp, fn, tp
[[1, 1, 0, 1], [1, 0, 1, 1]]
>>> {k: round(float(v), 4) for k, v in gaps(rates(counts), "model").items()}  # doctest: +NORMALIZE_WHITESPACE
{'statistical_parity_difference': 0.3333, 'disparate_impact': 2.0, 'equal_opportunity_difference': 0.5,
 'average_odds_difference': 0.5, 'false_positive_rate_difference': 0.5}
"""

from __future__ import annotations

from typing import Any

import numpy as np

UNPRIVILEGED, PRIVILEGED = 0, 1
GROUPS = (("privileged", PRIVILEGED), ("unprivileged", UNPRIVILEGED))
CELLS = ("tn", "fp", "fn", "tp")  # column index = 2 * y_true + y_pred
DATA_METRICS = ("statistical_parity_difference", "disparate_impact")
MODEL_METRICS = ("statistical_parity_difference", "disparate_impact", "equal_opportunity_difference",
                 "average_odds_difference", "false_positive_rate_difference")
# What each metric's per-group rates are computed over; a group with fewer
# than min_group_size of any of these makes the metric "insufficient".
BASES = {
    "statistical_parity_difference": ("rows",),
    "disparate_impact": ("rows",),
    "equal_opportunity_difference": ("rows", "positives"),
    "average_odds_difference": ("rows", "positives", "negatives"),
    "false_positive_rate_difference": ("rows", "negatives"),
}
STATUS_ORDER = ("ok", "insufficient", "undefined")


def group_counts(y_true: np.ndarray, y_pred: np.ndarray, privileged: np.ndarray,
                 unprivileged: np.ndarray) -> np.ndarray:
    """Confusion counts per group: an int array of shape (2, 4), rows (unprivileged, privileged), columns tn, fp, fn, tp.

    Rows in neither group (a missing attribute value) are not counted. For
    data bias pass the labels as both ``y_true`` and ``y_pred``.
    """
    y_true = np.asarray(y_true, dtype=np.int8)
    y_pred = np.asarray(y_pred, dtype=np.int8)
    privileged = np.asarray(privileged, dtype=bool)
    key = privileged.astype(np.int8) * 4 + y_true * 2 + y_pred
    key[~(privileged | np.asarray(unprivileged, dtype=bool))] = 8
    return np.bincount(key.astype(np.intp), minlength=9)[:8].reshape(2, 4)


def rates(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Per-group sizes and rates from counts of shape (..., 2, 4); undefined rates (0/0) are NaN."""
    c = np.asarray(counts, dtype=float)
    tn, fp, fn, tp = c[..., 0], c[..., 1], c[..., 2], c[..., 3]
    rows, positives, negatives = tn + fp + fn + tp, fn + tp, tn + fp
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "rows": rows,
            "positives": positives,
            "negatives": negatives,
            "base_rate": positives / rows,
            "selection_rate": (fp + tp) / rows,
            "tpr": tp / positives,
            "fpr": fp / negatives,
        }


def gaps(r: dict[str, np.ndarray], section: str) -> dict[str, np.ndarray]:
    """The metrics of ``section`` ("data" or "model") from :func:`rates`; non-finite values become NaN."""
    def u(key):
        return r[key][..., UNPRIVILEGED]

    def p(key):
        return r[key][..., PRIVILEGED]

    rate = "base_rate" if section == "data" else "selection_rate"
    with np.errstate(divide="ignore", invalid="ignore"):
        out = {
            "statistical_parity_difference": u(rate) - p(rate),
            "disparate_impact": u(rate) / p(rate),
        }
        if section == "model":
            out["equal_opportunity_difference"] = u("tpr") - p("tpr")
            out["average_odds_difference"] = 0.5 * ((u("fpr") - p("fpr")) + (u("tpr") - p("tpr")))
            out["false_positive_rate_difference"] = u("fpr") - p("fpr")
    return {k: np.where(np.isfinite(v), v, np.nan) for k, v in out.items()}


def bootstrap_counts(counts: np.ndarray, samples: int, rng: np.random.Generator) -> np.ndarray:
    """``samples`` bootstrap replicates of ``counts``: shape (samples, 2, 4).

    Resampling a group's n rows with replacement and counting its cells is
    the same distribution as one multinomial draw of n over the group's
    empirical cell proportions, so this is the row bootstrap, stratified by
    group (each group keeps its size), at a cost independent of n.
    """
    counts = np.asarray(counts, dtype=np.int64)
    out = np.zeros((samples, 2, 4), dtype=np.int64)
    for g in (UNPRIVILEGED, PRIVILEGED):
        n = int(counts[g].sum())
        if n:
            out[:, g, :] = rng.multinomial(n, counts[g] / n, size=samples)
    return out


def percentile_interval(replicates: np.ndarray, confidence: float = 0.95) -> tuple[list[float] | None, int]:
    """The percentile interval of the finite replicates, and how many were undefined (NaN)."""
    finite = replicates[np.isfinite(replicates)]
    undefined = int(replicates.size - finite.size)
    if finite.size == 0:
        return None, undefined
    tail = 50.0 * (1.0 - confidence)
    lo, hi = np.percentile(finite, [tail, 100.0 - tail])
    return [float(lo), float(hi)], undefined


def _undefined_reason(metric: str, r: dict[str, np.ndarray], section: str) -> str:
    rate = "base rate" if section == "data" else "selection rate"
    if metric == "disparate_impact":
        return f"the privileged group's {rate} is 0, so the ratio is undefined"
    empty = []
    if metric in ("equal_opportunity_difference", "average_odds_difference"):
        empty += [f"the {name} group has no positive labels (TPR is 0/0)"
                  for name, g in GROUPS if r["positives"][g] == 0]
    if metric in ("false_positive_rate_difference", "average_odds_difference"):
        empty += [f"the {name} group has no negative labels (FPR is 0/0)"
                  for name, g in GROUPS if r["negatives"][g] == 0]
    return "; ".join(empty) or "a group is empty"


def assess(counts: np.ndarray, section: str, *, min_group_size: int, bootstrap_samples: int,
           rng: np.random.Generator, confidence: float = 0.95) -> dict[str, Any]:
    """Groups, metrics, intervals and statuses of one section ("data" or "model").

    A metric's status is ``undefined`` when its value is 0/0 (no value is
    reported), ``insufficient`` when a group has fewer than
    ``min_group_size`` of the rows its rates are computed over (rows; for
    TPR the positive labels, for FPR the negative labels; the value is
    still reported), otherwise ``ok``.
    """
    r = rates(counts)
    point = gaps(r, section)
    replicates = (gaps(rates(bootstrap_counts(counts, bootstrap_samples, rng)), section)
                  if bootstrap_samples else None)
    groups = {}
    for name, g in GROUPS:
        entry: dict[str, Any] = {"size": int(r["rows"][g]), "positives": int(r["positives"][g]),
                                 "negatives": int(r["negatives"][g]), "base_rate": _num(r["base_rate"][g])}
        if section == "model":
            entry.update(selection_rate=_num(r["selection_rate"][g]), tpr=_num(r["tpr"][g]),
                         fpr=_num(r["fpr"][g]))
        groups[name] = entry
    metrics = {}
    for metric, value in point.items():
        bases = BASES[metric]
        denominators = {basis: {name: int(r[basis][g]) for name, g in GROUPS} for basis in bases}
        small = [f"the {name} group has {n} {basis} (< min_group_size {min_group_size})"
                 for basis in bases for name, n in denominators[basis].items() if n < min_group_size]
        entry = {"value": _num(value), "interval": None, "confidence": confidence,
                 "group_sizes": {name: int(r["rows"][g]) for name, g in GROUPS},
                 "denominators": denominators, "status": "ok", "reason": None,
                 "bootstrap_undefined": None}
        if replicates is not None:
            entry["interval"], entry["bootstrap_undefined"] = percentile_interval(replicates[metric], confidence)
        if entry["value"] is None:
            entry["status"], entry["reason"] = "undefined", _undefined_reason(metric, r, section)
        elif small:
            entry["status"], entry["reason"] = "insufficient", "; ".join(small)
        metrics[metric] = entry
    return {"groups": groups, "metrics": metrics, "status": worst(m["status"] for m in metrics.values())}


def worst(statuses) -> str:
    """The worst of some statuses: ``undefined`` over ``insufficient`` over ``ok``."""
    return max(statuses, key=STATUS_ORDER.index, default="ok")


def _num(value) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None
