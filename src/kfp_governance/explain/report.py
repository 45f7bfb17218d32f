"""Folding SHAP values onto the original features, local explanations, plots and the HTML report.

Folding: a categorical feature is one-hot encoded into several columns; its
SHAP value for a row is the **sum** of its columns' values in that row
(SHAP values are additive, so the sum is the feature's contribution). The
importance of a feature is then the mean over rows of the absolute folded
value, so that columns pushing in opposite directions within a row cancel,
as they do in the prediction, before the absolute value is taken.
"""

from __future__ import annotations

import base64
import io
import math
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

TEMPLATE = "explanation_report.html.j2"
LOCAL_TOP = 8  # features shown one by one in a local explanation; the rest are summed


def fold(values: np.ndarray, sources: list[str], features: list[str]) -> np.ndarray:
    """Sum the columns of each original feature: ``(rows, columns)`` to ``(rows, features)``.

    >>> fold(np.array([[1.0, 2.0, -0.5]]), ["age", "job", "job"], ["age", "job"]).tolist()
    [[1.0, 1.5]]
    """
    index = {name: j for j, name in enumerate(features)}
    unknown = sorted({s for s in sources if s not in index})
    if unknown:
        raise ValueError(f"sources name features {unknown} that are not in features {features}")
    membership = np.zeros((len(sources), len(features)))
    for column, source in enumerate(sources):
        membership[column, index[source]] = 1.0
    return np.asarray(values, dtype=float) @ membership


def importance(folded: np.ndarray, features: list[str]) -> list[dict[str, Any]]:
    """Mean |SHAP| per feature, ranked (largest first; ties by name).

    >>> [r["feature"] for r in importance(np.array([[1.0, -3.0], [-1.0, 1.0]]), ["a", "b"])]
    ['b', 'a']
    """
    means = np.abs(folded).mean(axis=0) if len(folded) else np.zeros(len(features))
    order = sorted(range(len(features)), key=lambda j: (-means[j], features[j]))
    return [{"rank": rank + 1, "feature": features[j], "mean_abs_shap": float(means[j])}
            for rank, j in enumerate(order)]


def _plain(value: Any) -> Any:
    """A JSON-ready scalar: numpy scalars unwrapped, missing values as None."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return value if isinstance(value, (int, float, str, bool)) else str(value)


def pick_local_rows(scores: np.ndarray) -> list[tuple[str, int]]:
    """Positions of the rows with the highest score, the lowest, and the one nearest 0.5 (distinct).

    >>> pick_local_rows(np.array([0.2, 0.9, 0.55, 0.1]))
    [('highest_score', 1), ('lowest_score', 3), ('nearest_0.5', 2)]
    """
    chosen: list[tuple[str, int]] = []
    if len(scores) == 0:
        return chosen
    for kind, position in (("highest_score", int(np.argmax(scores))), ("lowest_score", int(np.argmin(scores))),
                           ("nearest_0.5", int(np.argmin(np.abs(scores - 0.5))))):
        if position not in [p for _, p in chosen]:
            chosen.append((kind, position))
    return chosen


def local_explanations(folded: np.ndarray, expected_value: float, outputs: np.ndarray, scores: np.ndarray,
                       frame: pd.DataFrame, row_indices: np.ndarray, features: list[str]) -> list[dict[str, Any]]:
    """The local explanations of :func:`pick_local_rows`: each feature's value and folded SHAP value."""
    explanations = []
    for kind, position in pick_local_rows(scores):
        contributions = [{"feature": name, "value": _plain(frame.iloc[position][name]),
                          "shap": float(folded[position, j])} for j, name in enumerate(features)]
        contributions.sort(key=lambda c: (-abs(c["shap"]), c["feature"]))
        explanations.append({
            "kind": kind,
            "row_index": int(row_indices[position]),
            "score": float(scores[position]),
            "model_output": float(outputs[position]),
            "expected_value": float(expected_value),
            "shap_sum": float(folded[position].sum()),
            "contributions": contributions,
        })
    return explanations


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)  # Agg, headless, without touching pyplot's global state
    return fig


