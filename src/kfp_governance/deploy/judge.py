"""Judge a canary on its own answers: a smoke test, then an analysis window against the champion.

A *predictor* is any callable that takes rows (a list of ``{feature: value}``
mappings) and returns the positive-class probability of each, raising on an
error answer: the HTTP client of a deployed endpoint, or a model loaded in
process. Each stage returns a :class:`Stage` with every figure, its
threshold and the verdict, so a rollback names the failing figure.

>>> import numpy as np, pandas as pd
>>> rows = pd.DataFrame({"x": [0.1, 0.7, 0.9, 0.2]})
>>> exact = lambda batch: [r["x"] for r in batch]
>>> smoke(exact, rows, expected=np.array([0.1, 0.7, 0.9, 0.2]), tolerance=1e-9).passed
True
>>> smoke(lambda batch: [1 - r["x"] for r in batch], rows, expected=rows["x"].to_numpy(), tolerance=1e-9).reason
'the canary answers differ from the registered model: max |probability difference| 0.8 > 1e-09'
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

Predictor = Callable[[list[dict[str, Any]]], Sequence[float]]
THRESHOLD = 0.5


@dataclass
class Stage:
    name: str
    passed: bool
    figures: dict[str, Any] = field(default_factory=dict)
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready mappings (NaN as None, numpy scalars as Python numbers)."""
    out = []
    for row in frame.to_dict(orient="records"):
        out.append({k: (None if isinstance(v, float) and math.isnan(v) else (v.item() if hasattr(v, "item") else v))
                    for k, v in row.items()})
    return out


def smoke(canary: Predictor, rows: pd.DataFrame, *, expected: np.ndarray, tolerance: float) -> Stage:
    """The canary answers ``rows`` (one batch) with the probabilities the registered model file gives."""
    try:
        answered = np.asarray(canary(records(rows)), dtype=float)
    except Exception as err:  # any failure of the endpoint fails the smoke test, with its message
        return Stage("smoke", False, {"rows": len(rows)}, f"the canary did not answer: {err}")
    if answered.shape != expected.shape:
        return Stage("smoke", False, {"rows": len(rows), "answers": int(answered.size)},
                     f"the canary answered {answered.size} rows of {len(rows)}")
    gap = float(np.max(np.abs(answered - expected))) if len(rows) else 0.0
    labels_equal = bool(np.array_equal(answered >= THRESHOLD, expected >= THRESHOLD))
    figures = {"rows": len(rows), "max_probability_difference": gap, "tolerance": tolerance,
               "labels_equal": labels_equal}
    if gap > tolerance or not labels_equal:
        return Stage("smoke", False, figures, f"the canary answers differ from the registered model: max |probability "
                                              f"difference| {gap:.3g} > {tolerance:.3g}")
    return Stage("smoke", True, figures, f"{len(rows)} rows answered as the registered model does")


def _replay(predict: Predictor, rows: list[dict[str, Any]], deadline: float,
            clock: Callable[[], float]) -> tuple[np.ndarray, list[float], int]:
    """One request a row: the probabilities (NaN where a request failed), latencies in ms, and errors."""
    scores = np.full(len(rows), np.nan)
    latencies: list[float] = []
    errors = 0
    for i, row in enumerate(rows):
        if clock() > deadline:
            break
        tick = clock()
        try:
            scores[i] = float(predict([row])[0])
        except Exception:  # an error answer counts; the window goes on
            errors += 1
        latencies.append((clock() - tick) * 1000.0)
    return scores, latencies, errors


def analysis(canary: Predictor, reference: Predictor, rows: pd.DataFrame, *, groups: dict[str, np.ndarray],
             max_error_rate: float, max_p99_latency_ms: float, max_positive_rate_shift: float,
             max_selection_rate_shift: float, seconds: float, clock: Callable[[], float] = time.monotonic) -> Stage:
    """Replay ``rows`` one request each through canary and reference (the champion, or the registered model
    itself on a first deployment) within ``seconds``, and compare.

    ``groups`` maps ``attribute`` to a boolean array over ``rows``: True for the
    privileged group. Figures: the canary's error rate and p99 latency, the
    positive-rate shift and, per attribute and group, the selection-rate shift.
    """
    payload = records(rows)
    deadline = clock() + seconds
    c_scores, c_latency, c_errors = _replay(canary, payload, deadline, clock)
    r_scores, _, _ = _replay(reference, payload, clock() + seconds, clock)
    sent = len(c_latency)
    answered = ~np.isnan(c_scores) & ~np.isnan(r_scores)
    figures: dict[str, Any] = {"rows_sent": sent, "rows_compared": int(answered.sum()), "errors": c_errors,
                               "error_rate": c_errors / sent if sent else 1.0,
                               "p99_latency_ms": float(np.percentile(c_latency, 99)) if c_latency else None}
    failing = []
    if not sent:
        failing.append("no request was sent within the analysis window")
    if figures["error_rate"] > max_error_rate:
        failing.append(f"error rate {figures['error_rate']:.3g} > {max_error_rate:g}")
    if figures["p99_latency_ms"] is not None and figures["p99_latency_ms"] > max_p99_latency_ms:
        failing.append(f"p99 latency {figures['p99_latency_ms']:.1f} ms > {max_p99_latency_ms:g} ms")
    if answered.any():
        c_pred, r_pred = c_scores[answered] >= THRESHOLD, r_scores[answered] >= THRESHOLD
        shift = abs(float(c_pred.mean()) - float(r_pred.mean()))
        figures["positive_rate"] = {"canary": float(c_pred.mean()), "reference": float(r_pred.mean()), "shift": shift}
        if shift > max_positive_rate_shift:
            failing.append(f"positive rate moved by {shift:.3f} > {max_positive_rate_shift:g}")
        figures["selection_rates"] = {}
        for attribute, privileged in groups.items():
            privileged = np.asarray(privileged, dtype=bool)[answered]
            per_group = {}
            for group, mask in (("privileged", privileged), ("unprivileged", ~privileged)):
                if not mask.any():
                    continue
                c_rate, r_rate = float(c_pred[mask].mean()), float(r_pred[mask].mean())
                per_group[group] = {"canary": c_rate, "reference": r_rate, "shift": abs(c_rate - r_rate),
                                    "rows": int(mask.sum())}
                if abs(c_rate - r_rate) > max_selection_rate_shift:
                    failing.append(f"selection rate of {attribute} {group} moved by {abs(c_rate - r_rate):.3f} > "
                                   f"{max_selection_rate_shift:g}")
            figures["selection_rates"][attribute] = per_group
    figures["thresholds"] = {"max_error_rate": max_error_rate, "max_p99_latency_ms": max_p99_latency_ms,
                             "max_positive_rate_shift": max_positive_rate_shift,
                             "max_selection_rate_shift": max_selection_rate_shift}
    if failing:
        return Stage("analysis", False, figures, "; ".join(failing))
    return Stage("analysis", True, figures, f"{sent} requests: error rate, p99 latency, positive and selection rates "
                                            "within the policy")
