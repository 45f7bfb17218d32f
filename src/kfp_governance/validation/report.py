"""The validation report: one self-contained HTML page (inline CSS and SVG, no scripts).

TFDV's own Facets page loads its code from public CDNs and shows nothing in
an air-gapped cluster; this page needs no network, so the KFP and Vertex AI
UIs render it anywhere. It shows a summary, the anomalies table, drift and
skew (when measured), and per feature the train/eval statistics with their
distributions (numeric histograms drawn on a common axis, categorical top
values as paired bars).

Only protobuf classes are used here; TFDV is not imported.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from importlib import resources
from typing import Any

TEMPLATE = "validation_report.html.j2"
HIST_W, HIST_H = 220, 56
TOP_VALUES = 8
# Short badge texts; TFDV's own short descriptions can mislead (it calls a
# column with a few nulls "Column dropped").
KIND_LABELS = {
    "FEATURE_TYPE_LOW_FRACTION_PRESENT": "missing values",
    "FEATURE_TYPE_LOW_NUMBER_PRESENT": "too few values",
    "SCHEMA_MISSING_COLUMN": "column missing",
    "SCHEMA_NEW_COLUMN": "new column",
    "ENUM_TYPE_UNEXPECTED_STRING_VALUES": "unexpected values",
    "UNEXPECTED_DATA_TYPE": "type changed",
    "INVALID_FEATURE_SHAPE": "shape",
}


def _by_name(stats) -> dict[str, Any]:
    if stats is None or not stats.datasets:
        return {}
    return {(".".join(f.path.step) or f.name): f for f in stats.datasets[0].features}


def _common(fstats):
    if fstats.HasField("num_stats"):
        return fstats.num_stats.common_stats
    if fstats.HasField("string_stats"):
        return fstats.string_stats.common_stats
    if fstats.HasField("bytes_stats"):
        return fstats.bytes_stats.common_stats
    return None


def _split_summary(fstats, rows: int) -> dict[str, Any] | None:
    if fstats is None:
        return None
    common = _common(fstats)
    missing = int(common.num_missing) if common else rows
    out: dict[str, Any] = {"count": int(common.num_non_missing) if common else 0, "missing": missing,
                           "missing_pct": 100.0 * missing / rows if rows else 0.0}
    if fstats.HasField("num_stats"):
        n = fstats.num_stats
        nonmissing = out["count"] or 1
        out.update(mean=n.mean, std=n.std_dev, min=n.min, median=n.median, max=n.max,
                   zeros_pct=100.0 * n.num_zeros / nonmissing)
    elif fstats.HasField("string_stats"):
        s = fstats.string_stats
        out.update(unique=int(s.unique), avg_length=s.avg_length)
    return out


def _standard_histogram(fstats):
    for histogram in fstats.num_stats.histograms:
        if histogram.type == histogram.STANDARD:
            return histogram
    return None


def _histogram_svg(train_f, eval_f) -> dict[str, Any] | None:
    """Rectangles of the train and eval histograms on one shared x axis (density, not counts)."""
    series = []
    for split, fstats in (("train", train_f), ("eval", eval_f)):
        if fstats is None or not fstats.HasField("num_stats"):
            continue
        histogram = _standard_histogram(fstats)
        if histogram is None or not histogram.buckets:
            continue
        total = sum(b.sample_count for b in histogram.buckets) or 1.0
        series.append((split, [(b.low_value, b.high_value, b.sample_count / total) for b in histogram.buckets]))
    if not series:
        return None
    lo = min(b[0] for _, buckets in series for b in buckets)
    hi = max(b[1] for _, buckets in series for b in buckets)
    span = hi - lo
    if not math.isfinite(span):
        return None
    min_width = span / 200 if span > 0 else 1.0

    def density(low, high, share):
        return share / max(high - low, min_width)

    peak = max(density(*b) for _, buckets in series for b in buckets) or 1.0
    rects = []
    for split, buckets in series:
        for low, high, share in buckets:
            if span > 0:
                x = (low - lo) / span * HIST_W
                width = max((high - low) / span * HIST_W, 1.0)
            else:  # a constant column: one full-width bar
                x, width = 0.0, float(HIST_W)
            height = density(low, high, share) / peak * (HIST_H - 2)
            rects.append({"split": split, "x": round(x, 2), "y": round(HIST_H - height, 2),
                          "width": round(width, 2), "height": round(height, 2),
                          "tip": f"{split}: [{_num(low)}, {_num(high)}) {100 * share:.1f}%"})
    return {"width": HIST_W, "height": HIST_H, "rects": rects, "lo": _num(lo), "hi": _num(hi)}


def _value_shares(fstats) -> dict[str, float]:
    """Share of each value among the feature's values (rank histogram, else top values)."""
    if fstats is None or not fstats.HasField("string_stats"):
        return {}
    s = fstats.string_stats
    total = s.common_stats.tot_num_values or 1.0
    if s.rank_histogram.buckets:
        return {b.label: b.sample_count / total for b in s.rank_histogram.buckets}
    return {v.value: v.frequency / total for v in s.top_values}


