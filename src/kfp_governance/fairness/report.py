"""The fairness HTML report: one self-contained page (inline CSS and SVG, no script, no network).

The KFP UI shows an ``HTML`` artifact in a sandboxed frame without network
access, so every chart is inline SVG drawn from the JSON document.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
TEMPLATE = "fairness_report.html.j2"

METRIC_LABELS = {
    "statistical_parity_difference": "Statistical parity difference",
    "disparate_impact": "Disparate impact",
    "equal_opportunity_difference": "Equal opportunity difference",
    "average_odds_difference": "Average odds difference",
    "false_positive_rate_difference": "False positive rate difference",
}
# Chart geometry (SVG user units).
_BAR, _GAP, _PAD_LEFT, _TOP, _HEIGHT = 34, 22, 44, 18, 150


def bar_chart(groups: dict[str, dict[str, Any]], rates: list[tuple[str, str]]) -> dict[str, Any]:
    """Bar geometry for the per-group rates: one cluster per rate, one bar per group.

    >>> chart = bar_chart({"privileged": {"tpr": 0.5}, "unprivileged": {"tpr": None}}, [("tpr", "TPR")])
    >>> [(b["group"], b["height"], b["text"]) for b in chart["bars"]]
    [('privileged', 75.0, '0.500'), ('unprivileged', 0.0, 'n/a')]
    """
    bars, labels = [], []
    cluster = 2 * _BAR + _GAP
    for i, (key, label) in enumerate(rates):
        x0 = _PAD_LEFT + _GAP / 2 + i * cluster
        labels.append({"x": x0 + _BAR, "text": label})
        for j, group in enumerate(("privileged", "unprivileged")):
            value = groups[group].get(key)
            height = round(_HEIGHT * value, 2) if value is not None else 0.0
            bars.append({"group": group, "x": x0 + j * _BAR, "y": _TOP + _HEIGHT - height, "width": _BAR - 2,
                         "height": height, "text": "n/a" if value is None else f"{value:.3f}"})
    width = _PAD_LEFT + len(rates) * cluster + _GAP
    ticks = [{"y": _TOP + _HEIGHT * (1 - t), "text": f"{t:g}"} for t in (0, 0.25, 0.5, 0.75, 1)]
    return {"bars": bars, "labels": labels, "ticks": ticks, "width": width, "height": _TOP + _HEIGHT + 40,
            "left": _PAD_LEFT, "base": _TOP + _HEIGHT, "top": _TOP}


def render_report(document: dict[str, Any]) -> str:
    """The HTML page for a fairness JSON document (``FairnessResult.to_json()``)."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html", "j2"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = lambda v, digits=3: "n/a" if v is None else f"{v:.{digits}f}"
    charts = {}
    for name, attribute in document["attributes"].items():
        charts[name] = {
            "data": bar_chart(attribute["data"]["groups"], [("base_rate", "base rate")]),
            "model": bar_chart(attribute["model"]["groups"], [("base_rate", "base rate"),
                                                              ("selection_rate", "selection rate"),
                                                              ("tpr", "TPR"), ("fpr", "FPR")]),
        }
        if attribute.get("champion"):
            charts[name]["champion"] = bar_chart(attribute["champion"]["groups"],
                                                 [("selection_rate", "selection rate"), ("tpr", "TPR"),
                                                  ("fpr", "FPR")])
    return env.get_template(TEMPLATE).render(doc=document, charts=charts, labels=METRIC_LABELS)


def write_report(document: dict[str, Any], path: str | Path) -> Path:
    """Render :func:`render_report` into ``path`` (parent folders are created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(document), encoding="utf-8")
    return path