def bar_chart_png(ranked: list[dict[str, Any]], unit: str, limit: int = 20) -> str:
    """Horizontal bars of mean |SHAP| per feature (largest on top), as base64 PNG."""
    shown = ranked[:limit][::-1]
    fig = _figure(7.0, 0.32 * len(shown) + 1.0)
    ax = fig.add_subplot()
    ax.barh([r["feature"] for r in shown], [r["mean_abs_shap"] for r in shown], color="#1f77b4")
    ax.set_xlabel(f"mean |SHAP value| ({unit})")
    ax.set_title("Feature importance (one-hot columns folded into their feature)", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def summary_png(folded: np.ndarray, frame: pd.DataFrame, ranked: list[dict[str, Any]], features: list[str],
                unit: str, seed: int, limit: int = 20) -> str:
    """One dot per explained row and feature at its SHAP value (a beeswarm-like summary), as base64 PNG.

    Numeric features are coloured by the row's value (low blue, high red, by
    rank within the sample); categorical features in grey.
    """
    from matplotlib import colormaps

    rng = np.random.default_rng(seed)
    shown = [r["feature"] for r in ranked[:limit]][::-1]
    fig = _figure(7.5, 0.38 * len(shown) + 1.3)
    ax = fig.add_subplot()
    cmap = colormaps["coolwarm"]
    for y, name in enumerate(shown):
        x = folded[:, features.index(name)]
        jitter = rng.uniform(-0.3, 0.3, size=len(x))
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column) and column.notna().any():
            ranks = column.rank(pct=True).fillna(0.5).to_numpy()
            colors = cmap(ranks)
        else:
            colors = "#8c8c8c"
        ax.scatter(x, y + jitter, c=colors, s=6, alpha=0.6, linewidths=0)
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(shown)), shown)
    ax.set_xlabel(f"SHAP value ({unit}); colour: feature value, low (blue) to high (red); grey: categorical")
    ax.set_title("SHAP values of the explained rows", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def waterfall_rows(explanation: dict[str, Any], top: int = LOCAL_TOP) -> dict[str, Any]:
    """Bar positions (percent of the width) for a waterfall from the expected value to the output."""
    contributions = explanation["contributions"]
    shown = [dict(c) for c in contributions[:top]]
    rest = contributions[top:]
    if rest:
        shown.append({"feature": f"{len(rest)} other features", "value": None,
                      "shap": float(sum(c["shap"] for c in rest))})
    level = explanation["expected_value"]
    steps = []
    for c in shown:
        steps.append((level, level + c["shap"]))
        level += c["shap"]
    ends = [explanation["expected_value"], level] + [v for pair in steps for v in pair]
    low, high = round(min(ends), 12), round(max(ends), 12)  # no 1e-17 artefacts in the axis labels
    span = (high - low) or 1.0

    def pct(v: float) -> float:
        return round(100.0 * (v - low) / span, 2)

    for c, (start, end) in zip(shown, steps):
        c["left"] = pct(min(start, end))
        c["width"] = max(round(abs(end - start) / span * 100.0, 2), 0.3)
        c["direction"] = "up" if c["shap"] >= 0 else "down"
    return {"rows": shown, "base_pct": pct(explanation["expected_value"]), "output_pct": pct(level),
            "low": low, "high": high, "end": level}


def render_html(context: dict[str, Any]) -> str:
    """Render the self-contained report (no scripts, no external resources) from ``context``."""
    import jinja2

    source = resources.files("kfp_governance").joinpath("templates", TEMPLATE).read_text(encoding="utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    env.filters["num"] = _num
    return env.from_string(source).render(**context)


def _num(value: Any, digits: int = 4) -> str:
    if value is None:
        return "\u2013"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
            return f"{value:.{digits - 1}e}"
        return f"{value:.{digits}g}"
    return str(value)