def _top_value_bars(train_f, eval_f) -> dict[str, Any] | None:
    train, evaluation = _value_shares(train_f), _value_shares(eval_f)
    if not train and not evaluation:
        return None
    order = sorted(train, key=train.get, reverse=True)[:TOP_VALUES]
    order += [v for v in sorted(evaluation, key=evaluation.get, reverse=True) if v not in train][:2]
    peak = max([train.get(v, 0.0) for v in order] + [evaluation.get(v, 0.0) for v in order]) or 1.0
    rows = []
    for value in order:
        t, e = train.get(value), evaluation.get(value)
        rows.append({"value": value, "train": t, "eval": e, "new": value not in train,
                     "train_w": round(100 * (t or 0.0) / peak, 1), "eval_w": round(100 * (e or 0.0) / peak, 1)})
    distinct = max(len(train), len(evaluation))
    return {"rows": rows, "more": max(distinct - len(order), 0)}


def _num(value: float | None) -> str:
    """Numbers for people: integers with separators, else 4 significant digits.

    >>> _num(26049.0), _num(0.1), _num(38.6034), _num(1123.4), _num(2.5e-05)
    ('26,049', '0.1', '38.6', '1,123', '2.5e-05')
    """
    if value is None:
        return "–"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 1e-3:
        return f"{value:.4g}"
    return f"{value:.3g}"


def build_context(*, train_stats, eval_stats, schema, label: str, anomalies: list[dict], drift: list[dict],
                  skew: list[dict], unseen: list[dict], info: dict[str, Any]) -> dict[str, Any]:
    """Everything the template shows, as plain values."""
    from kfp_governance.validation.checks import is_categorical

    train, evaluation = _by_name(train_stats), _by_name(eval_stats)
    rows = {"train": int(train_stats.datasets[0].num_examples),
            "eval": int(eval_stats.datasets[0].num_examples) if eval_stats is not None else 0}
    schema_features = {f.name: f for f in schema.feature} if schema is not None else {}
    names = list(dict.fromkeys(list(train) + list(evaluation)))
    by_feature: dict[str, list[dict]] = {}
    for entry in anomalies:
        by_feature.setdefault(entry["feature"] or "(dataset)", []).append(entry)
    drift_by = {d["feature"]: d for d in drift}
    skew_by = {d["feature"]: d for d in skew}
    numeric, categorical = [], []
    for name in names:
        train_f, eval_f = train.get(name), evaluation.get(name)
        any_f = train_f or eval_f
        feature = {
            "name": name,
            "is_label": name == label,
            "type": any_f.Type.Name(any_f.type),
            "train": _split_summary(train_f, rows["train"]),
            "eval": _split_summary(eval_f, rows["eval"]),
            "anomalies": by_feature.get(name, []),
            "drift": drift_by.get(name),
            "skew": skew_by.get(name),
            "in_schema": name in schema_features,
            "categorical_int": False,
        }
        if any_f.HasField("num_stats"):
            feature["chart"] = _histogram_svg(train_f, eval_f)
            numeric.append(feature)
        else:
            feature["bars"] = _top_value_bars(train_f, eval_f)
            schema_feature = schema_features.get(name)
            feature["categorical_int"] = bool(schema_feature is not None and is_categorical(schema_feature)
                                              and feature["type"] == "INT")
            categorical.append(feature)
    return {
        "title": info.get("title", "Data validation report"),
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "rows": rows,
        "label": label,
        "feature_count": len(names),
        "numeric": numeric,
        "categorical": categorical,
        "anomalies": anomalies,
        "drift": drift,
        "drifted": [d for d in drift if d["exceeded"]],
        "skew": skew,
        "skewed": [d for d in skew if d["exceeded"]],
        "unseen": unseen,
        "info": info,
    }


def render(context: dict[str, Any]) -> str:
    """Render the report template with autoescaping (feature names and values are data, not markup)."""
    import jinja2

    source = resources.files("kfp_governance").joinpath("templates", TEMPLATE).read_text(encoding="utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = _num
    env.filters["kind_label"] = lambda a: KIND_LABELS.get(a["kind"], a["short_description"] or a["kind"])
    env.filters["pct"] = lambda v: "–" if v is None else (f"{100 * v:.1f}%" if v >= 0.001 or v == 0 else "<0.1%")
    return env.from_string(source).render(**context)
